package netloop

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"teamtalk/netloop/internal/poll"
)

// loopCounters are a loop's cumulative counters. Writers on other goroutines
// add to them too, hence the atomics.
type loopCounters struct {
	bytesIn, bytesOut   atomic.Uint64
	framesIn, framesOut atomic.Uint64
	writes              atomic.Uint64
	accepted, dialed    atomic.Uint64
	slowReaders         atomic.Uint64
	idleCloses          atomic.Uint64
	frameErrors         atomic.Uint64
	panics              atomic.Uint64
	acceptPauses        atomic.Uint64
	connecting, open    atomic.Int64
	closing             atomic.Int64
}

// loop is one event loop: a poller, the sockets registered in it, the idle
// lists and a queue of posted functions. Everything not atomic or under mu
// is touched only by the loop goroutine.
type loop struct {
	g   *Group
	idx int
	p   *poll.Poller
	buf []byte

	listeners map[int]*Listener
	idle      map[idleKey]*idleList
	tracked   int
	nextSweep int64
	now       int64 // g.mono() at the start of the iteration
	quit      bool

	mu         sync.Mutex
	queue      []func()
	spare      []func()
	dirty      []*Conn // connections with bytes to send at the iteration's end
	spareDirty []*Conn
	closed     bool
	// pending is true while the loop is awake or a wake-up is on its way:
	// posters and writers wake it only when they turn it from false to true.
	pending atomic.Bool

	counters loopCounters
}

func newLoop(g *Group, idx int) (*loop, error) {
	p, err := poll.New(256)
	if err != nil {
		return nil, err
	}
	return &loop{
		g:         g,
		idx:       idx,
		p:         p,
		buf:       make([]byte, g.opt.ReadBuffer),
		listeners: make(map[int]*Listener),
		idle:      make(map[idleKey]*idleList),
	}, nil
}

// load is the number of connections the loop holds, for hand-off decisions.
func (l *loop) load() int64 {
	return l.counters.connecting.Load() + l.counters.open.Load() + l.counters.closing.Load()
}

// post queues fn to run on the loop and wakes it. It reports false (and
// drops fn) once the loop has shut down.
func (l *loop) post(fn func()) bool {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return false
	}
	l.queue = append(l.queue, fn)
	if l.pending.CompareAndSwap(false, true) {
		if err := l.p.Wake(); err != nil {
			l.g.log.Error("netloop: wake loop", "loop", l.idx, "err", err)
		}
	}
	l.mu.Unlock()
	return true
}

// markDirty puts c on the loop's flush list, waking the loop unless it is
// awake already. Called with c.mu held.
func (l *loop) markDirty(c *Conn) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.dirty = append(l.dirty, c)
	if l.pending.CompareAndSwap(false, true) {
		if err := l.p.Wake(); err != nil {
			l.g.log.Error("netloop: wake loop", "loop", l.idx, "err", err)
		}
	}
	l.mu.Unlock()
}

// flushDirty sends what every connection on the flush list has queued: one
// write per connection for all the frames of the iteration.
func (l *loop) flushDirty() {
	l.mu.Lock()
	d := l.dirty
	l.dirty = l.spareDirty[:0]
	l.mu.Unlock()
	for i, c := range d {
		l.flush(c)
		d[i] = nil
	}
	l.spareDirty = d[:0]
}

// wake makes the loop recompute its wait (e.g. a new earliest timer).
func (l *loop) wake() {
	l.mu.Lock()
	if !l.closed && l.pending.CompareAndSwap(false, true) {
		_ = l.p.Wake()
	}
	l.mu.Unlock()
}

func (l *loop) runPosts() {
	l.pending.Store(false)
	l.mu.Lock()
	q := l.queue
	l.queue = l.spare[:0]
	l.mu.Unlock()
	for i, fn := range q {
		l.g.call(l, "post", fn)
		q[i] = nil
	}
	l.spare = q[:0]
}

