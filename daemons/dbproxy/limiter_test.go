package dbproxy

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLimiterBounded: made-up names cannot grow the limiter past
// maxTrackedNames (expired ones make room), long names are remembered by
// their first maxNameKey bytes, and a tracked name is still limited.
func TestLimiterBounded(t *testing.T) {
	l := newLimiter(1, time.Minute)
	now := time.Unix(1_700_000_000, 0)
	for i := range maxTrackedNames + 500 {
		l.fail("guess"+strconv.Itoa(i), now)
	}
	if n := l.size(); n != maxTrackedNames {
		t.Fatalf("tracking %d names, want the cap %d", n, maxTrackedNames)
	}
	l.fail("guess0", now)
	if !l.blocked("guess0", now) {
		t.Error("a tracked name past its limit is not blocked")
	}
	// Once the window passed, new names find room again.
	later := now.Add(2 * time.Minute)
	l.fail("late", later)
	l.fail("late", later)
	if !l.blocked("late", later) || l.size() != 1 {
		t.Errorf("after expiry: blocked %v, %d names, want true and 1", l.blocked("late", later), l.size())
	}
	long := strings.Repeat("n", 3*maxNameKey)
	l.fail(long, later)
	l.fail(long+"other tail", later)
	if !l.blocked(long, later) {
		t.Error("a long name's failures were not counted together")
	}
	l.clear(long)
	if l.blocked(long, later) {
		t.Error("clear of a long name did not clear it")
	}
}
