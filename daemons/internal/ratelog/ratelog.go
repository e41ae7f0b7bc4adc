// Package ratelog lets a service log a recurring problem (a bad frame, a
// failing write) at most once per interval without blocking the caller.
package ratelog

import (
	"sync/atomic"
	"time"
)

// Gate lets one caller through per interval. The zero value lets the first
// caller through. It is safe from any goroutine and never blocks.
type Gate struct {
	last atomic.Int64 // UnixNano of the last caller let through
}

// Allow reports whether a line may be logged now: true when every has
// passed since the last caller it let through (only one of racing callers
// gets true).
func (g *Gate) Allow(every time.Duration) bool {
	now := time.Now().UnixNano()
	last := g.last.Load()
	return now-last >= int64(every) && g.last.CompareAndSwap(last, now)
}
