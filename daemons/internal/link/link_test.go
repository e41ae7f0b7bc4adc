package link

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"teamtalk/daemons/internal/servicetest"
	"teamtalk/netloop"
	"teamtalk/wire"
)

const waitLong = 5 * time.Second

// fastCfg is a sub-second link config for tests.
var fastCfg = Config{Heartbeat: 40 * time.Millisecond, Timeout: 2 * time.Second, ReconnectMin: 20 * time.Millisecond, ReconnectMax: 80 * time.Millisecond}

func newGroup(t *testing.T) *netloop.Group {
	t.Helper()
	g, err := netloop.New(netloop.Options{Owner: "linktest", Loops: 2, Tick: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = g.Stop(ctx)
	})
	return g
}

// peer is a plain-socket TeamTalk server: it accepts connections and
// reports every frame it reads.
type peer struct {
	t      *testing.T
	ln     net.Listener
	frames chan peerFrame
	conns  chan net.Conn
	wg     sync.WaitGroup
	mu     sync.Mutex
	open   []net.Conn
}

type peerFrame struct {
	conn  net.Conn
	hdr   wire.Header
	frame []byte
}

func newPeer(t *testing.T, addr string) *peer {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{t: t, ln: ln, frames: make(chan peerFrame, 1024), conns: make(chan net.Conn, 16)}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.stop)
	return p
}

func (p *peer) addr() string { return p.ln.Addr().String() }

func (p *peer) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.open = append(p.open, c)
		p.mu.Unlock()
		p.conns <- c
		p.wg.Add(1)
		go p.read(c)
	}
}

func (p *peer) read(c net.Conn) {
	defer p.wg.Done()
	d := wire.NewDecoder(wire.MaxServerFrame)
	for {
		if _, err := d.Fill(c); err != nil {
			return
		}
		for {
			f, err := d.Next()
			if err != nil || f == nil {
				break
			}
			p.frames <- peerFrame{conn: c, hdr: wire.ParseHeader(f), frame: append([]byte(nil), f...)}
		}
	}
}

// stop closes the listener and every accepted connection and waits.
func (p *peer) stop() {
	_ = p.ln.Close()
	p.mu.Lock()
	for _, c := range p.open {
		_ = c.Close()
	}
	p.open = nil
	p.mu.Unlock()
	p.wg.Wait()
}

// expect waits for a frame with command cmd (skipping others).
func (p *peer) expect(cmd uint16) peerFrame {
	p.t.Helper()
	deadline := time.After(waitLong)
	for {
		select {
		case f := <-p.frames:
			if f.hdr.CommandID == cmd {
				return f
			}
		case <-deadline:
			p.t.Fatalf("no frame 0x%04x within %v", cmd, waitLong)
		}
	}
}

func regFrame() []byte {
	return wire.AppendFrame(nil, wire.NewHeader(0x0709, 0), []byte{0x0a, 0x01, 'x'})
}

func TestReconnectAfterPeerRestart(t *testing.T) {
	g := newGroup(t)
	p1 := newPeer(t, "127.0.0.1:0")
	var addr atomic.Value
	addr.Store(p1.addr())
	var confirmed, closed atomic.Int32
	pool := NewPool(g, PoolOptions{
		Service: "test", Entries: []string{"peer"}, Config: fastCfg,
		Resolve: func(string) (string, error) { return addr.Load().(string), nil },
		Callbacks: Callbacks{
			Confirmed: func(l *Link) { confirmed.Add(1); _ = l.Send(regFrame()) },
			Closed:    func(*Link, error) { closed.Add(1) },
		},
	})
	pool.Start()
	defer pool.Stop()

	p1.expect(0x0709)
	servicetest.Eventually(t, "usable", func() bool { return pool.Any() != nil })

	// The peer goes away and comes back on another address: the pool
	// resolves again and re-registers.
	p1.stop()
	servicetest.Eventually(t, "closed callback", func() bool { return closed.Load() == 1 })
	p2 := newPeer(t, "127.0.0.1:0")
	addr.Store(p2.addr())
	p2.expect(0x0709)
	servicetest.Eventually(t, "second confirm", func() bool { return confirmed.Load() == 2 })
	st := pool.Status()
	if len(st) != 1 || st[0].State != "open" || st[0].Reconnects != 1 || st[0].Addr != p2.addr() {
		t.Fatalf("status after reconnect = %+v", st)
	}
	if ps := pool.Peers(); len(ps) != 1 || !ps[0].Connected || ps[0].Addr != p2.addr() || ps[0].Service != "test" {
		t.Fatalf("peers = %+v", ps)
	}
}

