// Package shutdown stops a service's netloop Group within a bound and logs,
// with the service's logger, when the bound cut the flush of queued bytes
// short, so a service's Run can defer it instead of ignoring Stop's error.
package shutdown

import (
	"context"
	"log/slog"
	"time"

	"teamtalk/netloop"
)

// Timeout is how long a service gives its connections to flush on stop.
const Timeout = 5 * time.Second

// Group stops g, giving its connections up to timeout (Timeout when 0 or
// less) to flush their queued bytes, and logs a warning on log naming svc
// when the flush was cut short. It reports whether the stop was clean. A
// nil g is a no-op.
func Group(g *netloop.Group, timeout time.Duration, log *slog.Logger, svc string) bool {
	if g == nil {
		return true
	}
	if timeout <= 0 {
		timeout = Timeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := g.Stop(ctx)
	if err != nil && log != nil {
		log.Warn(svc+": netloop stop cut short: connections closed with bytes still queued",
			"timeout", timeout, "err", err)
	}
	return err == nil
}
