package netloop

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"teamtalk/netloop/internal/poll"
)

const registryShards = 16

type registryShard struct {
	mu sync.RWMutex
	m  map[ConnID]*Conn
}

// Group is one service's set of event loops with its listeners,
// connections and timers. Create it with New, then Start it; Stop it once.
// A stopped Group cannot be restarted: create a new one.
type Group struct {
	opt   Options
	log   *slog.Logger
	epoch time.Time

	loops   []*loop
	wg      sync.WaitGroup
	started atomic.Bool
	stopped atomic.Bool
	stopMu  sync.Mutex

	nextID   atomic.Uint32
	pick     atomic.Uint32
	registry [registryShards]registryShard
	nconns   atomic.Int64

	lnMu      sync.Mutex
	listeners map[*Listener]struct{}

	timers timerSet

	cbMu    sync.Mutex
	cbs     atomic.Pointer[[]loopCallback]
	nextCB  uint64
	panics  atomic.Uint64
	nTimers atomic.Int64

	// bufs holds write buffers (*[]byte), by size class (bufClassCap), of
	// connections whose queue emptied, so a connection at rest holds none
	// and a busy one neither allocates one per batch nor regrows it.
	bufs [bufClasses]sync.Pool
}

// Pooled write buffers come in bufClasses sizes: 512 bytes (a client's
// usual frame), 4 KiB, 32 KiB and 256 KiB; bigger ones are left to the
// collector.
const bufClasses = 4

// bufClassCap is the capacity of write buffers of class i.
func bufClassCap(i int) int { return 512 << (3 * i) }

// bufClass is the index of the smallest class holding n bytes, or -1.
func bufClass(n int) int {
	for i := range bufClasses {
		if n <= bufClassCap(i) {
			return i
		}
	}
	return -1
}

// getBuf returns an empty write buffer with room for at least n bytes.
// The buffer travels by pointer, so recycling it allocates nothing.
func (g *Group) getBuf(n int) *[]byte {
	i := bufClass(n)
	if i < 0 {
		b := make([]byte, 0, n)
		return &b
	}
	if p, ok := g.bufs[i].Get().(*[]byte); ok {
		*p = (*p)[:0]
		return p
	}
	b := make([]byte, 0, bufClassCap(i))
	return &b
}

// putBuf recycles a write buffer that nothing refers to any more (nil is
// ignored).
func (g *Group) putBuf(p *[]byte) {
	if p == nil {
		return
	}
	if i := bufClass(cap(*p)); i >= 0 && cap(*p) == bufClassCap(i) {
		*p = (*p)[:0]
		g.bufs[i].Put(p)
	}
}

type loopCallback struct {
	id uint64
	fn func()
}

// New validates opt and returns a Group that is not yet running. It opens
// no descriptors and starts no goroutines.
func New(opt Options) (*Group, error) {
	if opt.Loops < 0 {
		return nil, fmt.Errorf("netloop: %s: negative loop count %d", opt.Owner, opt.Loops)
	}
	if opt.Loops == 0 {
		opt.Loops = runtime.GOMAXPROCS(0)
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Tick <= 0 {
		opt.Tick = time.Second
	}
	if opt.ReadBuffer <= 0 {
		opt.ReadBuffer = 64 << 10
	}
	if opt.ReadBuffer < 4096 {
		opt.ReadBuffer = 4096
	}
	if opt.FlushTimeout <= 0 {
		opt.FlushTimeout = 5 * time.Second
	}
	if opt.AcceptPause <= 0 {
		opt.AcceptPause = 200 * time.Millisecond
	}
	g := &Group{
		opt:       opt,
		log:       opt.Logger.With("owner", opt.Owner),
		epoch:     time.Now(),
		listeners: make(map[*Listener]struct{}),
	}
	for i := range g.registry {
		g.registry[i].m = make(map[ConnID]*Conn)
	}
	g.nextID.Store(rand.Uint32() >> 1)
	g.timers.init(g)
	empty := []loopCallback{}
	g.cbs.Store(&empty)
	return g, nil
}

// Owner is the service name the Group was created with.
func (g *Group) Owner() string { return g.opt.Owner }

// Start opens the loops' pollers and starts their goroutines.
func (g *Group) Start() error {
	g.stopMu.Lock()
	defer g.stopMu.Unlock()
	if g.stopped.Load() {
		return ErrStopped
	}
	if g.started.Load() {
		return nil
	}
	for i := 0; i < g.opt.Loops; i++ {
		l, err := newLoop(g, i)
		if err != nil {
			for _, l := range g.loops {
				l.p.Close()
			}
			g.loops = nil
			return fmt.Errorf("netloop: %s: start loop %d: %w", g.opt.Owner, i, err)
		}
		g.loops = append(g.loops, l)
	}
	for _, l := range g.loops {
		g.wg.Add(1)
		go l.run()
	}
	g.started.Store(true)
	return nil
}

// mono is the Group's monotonic clock in nanoseconds.
func (g *Group) mono() int64 { return int64(time.Since(g.epoch)) }

func (g *Group) usable() error {
	if g.stopped.Load() {
		return ErrStopped
	}
	if !g.started.Load() {
		return ErrNotStarted
	}
	return nil
}

// Listen opens a listener on addr ("host:port"; port 0 picks one, and a
// missing host means 0.0.0.0). Connections it accepts are handed to the
// least-loaded loop and served by h.
func (g *Group) Listen(addr string, h Handler, lo ListenOptions) (*Listener, error) {
	if err := g.usable(); err != nil {
		return nil, err
	}
	lo.defaults()
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("netloop: %s: listen %s: %w", g.opt.Owner, addr, err)
	}
	fd, bound, err := poll.Listen(ta, poll.Somaxconn())
	if err != nil {
		return nil, fmt.Errorf("netloop: %s: listen %s: %w", g.opt.Owner, addr, err)
	}
	ln := &Listener{g: g, l: g.loops[0], fd: fd, addr: bound, h: h, opt: lo, done: make(chan struct{})}
	ln.local = addrPort(bound)
	ln.anyLocal = !ln.local.IsValid() || ln.local.Addr().IsUnspecified()
	g.lnMu.Lock()
	g.listeners[ln] = struct{}{}
	g.lnMu.Unlock()
	if !ln.l.post(func() { ln.l.addListener(ln) }) {
		g.lnMu.Lock()
		delete(g.listeners, ln)
		g.lnMu.Unlock()
		poll.Close(fd)
		return nil, ErrStopped
	}
	g.log.Info("netloop: listening", "addr", bound.String())
	return ln, nil
}

