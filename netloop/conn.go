package netloop

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"teamtalk/netloop/internal/poll"
	"teamtalk/wire"
)

var errPeerHangup = errors.New("netloop: peer hung up")

// Conn is one TCP connection on a loop. Its methods are safe from any
// goroutine; after the connection closed they do nothing (Write returns
// ErrClosed). Hold a ConnID rather than a *Conn in long-lived shared state.
type Conn struct {
	l         *loop // its Group is l.g
	h         Handler
	local     *netip.AddrPort // shared with the listener when accepted; set under mu when dialed
	remoteIP  netip.Addr      // with remotePort, the peer's address (a netip.AddrPort pads 6 bytes)
	ctx       atomic.Pointer[any]
	idleTO    atomic.Int64
	lastRead  atomic.Int64 // g.mono()
	lastWrite atomic.Int64

	bytesIn, bytesOut   atomic.Uint64
	framesIn, framesOut atomic.Uint64

	// Guarded by mu: the descriptor (closed under mu, so a writer never
	// touches a reused fd), the write queue and the registered events.
	// (*out)[sent:] are the queued bytes; out is a pooled buffer, nil when
	// nothing is queued, so an idle connection holds none. dirty reports
	// that the connection is on its loop's flush list, waitOut that the
	// socket refused bytes and EPOLLOUT is armed.
	mu   sync.Mutex
	out  *[]byte
	sent int
	// closeErr is the first recorded cause of the close, boxed: a
	// connection that is not closing keeps only a nil pointer.
	closeErr *error

	// Loop-owned.
	in         *partial // a partial frame carried between reads; nil until the first one
	cls        *idleList
	prev, next *Conn
	mark       int64

	id       ConnID
	state    atomic.Int32
	maxFrame int32
	bound    int32
	fd       int32 // under mu
	events   uint32

	remotePort uint16

	// Flags, packed: dialed is set before the connection is shared; dirty,
	// waitOut, registered and closePost are guarded by mu; opened is
	// loop-owned.
	dialed, dirty, waitOut, registered, closePost, opened bool
}

// partial holds a connection's incomplete frame between reads. It is boxed so
// that the many connections that never have one (idle ones) keep only a nil
// pointer; once allocated the box stays with the connection.
type partial struct{ b []byte }

// pending is the partial frame carried between reads, nil if none.
func (c *Conn) pending() []byte {
	if c.in == nil {
		return nil
	}
	return c.in.b
}

// setPending replaces the partial frame (nil: none).
func (c *Conn) setPending(b []byte) {
	if c.in == nil {
		if b == nil {
			return
		}
		c.in = &partial{}
	}
	c.in.b = b
}

// setRemote records the peer's address.
func (c *Conn) setRemote(ap netip.AddrPort) { c.remoteIP, c.remotePort = ap.Addr(), ap.Port() }

// eofErr is the close cause of a connection the peer ended, shared by all.
var eofErr error = io.EOF

func newConn(g *Group, l *loop, fd int, h Handler, maxFrame, bound int) *Conn {
	c := &Conn{l: l, fd: int32(fd), h: h, maxFrame: int32(min(maxFrame, math.MaxInt32)), bound: int32(min(bound, math.MaxInt32))}
	c.state.Store(int32(StateConnecting))
	l.counters.connecting.Add(1)
	now := g.mono()
	c.lastRead.Store(now)
	c.mark = now
	return c
}

// ID is the connection's id.
func (c *Conn) ID() ConnID { return c.id }

// Group is the Group the connection belongs to.
func (c *Conn) Group() *Group { return c.l.g }

// State is the connection's current state.
func (c *Conn) State() State { return State(c.state.Load()) }

// RemoteAddr is the peer's address (the dialed address for outbound
// connections).
func (c *Conn) RemoteAddr() net.Addr {
	if !c.remoteIP.IsValid() {
		return nil
	}
	return net.TCPAddrFromAddrPort(c.RemoteAddrPort())
}

