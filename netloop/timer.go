package netloop

import (
	"container/heap"
	"sync"
	"time"
)

// TimerID names a timer for RemoveTimer. Ids are never 0 and never reused
// within a Group.
type TimerID uint64

type timer struct {
	id        TimerID
	when      int64 // g.mono()
	seq       uint64
	period    time.Duration
	fn        func()
	idx       int // position in the heap, -1 when not in it
	cancelled bool
}

type timerHeap []*timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].when != h[j].when {
		return h[i].when < h[j].when
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx = i
	h[j].idx = j
}
func (h *timerHeap) Push(x any) {
	t := x.(*timer)
	t.idx = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.idx = -1
	return t
}

// timerSet is a Group's service timers: a heap ordered by due time (then by
// creation), run on loop 0. The mutex lets any goroutine add or remove.
type timerSet struct {
	g    *Group
	mu   sync.Mutex
	h    timerHeap
	byID map[TimerID]*timer
	last TimerID
	seq  uint64
}

func (ts *timerSet) init(g *Group) {
	ts.g = g
	ts.byID = make(map[TimerID]*timer)
}

// AddTimer runs fn on loop 0 after d, and then every d if periodic. A
// periodic timer's next run is due one interval after the previous due time
// (not after the callback), skipping runs that were missed entirely. A
// periodic interval under 1 ms is raised to 1 ms. Timers may be added before
// Start; they stop with the Group.
func (g *Group) AddTimer(d time.Duration, periodic bool, fn func()) TimerID {
	if d < 0 {
		d = 0
	}
	if periodic && d < time.Millisecond {
		d = time.Millisecond
	}
	ts := &g.timers
	ts.mu.Lock()
	ts.last++
	ts.seq++
	t := &timer{id: ts.last, when: g.mono() + int64(d), seq: ts.seq, fn: fn, idx: -1}
	if periodic {
		t.period = d
	}
	heap.Push(&ts.h, t)
	ts.byID[t.id] = t
	first := ts.h[0] == t
	ts.mu.Unlock()
	g.nTimers.Add(1)
	if first && g.started.Load() && len(g.loops) > 0 {
		g.loops[0].wake()
	}
	return t.id
}

// RemoveTimer cancels a timer; it will not run again, even if it is due in
// the same iteration, and may be called from inside any timer callback
// (including its own). An unknown or finished id is a no-op.
func (g *Group) RemoveTimer(id TimerID) {
	ts := &g.timers
	ts.mu.Lock()
	t := ts.byID[id]
	if t != nil {
		delete(ts.byID, id)
		t.cancelled = true
		if t.idx >= 0 {
			heap.Remove(&ts.h, t.idx)
		}
	}
	ts.mu.Unlock()
	if t != nil {
		g.nTimers.Add(-1)
	}
}

// next reports the earliest due time.
func (ts *timerSet) next() (int64, bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.h) == 0 {
		return 0, false
	}
	return ts.h[0].when, true
}

// runDue runs every timer due at now, in due order (runs on loop 0).
func (ts *timerSet) runDue(l *loop, now int64) {
	for {
		ts.mu.Lock()
		if len(ts.h) == 0 || ts.h[0].when > now {
			ts.mu.Unlock()
			return
		}
		t := heap.Pop(&ts.h).(*timer)
		ts.mu.Unlock()

		ts.g.call(l, "timer", t.fn)

		ts.mu.Lock()
		removed := false
		if t.period > 0 && !t.cancelled {
			t.when += int64(t.period)
			if t.when <= now {
				t.when = now + int64(t.period)
			}
			ts.seq++
			t.seq = ts.seq
			heap.Push(&ts.h, t)
		} else if !t.cancelled {
			delete(ts.byID, t.id)
			t.cancelled = true
			removed = true
		}
		ts.mu.Unlock()
		if removed {
			ts.g.nTimers.Add(-1)
		}
	}
}

// snapshot counts the timers, the earliest due time and how many are overdue.
func (ts *timerSet) snapshot(now int64) (count int, next int64, overdue int) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	count = len(ts.byID)
	if len(ts.h) > 0 {
		next = ts.h[0].when
	}
	for _, t := range ts.h {
		if t.when < now {
			overdue++
		}
	}
	return count, next, overdue
}

func (ts *timerSet) clear() {
	ts.mu.Lock()
	n := len(ts.byID)
	for _, t := range ts.h {
		t.cancelled = true
	}
	ts.h = nil
	ts.byID = make(map[TimerID]*timer)
	ts.mu.Unlock()
	ts.g.nTimers.Add(int64(-n))
}