// addrPort converts a resolved address, IPv4 in its 4-byte form.
func addrPort(a *net.TCPAddr) netip.AddrPort {
	ap := a.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// Dial starts connecting to addr and returns the new connection's id at once.
// h.OnOpen runs when the connect completes; if it fails, h.OnClose runs with
// the error (and OnOpen never does). A host name in addr is resolved in the
// calling goroutine. Frames written before the connect completes are queued.
func (g *Group) Dial(addr string, h Handler, do DialOptions) (ConnID, error) {
	if err := g.usable(); err != nil {
		return 0, err
	}
	do.defaults()
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return 0, fmt.Errorf("netloop: %s: dial %s: %w", g.opt.Owner, addr, err)
	}
	fd, derr := poll.Dial(ta)
	l := g.leastLoaded()
	c := newConn(g, l, fd, h, do.MaxFrame, do.WriteBound)
	c.dialed = true
	c.setRemote(addrPort(ta))
	c.idleTO.Store(int64(do.IdleTimeout))
	g.register(c)
	l.counters.dialed.Add(1)
	if derr != nil {
		c.fd = -1
		err := fmt.Errorf("netloop: %s: dial %s: %w", g.opt.Owner, addr, derr)
		if !l.post(func() { l.closeConn(c, err) }) {
			g.unregister(c)
			return 0, ErrStopped
		}
		return c.id, nil
	}
	if !l.post(func() { l.register(c, do.ConnectTimeout) }) {
		poll.Close(fd)
		g.unregister(c)
		return 0, ErrStopped
	}
	return c.id, nil
}

// Conn returns the live connection with id, or nil.
func (g *Group) Conn(id ConnID) *Conn {
	s := &g.registry[uint32(id)%registryShards]
	s.mu.RLock()
	c := s.m[id]
	s.mu.RUnlock()
	return c
}

// Write queues frame on connection id (see Conn.Write). An unknown or closed
// id returns ErrClosed and does nothing else.
func (g *Group) Write(id ConnID, frame []byte) error {
	c := g.Conn(id)
	if c == nil {
		return ErrClosed
	}
	return c.Write(frame)
}

// Close closes connection id after flushing what it has queued; an unknown
// or closed id is a no-op.
func (g *Group) Close(id ConnID) {
	if c := g.Conn(id); c != nil {
		c.Close()
	}
}

// Post runs fn on loop 0, after the current iteration's events. Functions
// posted by one goroutine run in the order posted. It returns ErrStopped
// (and drops fn) once the Group has stopped; before Start, ErrNotStarted.
func (g *Group) Post(fn func()) error {
	if err := g.usable(); err != nil {
		return err
	}
	if !g.loops[0].post(fn) {
		return ErrStopped
	}
	return nil
}

