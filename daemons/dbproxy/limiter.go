package dbproxy

import (
	"sync"
	"time"
)

// limiter is the per-name login failure limiter (PROTOCOL.md §7.2): failures
// are remembered for window; once more than limit are remembered, logins of
// that name are refused until the oldest expire. A success clears the name.
// Memory is bounded: a name keeps at most limit+1 failure times, names
// whose failures all expired are swept, at most maxTrackedNames names are
// remembered (failures of further names go uncounted here; msg's
// per-address limit still counts them), and a name is remembered by its
// first maxNameKey bytes, so a flood of failed logins under made-up long
// names cannot grow the map without bound.
type limiter struct {
	limit  int
	window time.Duration

	mu    sync.Mutex
	fails map[string][]time.Time // oldest first
	// fullSwept is when a full map was last swept for room: at most once
	// a second, so a flood at the cap does not scan the map per failure.
	fullSwept time.Time
}

const (
	maxTrackedNames = 100_000
	maxNameKey      = 128
)

// nameKey is what the limiter remembers name by.
func nameKey(name string) string {
	if len(name) > maxNameKey {
		return name[:maxNameKey]
	}
	return name
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
	return len(l.prune(nameKey(name), now)) > l.limit
}

// fail records a failed login of name at now.
func (l *limiter) fail(name string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	name = nameKey(name)
	if _, ok := l.fails[name]; !ok && len(l.fails) >= maxTrackedNames {
		if now.Sub(l.fullSwept) >= time.Second {
			l.fullSwept = now
			for n := range l.fails {
				l.prune(n, now)
			}
		}
		if len(l.fails) >= maxTrackedNames {
			return
		}
	}
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
	delete(l.fails, nameKey(name))
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