// RemoteAddrPort is RemoteAddr as a value (IPv4 in its 4-byte form), without
// allocating; the zero value when unknown.
func (c *Conn) RemoteAddrPort() netip.AddrPort {
	return netip.AddrPortFrom(c.remoteIP, c.remotePort)
}

// LocalAddr is the local address; nil until an outbound connect completes.
func (c *Conn) LocalAddr() net.Addr {
	c.mu.Lock()
	local := c.local
	c.mu.Unlock()
	if local == nil || !local.IsValid() {
		return nil
	}
	return net.TCPAddrFromAddrPort(*local)
}

func (c *Conn) remoteString() string {
	if !c.remoteIP.IsValid() {
		return "?"
	}
	return c.RemoteAddrPort().String()
}

// SetContext attaches a value (a session, a link) to the connection.
func (c *Conn) SetContext(v any) { c.ctx.Store(&v) }

// Context returns the value set with SetContext, or nil.
func (c *Conn) Context() any {
	if p := c.ctx.Load(); p != nil {
		return *p
	}
	return nil
}

// LastRead is when bytes were last received (or the connection was created).
func (c *Conn) LastRead() time.Time { return c.l.g.epoch.Add(time.Duration(c.lastRead.Load())) }

// LastWrite is when a frame was last written (zero time if never).
func (c *Conn) LastWrite() time.Time {
	t := c.lastWrite.Load()
	if t == 0 {
		return time.Time{}
	}
	return c.l.g.epoch.Add(time.Duration(t))
}

// Queued is the number of bytes waiting to be sent.
func (c *Conn) Queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queuedLocked()
}

// queuedLocked is the number of queued bytes. Called with c.mu held.
func (c *Conn) queuedLocked() int {
	if c.out == nil {
		return 0
	}
	return len(*c.out) - c.sent
}

// IdleTimeout is the connection's current idle timeout (0: none).
func (c *Conn) IdleTimeout() time.Duration { return time.Duration(c.idleTO.Load()) }

// SetIdleTimeout changes the idle timeout at any time (0 disables it): the
// connection closes with ErrIdleTimeout once nothing was received for d,
// measured from the last received byte, within one Tick.
func (c *Conn) SetIdleTimeout(d time.Duration) {
	if d < 0 {
		d = 0
	}
	c.idleTO.Store(int64(d))
	c.l.post(func() {
		if State(c.state.Load()) == StateOpen {
			c.l.track(c, idleKey{kind: kindIdle, d: d})
		}
	})
}

// Post runs fn on the connection's loop, serialised with its callbacks. It
// reports false if the Group has stopped.
func (c *Conn) Post(fn func()) bool { return c.l.post(fn) }

// setStateLocked moves the connection to s and keeps the loop's per-state
// counts. Called with c.mu held (or before the conn is shared).
func (c *Conn) setStateLocked(s State) {
	old := State(c.state.Swap(int32(s)))
	if old == s {
		return
	}
	cnt := &c.l.counters
	switch old {
	case StateConnecting:
		cnt.connecting.Add(-1)
	case StateOpen:
		cnt.open.Add(-1)
	case StateClosing:
		cnt.closing.Add(-1)
	}
	switch s {
	case StateConnecting:
		cnt.connecting.Add(1)
	case StateOpen:
		cnt.open.Add(1)
	case StateClosing:
		cnt.closing.Add(1)
	}
}

// wantEventsLocked is the readiness the connection needs in its state.
func (c *Conn) wantEventsLocked() uint32 {
	switch State(c.state.Load()) {
	case StateConnecting:
		return poll.Out
	case StateOpen:
		if c.waitOut {
			return poll.In | poll.Out
		}
		return poll.In
	case StateClosing:
		if c.queuedLocked() > 0 {
			return poll.Out
		}
	}
	return 0
}

func (c *Conn) updateEventsLocked() error {
	if !c.registered || c.fd < 0 {
		return nil
	}
	want := c.wantEventsLocked()
	if want == c.events {
		return nil
	}
	if err := c.l.p.Mod(int(c.fd), want, uint32(c.id)); err != nil {
		return err
	}
	c.events = want
	return nil
}