// AddLoopCallback registers fn to run on loop 0 after every iteration (the
// reference's AddLoop); loop 0 wakes at least once per Tick while any are
// registered. The returned id removes it.
func (g *Group) AddLoopCallback(fn func()) uint64 {
	g.cbMu.Lock()
	defer g.cbMu.Unlock()
	g.nextCB++
	old := *g.cbs.Load()
	cbs := make([]loopCallback, len(old), len(old)+1)
	copy(cbs, old)
	cbs = append(cbs, loopCallback{id: g.nextCB, fn: fn})
	g.cbs.Store(&cbs)
	if g.started.Load() && len(g.loops) > 0 {
		g.loops[0].wake() // recompute its wait: it now wakes every Tick
	}
	return g.nextCB
}

// RemoveLoopCallback unregisters a loop callback; an unknown id is a no-op.
func (g *Group) RemoveLoopCallback(id uint64) {
	g.cbMu.Lock()
	defer g.cbMu.Unlock()
	old := *g.cbs.Load()
	cbs := make([]loopCallback, 0, len(old))
	for _, cb := range old {
		if cb.id != id {
			cbs = append(cbs, cb)
		}
	}
	g.cbs.Store(&cbs)
}

func (g *Group) leastLoaded() *loop {
	n := len(g.loops)
	start := int(g.pick.Add(1)) % n
	best := g.loops[start]
	bestLoad := best.load()
	for i := 1; i < n; i++ {
		l := g.loops[(start+i)%n]
		if ld := l.load(); ld < bestLoad {
			best, bestLoad = l, ld
		}
	}
	return best
}

func (g *Group) register(c *Conn) {
	for {
		id := ConnID(g.nextID.Add(1))
		if id == 0 {
			continue
		}
		s := &g.registry[uint32(id)%registryShards]
		s.mu.Lock()
		if _, used := s.m[id]; used {
			s.mu.Unlock()
			continue
		}
		c.id = id
		s.m[id] = c
		s.mu.Unlock()
		g.nconns.Add(1)
		return
	}
}

func (g *Group) unregister(c *Conn) {
	s := &g.registry[uint32(c.id)%registryShards]
	s.mu.Lock()
	if s.m[c.id] == c {
		delete(s.m, c.id)
		g.nconns.Add(-1)
	}
	s.mu.Unlock()
}

func (g *Group) allConns() []*Conn {
	out := make([]*Conn, 0, g.nconns.Load())
	for i := range g.registry {
		s := &g.registry[i]
		s.mu.RLock()
		for _, c := range s.m {
			out = append(out, c)
		}
		s.mu.RUnlock()
	}
	return out
}

// reportPanic logs and counts a recovered panic and calls the owner's hook.
func (g *Group) reportPanic(l *loop, where string, c *Conn, v any) {
	stack := debug.Stack()
	g.panics.Add(1)
	if l != nil {
		l.counters.panics.Add(1)
	}
	args := []any{"where", where, "panic", fmt.Sprint(v)}
	if c != nil {
		args = append(args, "conn", uint32(c.id), "peer", c.remoteString())
	}
	g.log.Error("netloop: recovered panic", append(args, "stack", string(stack))...)
	if g.opt.OnPanic != nil {
		g.opt.OnPanic(v, stack)
	}
}

// call runs fn, recovering and reporting a panic; it reports whether fn
// returned normally.
func (g *Group) call(l *loop, where string, fn func()) (ok bool) {
	defer func() {
		if !ok {
			if v := recover(); v != nil {
				g.reportPanic(l, where, nil, v)
			}
		}
	}()
	fn()
	return true
}

// Stop stops accepting, closes every connection after flushing its queued
// bytes (bounded by ctx: when ctx ends the rest are closed at once), stops
// the timers and waits for the loops to exit. It returns ctx's error if the
// flush was cut short. Stop is safe to call more than once.
func (g *Group) Stop(ctx context.Context) error {
	g.stopMu.Lock()
	defer g.stopMu.Unlock()
	if g.stopped.Swap(true) {
		return nil
	}
	if !g.started.Load() {
		return nil
	}
	g.lnMu.Lock()
	lns := make([]*Listener, 0, len(g.listeners))
	for ln := range g.listeners {
		lns = append(lns, ln)
	}
	g.lnMu.Unlock()
	for _, ln := range lns {
		ln.Close()
	}
	for _, c := range g.allConns() {
		c.closeWith(ErrStopped)
	}
	var cut error
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for g.nconns.Load() > 0 && cut == nil {
		select {
		case <-ctx.Done():
			cut = ctx.Err()
		case <-tick.C:
		}
	}
	if cut != nil {
		for _, c := range g.allConns() {
			c.abort(ErrStopped)
		}
		for g.nconns.Load() > 0 {
			<-tick.C
		}
	}
	for _, ln := range lns {
		<-ln.done
	}
	for _, l := range g.loops {
		l.post(func() { l.quit = true })
	}
	g.wg.Wait()
	for _, l := range g.loops {
		l.shutdown()
	}
	g.timers.clear()
	if cut != nil {
		return fmt.Errorf("netloop: %s: stop: flush cut short: %w", g.opt.Owner, cut)
	}
	return nil
}
