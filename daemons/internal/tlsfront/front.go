package tlsfront

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"teamtalk/netloop"
)

// bufSize is each pump's buffer: a bridged connection holds two.
const bufSize = 16 << 10

// Options configure a Front.
type Options struct {
	// Listen configures the adopted connections as if the Group had
	// accepted them (frame limit, write bound, idle timeout).
	Listen netloop.ListenOptions
	// HandshakeTimeout closes a connection whose TLS handshake has not
	// completed in time (default 10 s).
	HandshakeTimeout time.Duration
	// WriteTimeout closes a connection when one write to the TLS client
	// makes no progress for this long (default 30 s): a client that stops
	// reading cannot hold a pump forever.
	WriteTimeout time.Duration
	// Logger receives the Front's log lines (default: discarded).
	Logger *slog.Logger
}

// Stats are a Front's counters.
type Stats struct {
	Accepted          uint64 // TCP connections accepted
	Handshakes        uint64 // handshakes completed (connections handed to the Group)
	HandshakeFailures uint64 // handshakes that failed or timed out
	Active            int    // connections open now (handshaking or bridged)
}

// Front is a TLS listener serving its connections through a netloop Group.
type Front struct {
	ln    net.Listener
	g     *netloop.Group
	h     netloop.Handler
	cfg   *tls.Config
	opt   Options
	log   *slog.Logger
	ctx   context.Context
	stop  context.CancelFunc
	wg    sync.WaitGroup
	local netip.AddrPort

	mu      sync.Mutex
	closed  bool
	bridges map[*bridge]struct{}

	accepted, handshakes, failures atomic.Uint64
}

// Listen binds addr ("host:port", port 0 picks one) and serves each TLS
// connection's frames with h on g, as g.Listen would for plain TCP. g must
// be started; Close the Front before (or while) stopping g.
func Listen(addr string, certs *Certs, g *netloop.Group, h netloop.Handler, opt Options) (*Front, error) {
	if opt.HandshakeTimeout <= 0 {
		opt.HandshakeTimeout = 10 * time.Second
	}
	if opt.WriteTimeout <= 0 {
		opt.WriteTimeout = 30 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("tlsfront: listen %s: %w", addr, err)
	}
	ctx, stop := context.WithCancel(context.Background())
	f := &Front{
		ln: ln, g: g, h: h, cfg: certs.Config(), opt: opt, log: opt.Logger,
		ctx: ctx, stop: stop, bridges: map[*bridge]struct{}{},
	}
	f.local = addrPort(ln.Addr())
	f.wg.Add(1)
	go f.acceptLoop()
	return f, nil
}

// Addr is the bound address.
func (f *Front) Addr() net.Addr { return f.ln.Addr() }

// Stats returns the counters.
func (f *Front) Stats() Stats {
	f.mu.Lock()
	n := len(f.bridges)
	f.mu.Unlock()
	return Stats{Accepted: f.accepted.Load(), Handshakes: f.handshakes.Load(),
		HandshakeFailures: f.failures.Load(), Active: n}
}

// Close stops accepting, closes every connection (handshaking or bridged)
// and returns once all of the Front's goroutines have exited. The Group's
// side of each bridged connection sees the peer close. Safe to call more
// than once.
func (f *Front) Close() error {
	f.mu.Lock()
	already := f.closed
	f.closed = true
	bs := make([]*bridge, 0, len(f.bridges))
	for b := range f.bridges {
		bs = append(bs, b)
	}
	f.mu.Unlock()
	var err error
	if !already {
		f.stop()
		err = f.ln.Close()
	}
	for _, b := range bs {
		b.abort()
	}
	f.wg.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("tlsfront: close %s: %w", f.ln.Addr(), err)
	}
	return nil
}

func (f *Front) acceptLoop() {
	defer f.wg.Done()
	var delay time.Duration
	for {
		raw, err := f.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || f.ctx.Err() != nil {
				return
			}
			// EMFILE and the like: back off instead of spinning.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			f.log.Warn("tlsfront: accept", "addr", f.ln.Addr().String(), "err", err, "retry_in", delay)
			select {
			case <-time.After(delay):
				continue
			case <-f.ctx.Done():
				return
			}
		}
		delay = 0
		f.accepted.Add(1)
		b := &bridge{raw: raw}
		if !f.track(b) {
			raw.Close()
			return
		}
		f.wg.Add(1)
		go f.serve(b)
	}
}

// track adds b to the live set; false once the Front is closed.
func (f *Front) track(b *bridge) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.bridges[b] = struct{}{}
	return true
}