func TestBackoffDoublesAndResets(t *testing.T) {
	g := newGroup(t)
	// A port nobody listens on: bind, note, close.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close()

	var mu sync.Mutex
	var tries []time.Time
	var target atomic.Value
	target.Store(dead)
	cfg := Config{Heartbeat: time.Second, Timeout: 5 * time.Second, ReconnectMin: 30 * time.Millisecond, ReconnectMax: 120 * time.Millisecond}
	pool := NewPool(g, PoolOptions{
		Service: "test", Entries: []string{"x"}, Config: cfg,
		Resolve: func(string) (string, error) {
			mu.Lock()
			tries = append(tries, time.Now())
			mu.Unlock()
			return target.Load().(string), nil
		},
	})
	pool.Start()
	defer pool.Stop()
	servicetest.Eventually(t, "6 attempts", func() bool { mu.Lock(); defer mu.Unlock(); return len(tries) >= 6 })

	mu.Lock()
	got := append([]time.Time(nil), tries...)
	mu.Unlock()
	// Gaps are at least 30, 60, 120, 120, 120 ms (timers never fire early).
	want := []time.Duration{30, 60, 120, 120, 120}
	for i, w := range want {
		if gap := got[i+1].Sub(got[i]); gap < w*time.Millisecond {
			t.Errorf("gap %d = %v, want >= %v ms", i, gap, w)
		}
	}
	if st := pool.Status(); st[0].Attempts < 6 || st[0].LastError == "" {
		t.Errorf("status after failures = %+v", st[0])
	}

	// A success resets the backoff to the minimum.
	p := newPeer(t, "127.0.0.1:0")
	target.Store(p.addr())
	servicetest.Eventually(t, "connect", func() bool { return pool.Any() != nil })
	pool.mu.Lock()
	b := pool.links[0].backoff
	pool.mu.Unlock()
	if b != cfg.ReconnectMin {
		t.Errorf("backoff after success = %v, want %v", b, cfg.ReconnectMin)
	}
	if st := pool.Status(); st[0].Attempts != 0 || st[0].LastError != "" {
		t.Errorf("status after success = %+v", st[0])
	}
}

func TestHeartbeatWhenIdleAndTimeout(t *testing.T) {
	g := newGroup(t)
	p := newPeer(t, "127.0.0.1:0")
	cfg := Config{Heartbeat: 30 * time.Millisecond, Timeout: 300 * time.Millisecond, ReconnectMin: time.Hour, ReconnectMax: time.Hour}
	closed := make(chan error, 4)
	pool := NewPool(g, PoolOptions{
		Service: "test", Entries: []string{p.addr()}, Config: cfg,
		Callbacks: Callbacks{Closed: func(_ *Link, err error) { closed <- err }},
	})
	pool.Start()
	defer pool.Stop()

	f := p.expect(CmdHeartbeat)
	if len(f.frame) != 16 || f.hdr.ServiceID != 7 || f.hdr.Seq != 0 || f.hdr.Version != 1 {
		t.Fatalf("heartbeat frame = % x", f.frame)
	}
	p.expect(CmdHeartbeat) // and again while idle
	// The peer never sends anything: the link closes after the timeout.
	select {
	case err := <-closed:
		if !errors.Is(err, netloop.ErrIdleTimeout) {
			t.Fatalf("close error = %v, want idle timeout", err)
		}
	case <-time.After(waitLong):
		t.Fatal("silent link not closed")
	}
}