// Write queues a copy of frame (the caller may reuse frame when Write
// returns) for the connection's loop, which sends everything queued on the
// connection with one write at the end of its current iteration: frames
// written while the loop handles a batch of events leave together, and a
// write from another goroutine wakes the loop at most once per iteration. It
// is safe from any goroutine and never blocks on the network. A frame is
// always admitted when nothing is queued; otherwise, if the queued bytes
// would pass the write bound even after sending what the socket takes now,
// the peer is a slow reader: the connection is closed, counted and logged,
// and ErrSlowReader is returned. On a closing or closed connection Write
// returns ErrClosed.
func (c *Conn) Write(frame []byte) error {
	if len(frame) == 0 {
		return nil
	}
	c.mu.Lock()
	st := State(c.state.Load())
	if st != StateOpen && st != StateConnecting {
		c.mu.Unlock()
		return ErrClosed
	}
	canWrite := st == StateOpen && c.registered
	if q := c.queuedLocked(); q > 0 && q+len(frame) > int(c.bound) {
		// The queue may only be waiting for the end of the loop's
		// iteration: send what the socket takes before judging the peer.
		if canWrite && !c.waitOut {
			err := c.writeOutLocked()
			if err == nil {
				err = c.updateEventsLocked() // EPOLLOUT if the socket is full now
			}
			if err != nil {
				werr := wrapConnErr(c, "write", err)
				c.failLocked(werr)
				c.mu.Unlock()
				return werr
			}
		}
		if queued := c.queuedLocked(); queued > 0 && queued+len(frame) > int(c.bound) {
			c.failLocked(ErrSlowReader)
			c.mu.Unlock()
			c.l.counters.slowReaders.Add(1)
			c.l.g.log.Warn("netloop: slow reader closed", "conn", uint32(c.id), "peer", c.remoteString(),
				"queued", queued, "frame", len(frame), "bound", c.bound)
			return ErrSlowReader
		}
	}
	c.lastWrite.Store(c.l.g.mono())
	c.framesOut.Add(1)
	c.l.counters.framesOut.Add(1)
	var buf []byte
	if c.out != nil {
		buf = *c.out
	}
	if need := len(buf) + len(frame); need > cap(buf) {
		// Grow through the pool: at least double, keep the queued bytes.
		nb := c.l.g.getBuf(max(need, 2*cap(buf)))
		*nb = append(*nb, buf[c.sent:]...)
		c.l.g.putBuf(c.out)
		c.out, c.sent = nb, 0
		buf = *nb
	}
	*c.out = append(buf, frame...)
	if canWrite && !c.waitOut && !c.dirty {
		c.dirty = true
		c.l.markDirty(c)
	}
	c.mu.Unlock()
	return nil
}

// writeOutLocked sends queued bytes until none are left or the socket is
// full (then waitOut is set and the caller arms EPOLLOUT). It returns the
// error of a failed write; EAGAIN is not one. Called with c.mu held.
func (c *Conn) writeOutLocked() error {
	for c.queuedLocked() > 0 {
		n, err := poll.Write(int(c.fd), (*c.out)[c.sent:])
		c.l.counters.writes.Add(1)
		if n > 0 {
			c.bytesOut.Add(uint64(n))
			c.l.counters.bytesOut.Add(uint64(n))
			c.sent += n
		}
		if err != nil {
			if poll.IsAgain(err) {
				c.waitOut = true
				break
			}
			return err
		}
		if n == 0 {
			c.waitOut = true
			break
		}
	}
	switch {
	case c.queuedLocked() == 0:
		c.l.g.putBuf(c.out)
		c.out, c.sent, c.waitOut = nil, 0, false
	case c.sent >= len(*c.out)/2:
		// Keep a slow socket's buffer from growing with what was sent.
		b := *c.out
		*c.out = b[:copy(b, b[c.sent:])]
		c.sent = 0
	}
	return nil
}

