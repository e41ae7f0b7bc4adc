package dbproxy

import (
	"sync"
	"time"
)

// limiter is the per-name login failure limiter (PROTOCOL.md §7.2): failures
// are remembered for window; once more than limit are remembered, logins of
// that name are refused until the oldest expire. A success clears the name.
// Memory is bounded: a name keeps at most limit+1 failure times, and names
// whose failures all expired are swept.
type limiter struct {
	limit  int
	window time.Duration

	mu    sync.Mutex
	fails map[string][]time.Time // oldest first
}

func newLimiter(limit int, window time.Duration) *limiter {
	return &limiter{limit: limit, window: window, fails: map[string][]time.Time{}}
}

// prune drops the failures of name older than the window; it holds l.mu.
func (l *limiter) prune(name string, now time.Time) []time.Time {
	ts := l.fails[name]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= l.window {
		i++
	}
	if i == len(ts) {
		delete(l.fails, name)
		return nil
	}
	if i > 0 {
		ts = append(ts[:0], ts[i:]...)
		l.fails[name] = ts
	}
	return ts
}

// blocked reports whether logins of name are refused at now.
func (l *limiter) blocked(name string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.prune(name, now)) > l.limit
}

// fail records a failed login of name at now.
func (l *limiter) fail(name string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := append(l.prune(name, now), now)
	if len(ts) > l.limit+1 {
		ts = ts[len(ts)-l.limit-1:]
	}
	l.fails[name] = ts
}

// clear forgets name's failures (a successful login).
func (l *limiter) clear(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, name)
}

// sweep forgets every name whose failures all expired.
func (l *limiter) sweep(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for name := range l.fails {
		l.prune(name, now)
	}
}

// size is the number of names with remembered failures.
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.fails)
}