func (f *Front) untrack(b *bridge) {
	f.mu.Lock()
	delete(f.bridges, b)
	f.mu.Unlock()
}

// serve handshakes one connection, hands its plaintext to the Group and
// pumps client→Group bytes; a second goroutine pumps Group→client.
func (f *Front) serve(b *bridge) {
	defer f.wg.Done()
	defer f.untrack(b)
	tc := tls.Server(b.raw, f.cfg)
	ctx, cancel := context.WithTimeout(f.ctx, f.opt.HandshakeTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		f.failures.Add(1)
		f.log.Debug("tlsfront: handshake failed", "peer", b.raw.RemoteAddr().String(), "err", err)
		b.abort()
		return
	}
	fd, pair, err := socketpair()
	if err != nil {
		f.failures.Add(1)
		f.log.Warn("tlsfront: socketpair", "peer", b.raw.RemoteAddr().String(), "err", err)
		b.abort()
		return
	}
	if !b.attach(tc, pair) {
		_ = unix.Close(fd)
		return // aborted meanwhile (Close)
	}
	if _, err := f.g.Adopt(fd, f.h, f.opt.Listen, f.local, addrPort(b.raw.RemoteAddr())); err != nil {
		f.log.Debug("tlsfront: adopt", "peer", b.raw.RemoteAddr().String(), "err", err)
		b.abort()
		return
	}
	f.handshakes.Add(1)
	f.wg.Add(1)
	go f.toClient(b)
	f.fromClient(b)
}

// fromClient copies the client's plaintext into the pair. When the client
// stops sending (close_notify, EOF, an error) it half-closes the pair: the
// Group reads end of stream and closes its side, which ends toClient.
func (f *Front) fromClient(b *bridge) {
	buf := make([]byte, bufSize)
	for {
		n, err := b.tc.Read(buf)
		if n > 0 {
			if _, werr := b.pair.Write(buf[:n]); werr != nil {
				b.abort() // the Group closed its side
				return
			}
		}
		if err != nil {
			if cerr := b.pair.CloseWrite(); cerr != nil {
				b.abort()
			}
			return
		}
	}
}

// toClient copies what the Group writes to the client. At the pair's end
// of stream (the Group closed the connection after flushing) it closes the
// TLS connection gracefully; on any error, or a write stuck past
// WriteTimeout, it aborts both sides.
func (f *Front) toClient(b *bridge) {
	defer f.wg.Done()
	buf := make([]byte, bufSize)
	for {
		n, err := b.pair.Read(buf)
		if n > 0 {
			_ = b.tc.SetWriteDeadline(time.Now().Add(f.opt.WriteTimeout))
			if _, werr := b.tc.Write(buf[:n]); werr != nil {
				b.abort()
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				b.finish()
			} else {
				b.abort()
			}
			return
		}
	}
}

// bridge is one TLS connection and, once handshaken, its end of the pair.
type bridge struct {
	raw net.Conn

	mu      sync.Mutex
	tc      *tls.Conn
	pair    *net.UnixConn
	aborted bool
}

// attach records the handshaken connection and the pair; false if the
// bridge was aborted meanwhile (the pair is then closed here).
func (b *bridge) attach(tc *tls.Conn, pair *net.UnixConn) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.aborted {
		pair.Close()
		return false
	}
	b.tc, b.pair = tc, pair
	return true
}

// abort closes both sides at once. Idempotent.
func (b *bridge) abort() {
	b.mu.Lock()
	b.aborted = true
	pair := b.pair
	b.mu.Unlock()
	_ = b.raw.Close()
	if pair != nil {
		_ = pair.Close()
	}
}

// finish ends a bridge whose Group side closed: close_notify to the client
// (bounded by crypto/tls's own 5 s write deadline), then both closed.
func (b *bridge) finish() {
	_ = b.tc.Close()
	b.abort()
}

// socketpair returns a connected unix stream pair: fd (non-blocking,
// close-on-exec) for the Group, and the other end as a net.UnixConn on
// the Go runtime's poller.
func socketpair() (int, *net.UnixConn, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, nil, fmt.Errorf("tlsfront: socketpair: %w", err)
	}
	file := os.NewFile(uintptr(fds[1]), "tlsfront-pair")
	nc, err := net.FileConn(file) // dups the descriptor
	file.Close()
	if err != nil {
		_ = unix.Close(fds[0])
		return -1, nil, fmt.Errorf("tlsfront: socketpair conn: %w", err)
	}
	return fds[0], nc.(*net.UnixConn), nil
}

// addrPort is a TCP address as a value (zero when it is not one).
func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}