// failLocked records err, drops the queue and has the loop close the
// connection at once. Called with c.mu held.
func (c *Conn) failLocked(err error) {
	if c.closeErr == nil && err != nil {
		c.closeErr = &err
	}
	c.dropQueueLocked()
	if State(c.state.Load()) != StateClosed {
		c.setStateLocked(StateClosing)
	}
	if !c.closePost {
		c.closePost = true
		l := c.l
		l.post(func() { l.closeConn(c, err) })
	}
}

// dropQueueLocked discards the queued bytes. Called with c.mu held.
func (c *Conn) dropQueueLocked() {
	c.l.g.putBuf(c.out)
	c.out, c.sent, c.waitOut = nil, 0, false
}

// Close closes the connection after flushing what is queued (bounded by
// Options.FlushTimeout); no frames are delivered after it. OnClose then
// runs with a nil error. Closing a closed connection is a no-op.
func (c *Conn) Close() { c.closeWith(nil) }

// closeWith starts a graceful close that reports err to OnClose.
func (c *Conn) closeWith(err error) {
	c.mu.Lock()
	switch State(c.state.Load()) {
	case StateClosing, StateClosed:
		c.mu.Unlock()
		return
	case StateConnecting:
		if err == nil {
			err = ErrClosed
		}
		c.failLocked(err)
		c.mu.Unlock()
		return
	}
	c.closeErr = nil
	if err != nil {
		c.closeErr = &err
	}
	c.setStateLocked(StateClosing)
	c.mu.Unlock()
	l := c.l
	l.post(func() { l.drain(c) })
}

// abort closes the connection at once, dropping queued bytes.
func (c *Conn) abort(err error) {
	c.mu.Lock()
	if State(c.state.Load()) != StateClosed {
		c.failLocked(err)
	}
	c.mu.Unlock()
}

func wrapConnErr(c *Conn, op string, err error) error {
	return fmt.Errorf("netloop: %s %s: %w", op, c.remoteString(), err)
}

// --- loop side ---

// register adds a new connection's socket to the loop (runs on the loop);
// connectTO bounds a dialed connection's connect.
func (l *loop) register(c *Conn, connectTO time.Duration) {
	c.mu.Lock()
	st := State(c.state.Load())
	if st != StateConnecting {
		// Closed before it got here: failLocked already posted the close.
		c.mu.Unlock()
		return
	}
	want := poll.Out
	if !c.dialed {
		c.setStateLocked(StateOpen)
		want = c.wantEventsLocked()
	}
	if err := l.p.Add(int(c.fd), want, uint32(c.id)); err != nil {
		c.mu.Unlock()
		l.closeConn(c, wrapConnErr(c, "register", err))
		return
	}
	c.events = want
	c.registered = true
	c.mu.Unlock()
	if c.dialed {
		l.track(c, idleKey{kind: kindConnect, d: connectTO})
		return
	}
	l.open(c)
}

// connected completes an outbound connect (the reference's CONFIRM).
func (l *loop) connected(c *Conn) {
	c.mu.Lock()
	if err := poll.SoError(int(c.fd)); err != nil {
		c.mu.Unlock()
		l.closeConn(c, wrapConnErr(c, "dial", err))
		return
	}
	la := poll.LocalAddr(int(c.fd))
	c.local = &la
	c.setStateLocked(StateOpen)
	err := c.updateEventsLocked()
	c.mu.Unlock()
	if err != nil {
		l.closeConn(c, wrapConnErr(c, "register", err))
		return
	}
	l.open(c)
}

// open starts idle tracking and runs OnOpen.
func (l *loop) open(c *Conn) {
	c.lastRead.Store(l.now)
	c.mark = l.now
	l.track(c, idleKey{kind: kindIdle, d: time.Duration(c.idleTO.Load())})
	c.opened = true
	if !l.callConn(c, "OnOpen", func() { c.h.OnOpen(c) }) {
		return
	}
	// Frames written before the connect completed (or from OnOpen) go now.
	if c.Queued() > 0 {
		l.flush(c)
	}
}