func TestFramesAndStopReceive(t *testing.T) {
	g := newGroup(t)
	p := newPeer(t, "127.0.0.1:0")
	got := make(chan uint16, 16)
	pool := NewPool(g, PoolOptions{
		Service: "db", Entries: []string{p.addr()}, Config: fastCfg,
		Callbacks: Callbacks{Frame: func(_ *Link, f []byte) { got <- wire.ParseHeader(f).CommandID }},
	})
	pool.Start()
	defer pool.Stop()
	var c net.Conn
	select {
	case c = <-p.conns:
	case <-time.After(waitLong):
		t.Fatal("no connection")
	}
	servicetest.Eventually(t, "usable", func() bool { return pool.Any() != nil })
	for _, cmd := range []uint16{CmdHeartbeat, 0x0704, CmdStopReceive} {
		if _, err := c.Write(wire.AppendFrame(nil, wire.NewHeader(cmd, 3), nil)); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []uint16{0x0704, CmdStopReceive} { // heartbeats are not passed on
		select {
		case cmd := <-got:
			if cmd != want {
				t.Fatalf("frame 0x%04x, want 0x%04x", cmd, want)
			}
		case <-time.After(waitLong):
			t.Fatalf("frame 0x%04x not delivered", want)
		}
	}
	if pool.Any() != nil || pool.Links()[0].State() != StateUnusable {
		t.Fatalf("link still usable after 0x0702: %v", pool.Links()[0].State())
	}
	if err := pool.SendAny(regFrame()); !errors.Is(err, ErrNoLink) {
		t.Fatalf("SendAny on unusable pool = %v", err)
	}
	// It becomes usable again after reconnecting.
	_ = c.Close()
	servicetest.Eventually(t, "usable again", func() bool { return pool.Any() != nil })
}

func TestMasterSelection(t *testing.T) {
	g := newGroup(t)
	p1 := newPeer(t, "127.0.0.1:0")
	p2 := newPeer(t, "127.0.0.1:0")
	masters := make(chan string, 8)
	var order []string
	var mu sync.Mutex
	pool := NewPool(g, PoolOptions{
		Service: "route", Entries: []string{p1.addr(), p2.addr()}, Config: fastCfg,
		Callbacks: Callbacks{
			Master: func(l *Link) {
				mu.Lock()
				order = append(order, "master "+l.Entry())
				mu.Unlock()
				_ = l.Send(wire.AppendFrame(nil, wire.NewHeader(0x0707, 0), []byte{0x08, 0x01}))
				masters <- l.Entry()
			},
			Confirmed: func(l *Link) {
				mu.Lock()
				order = append(order, "confirmed "+l.Entry())
				mu.Unlock()
			},
		},
	})
	pool.Start()
	defer pool.Stop()

	var first string
	select {
	case first = <-masters:
	case <-time.After(waitLong):
		t.Fatal("no master chosen")
	}
	servicetest.Eventually(t, "both usable", func() bool { return len(pool.Usable()) == 2 })
	if m := pool.Master(); m == nil || m.Entry() != first {
		t.Fatalf("master = %v, want %s", m, first)
	}
	// The promise is per link (Callbacks.Master: "before its Confirmed");
	// the other link's Confirmed may come between the two on another loop,
	// and a link can be usable a moment before its Confirmed ran.
	own := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var es []string
		for _, e := range order {
			if strings.HasSuffix(e, " "+first) {
				es = append(es, e)
			}
		}
		return es
	}
	servicetest.Eventually(t, "the master's Confirmed", func() bool { return len(own()) >= 2 })
	if es := own(); es[0] != "master "+first || es[1] != "confirmed "+first {
		t.Errorf("master hook must run before confirmed: %v", es)
	}
	firstPeer, otherPeer, other := p1, p2, p2.addr()
	if first == p2.addr() {
		firstPeer, otherPeer, other = p2, p1, p1.addr()
	}
	firstPeer.expect(0x0707)
	select {
	case m := <-masters:
		t.Fatalf("second master %s while the first is open", m)
	default:
	}

	// The master's peer dies: the other link takes over and gets IMRoleSet.
	firstPeer.stop()
	select {
	case m := <-masters:
		if m != other {
			t.Fatalf("new master %s, want %s", m, other)
		}
	case <-time.After(waitLong):
		t.Fatal("master not re-chosen")
	}
	otherPeer.expect(0x0707)
	if err := pool.SendMaster(regFrame()); err != nil {
		t.Fatal(err)
	}
	otherPeer.expect(0x0709)
	if n := pool.Broadcast(regFrame()); n != 1 {
		t.Fatalf("broadcast reached %d links, want 1", n)
	}
}

func TestInboundHeartbeatAndTimeout(t *testing.T) {
	g := newGroup(t)
	in := NewInbound(g, Config{Heartbeat: 30 * time.Millisecond, Timeout: 400 * time.Millisecond})
	in.Start()
	defer in.Stop()
	h := &inHandler{in: in}
	ln, err := g.Listen("127.0.0.1:0", h, in.ListenOptions())
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d := wire.NewDecoder(0)
	_ = c.SetReadDeadline(time.Now().Add(waitLong))
	var hbs int
	start := time.Now()
	for {
		if _, err := d.Fill(c); err != nil {
			// The silent client is closed by the server.
			if hbs < 2 {
				t.Fatalf("closed (%v) after %d heartbeats", err, hbs)
			}
			if time.Since(start) < 400*time.Millisecond {
				t.Fatalf("closed after %v, before the timeout", time.Since(start))
			}
			break
		}
		for f, _ := d.Next(); f != nil; f, _ = d.Next() {
			if !IsHeartbeat(f) || len(f) != 16 {
				t.Fatalf("unexpected frame % x", f)
			}
			hbs++
		}
	}
	servicetest.Eventually(t, "untracked", func() bool { return in.Len() == 0 })
}

type inHandler struct{ in *Inbound }

func (h *inHandler) OnOpen(c *netloop.Conn)           { h.in.Opened(c) }
func (h *inHandler) OnFrame(*netloop.Conn, []byte)    {}
func (h *inHandler) OnClose(c *netloop.Conn, _ error) { h.in.Closed(c.ID()) }

func TestConfigTick(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want time.Duration
	}{
		{"defaults", Config{}, time.Second},
		{"fast", Config{Heartbeat: 40 * time.Millisecond, Timeout: time.Second}, 10 * time.Millisecond},
		{"floor", Config{Heartbeat: time.Millisecond, Timeout: time.Second}, 5 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.cfg.Tick(); got != tc.want {
				t.Fatalf("Tick = %v, want %v", got, tc.want)
			}
		})
	}
}