// waitMillis is how long the loop may sleep: until the next timer (loop 0),
// the next sweep when it has deadlines to enforce, one tick when loop
// callbacks are registered; -1 when nothing is due.
func (l *loop) waitMillis() int {
	due := int64(-1)
	consider := func(t int64) {
		if due < 0 || t < due {
			due = t
		}
	}
	if l.tracked > 0 {
		consider(l.nextSweep)
	}
	if l.idx == 0 {
		if t, ok := l.g.timers.next(); ok {
			consider(t)
		}
		if len(*l.g.cbs.Load()) > 0 {
			consider(l.now + int64(l.g.opt.Tick))
		}
	}
	if due < 0 {
		return -1
	}
	d := due - l.g.mono()
	if d <= 0 {
		return 0
	}
	ms := (d + int64(time.Millisecond) - 1) / int64(time.Millisecond)
	if ms > 1<<30 {
		ms = 1 << 30
	}
	return int(ms)
}

func (l *loop) run() {
	defer l.g.wg.Done()
	if l.g.opt.LockOSThread {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	evs := make([]poll.Event, 0, 256)
	wakeFd := l.p.WakeFd()
	l.now = l.g.mono()
	l.nextSweep = l.now + int64(l.g.opt.Tick)
	for !l.quit {
		var err error
		evs, err = l.p.Wait(evs, l.waitMillis())
		if err != nil {
			l.g.log.Error("netloop: poll wait", "loop", l.idx, "err", err)
			time.Sleep(10 * time.Millisecond)
		}
		// Awake: writes and posts from now on are picked up by this
		// iteration without a wake-up of their own.
		l.pending.Store(true)
		l.now = l.g.mono()
		for _, ev := range evs {
			if ev.Fd == wakeFd {
				l.p.DrainWake()
				continue
			}
			if ln := l.listeners[ev.Fd]; ln != nil {
				ln.accept(l)
				continue
			}
			// A connection's events carry its id: the Group's registry
			// finds it (no per-loop map to keep, one entry less per
			// connection). A connection closed earlier in this batch is
			// no longer registered, so its stale events are dropped.
			c := l.g.Conn(ConnID(ev.Tag))
			if c == nil || c.l != l {
				continue
			}
			l.handle(c, ev.Events)
		}
		l.runPosts()
		if l.idx == 0 {
			l.g.timers.runDue(l, l.g.mono())
			for _, cb := range *l.g.cbs.Load() {
				l.g.call(l, "loop callback", cb.fn)
			}
		}
		if now := l.g.mono(); now >= l.nextSweep {
			l.now = now
			l.sweep(now)
			l.nextSweep = now + int64(l.g.opt.Tick)
		}
		l.flushDirty()
	}
}

// shutdown marks the loop closed (no more posts) and releases the poller.
// It runs after the loop goroutine exited.
func (l *loop) shutdown() {
	l.mu.Lock()
	l.closed = true
	l.queue = nil
	l.dirty = nil
	l.mu.Unlock()
	for fd, ln := range l.listeners {
		poll.Close(fd)
		delete(l.listeners, fd)
		ln.finish()
	}
	l.p.Close()
}

// handle dispatches one readiness event of a connection.
func (l *loop) handle(c *Conn, ev uint32) {
	switch State(c.state.Load()) {
	case StateConnecting:
		if ev&(poll.Out|poll.Err|poll.Hup) != 0 {
			l.connected(c)
		}
		return
	case StateOpen:
		if ev&poll.Out != 0 {
			if !l.flush(c) {
				return
			}
		}
		if ev&poll.In != 0 {
			l.readable(c)
		} else if ev&(poll.Err|poll.Hup) != 0 {
			l.closeConn(c, l.sockErr(c))
		}
	case StateClosing:
		if ev&poll.Out != 0 {
			if !l.flush(c) {
				return
			}
		}
		if ev&(poll.Err|poll.Hup) != 0 && State(c.state.Load()) == StateClosing {
			l.closeConn(c, l.sockErr(c))
		}
	}
}

func (l *loop) sockErr(c *Conn) error {
	c.mu.Lock()
	fd := int(c.fd)
	var err error
	if fd >= 0 {
		err = poll.SoError(fd)
	}
	c.mu.Unlock()
	if err == nil {
		return errPeerHangup
	}
	return wrapConnErr(c, "socket", err)
}