// callConn runs a connection callback; a panic closes the connection with
// ErrPanic, is reported, and makes callConn return false.
func (l *loop) callConn(c *Conn, where string, fn func()) (ok bool) {
	defer func() {
		if !ok {
			if v := recover(); v != nil {
				l.g.reportPanic(l, where, c, v)
				l.closeConn(c, fmt.Errorf("%w: %s: %v", ErrPanic, where, v))
			}
		}
	}()
	fn()
	return true
}

// readable reads what the socket has and delivers the whole frames.
func (l *loop) readable(c *Conn) {
	for range 4 {
		if State(c.state.Load()) != StateOpen {
			return
		}
		var (
			n   int
			err error
		)
		direct := false
		if need := c.pendingNeed(); need-len(c.pending()) >= len(l.buf) {
			// A big frame in progress: read straight into its buffer.
			in := c.in.b
			n, err = poll.Read(int(c.fd), in[len(in):need])
			direct = true
		} else {
			n, err = poll.Read(int(c.fd), l.buf)
		}
		if err != nil {
			if poll.IsAgain(err) {
				return
			}
			l.closeConn(c, wrapConnErr(c, "read", err))
			return
		}
		if n == 0 {
			c.setPending(nil)
			l.peerClosed(c)
			return
		}
		c.bytesIn.Add(uint64(n))
		l.counters.bytesIn.Add(uint64(n))
		c.lastRead.Store(l.now)
		l.touch(c)
		if direct {
			c.in.b = c.in.b[:len(c.in.b)+n]
			if !l.finishPending(c) {
				return
			}
			continue
		}
		if !l.consume(c, l.buf[:n]) {
			return
		}
		if n < len(l.buf) {
			return
		}
	}
}

// pendingNeed is the total length of the partial frame, or 0 when there is
// none or its header is not complete yet.
func (c *Conn) pendingNeed() int {
	in := c.pending()
	if len(in) < wire.HeaderLen {
		return 0
	}
	return int(binary.BigEndian.Uint32(in))
}

// consume delivers the frames in data, completing a pending partial frame
// first, and keeps an incomplete tail. It reports false once the
// connection stopped reading.
func (l *loop) consume(c *Conn, data []byte) bool {
	if in := c.pending(); len(in) > 0 { // so c.in is set
		if len(in) < wire.HeaderLen {
			k := min(wire.HeaderLen-len(in), len(data))
			in = append(in, data[:k]...)
			c.in.b = in
			data = data[k:]
			if len(in) < wire.HeaderLen {
				return true
			}
			flen, err := wire.FrameLen(in, int(c.maxFrame))
			if err != nil {
				l.frameError(c, in, err)
				return false
			}
			if cap(in) < flen {
				grown := make([]byte, len(in), flen)
				copy(grown, in)
				in = grown
				c.in.b = in
			}
		}
		need := c.pendingNeed()
		k := min(need-len(in), len(data))
		in = append(in, data[:k]...)
		c.in.b = in
		data = data[k:]
		if len(in) < need {
			return true
		}
		if !l.finishPending(c) {
			return false
		}
	}
	for len(data) > 0 {
		flen, err := wire.FrameLen(data, int(c.maxFrame))
		if err != nil {
			l.frameError(c, data, err)
			return false
		}
		if flen == 0 || flen > len(data) {
			size := len(data)
			if flen > size {
				size = flen
			}
			if size < wire.HeaderLen {
				size = wire.HeaderLen
			}
			c.setPending(append(make([]byte, 0, size), data...))
			return true
		}
		if !l.deliver(c, data[:flen]) {
			return false
		}
		data = data[flen:]
	}
	return true
}

// finishPending delivers the partial frame if it is whole and releases it.
func (l *loop) finishPending(c *Conn) bool {
	need := c.pendingNeed()
	frame := c.pending()
	if need == 0 || len(frame) < need {
		return true
	}
	c.in.b = nil
	return l.deliver(c, frame)
}

func (l *loop) deliver(c *Conn, frame []byte) bool {
	if State(c.state.Load()) != StateOpen {
		return false
	}
	c.framesIn.Add(1)
	l.counters.framesIn.Add(1)
	if !l.callConn(c, "OnFrame", func() { c.h.OnFrame(c, frame) }) {
		return false
	}
	return State(c.state.Load()) == StateOpen
}

func (l *loop) frameError(c *Conn, data []byte, err error) {
	length := binary.BigEndian.Uint32(data)
	l.counters.frameErrors.Add(1)
	l.g.log.Warn("netloop: framing error, closing", "conn", uint32(c.id), "peer", c.remoteString(),
		"length", length, "limit", c.maxFrame, "err", err)
	c.setPending(nil)
	l.closeConn(c, fmt.Errorf("%w: peer %s: %w", ErrFraming, c.remoteString(), err))
}

// peerClosed handles end of stream: flush what is queued, then close with io.EOF.
func (l *loop) peerClosed(c *Conn) {
	c.mu.Lock()
	if State(c.state.Load()) == StateOpen {
		c.closeErr = &eofErr
		c.setStateLocked(StateClosing)
	}
	c.mu.Unlock()
	l.drain(c)
}

// drain continues a graceful close on the loop: stop reading, flush, close.
func (l *loop) drain(c *Conn) {
	c.mu.Lock()
	if State(c.state.Load()) != StateClosing {
		c.mu.Unlock()
		return
	}
	if c.queuedLocked() == 0 || !c.registered {
		c.mu.Unlock()
		l.closeConn(c, nil)
		return
	}
	err := c.updateEventsLocked()
	c.mu.Unlock()
	if err != nil {
		l.closeConn(c, wrapConnErr(c, "drain", err))
		return
	}
	l.track(c, idleKey{kind: kindFlush, d: l.g.opt.FlushTimeout})
	c.mark = l.now
	l.touch(c)
}

// flush sends queued bytes (from the loop's flush list at the end of an
// iteration, or on EPOLLOUT) and finishes a graceful close once the queue is
// empty. It reports false if the connection was closed.
func (l *loop) flush(c *Conn) bool {
	c.mu.Lock()
	c.dirty = false
	st := State(c.state.Load())
	if !c.registered || c.fd < 0 || (st != StateOpen && st != StateClosing) {
		c.mu.Unlock()
		return st == StateOpen || st == StateConnecting
	}
	if err := c.writeOutLocked(); err != nil {
		c.mu.Unlock()
		l.closeConn(c, wrapConnErr(c, "write", err))
		return false
	}
	if c.queuedLocked() == 0 && st == StateClosing {
		c.mu.Unlock()
		l.closeConn(c, nil)
		return false
	}
	err := c.updateEventsLocked()
	c.mu.Unlock()
	if err != nil {
		l.closeConn(c, wrapConnErr(c, "write", err))
		return false
	}
	return true
}

// closeConn closes the socket at once and runs OnClose (on the loop). The
// first recorded cause wins over err.
func (l *loop) closeConn(c *Conn, err error) {
	c.mu.Lock()
	if State(c.state.Load()) == StateClosed {
		c.mu.Unlock()
		return
	}
	if c.closeErr != nil {
		err = *c.closeErr // the first recorded cause
	}
	c.setStateLocked(StateClosed)
	c.dropQueueLocked()
	fd := int(c.fd)
	if fd >= 0 {
		// No EPOLL_CTL_DEL: closing the only descriptor of the socket takes
		// it out of the interest list, and events of this batch for it are
		// dropped once unregister below took its id out of the registry.
		_ = poll.Close(fd)
		c.fd = -1
	}
	c.registered = false
	c.mu.Unlock()
	l.untrack(c)
	c.setPending(nil)
	l.g.unregister(c)
	if errors.Is(err, ErrIdleTimeout) {
		l.counters.idleCloses.Add(1)
	}
	if c.opened || c.dialed {
		h := c.h
		l.callConn(c, "OnClose", func() { h.OnClose(c, err) })
	}
}
