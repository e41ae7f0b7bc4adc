package netloop

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"teamtalk/wire"
)

const waitFor = 10 * time.Second

// mkFrame builds a frame with the given command and body.
func mkFrame(cmd uint16, body []byte) []byte {
	f := make([]byte, wire.HeaderLen+len(body))
	wire.Header{Length: uint32(len(f)), Version: wire.Version, ServiceID: 7, CommandID: cmd}.Put(f)
	copy(f[wire.HeaderLen:], body)
	return f
}

type closeEvent struct {
	id  ConnID
	err error
}

// recorder is a Handler that records events on channels and can run a
// per-frame hook.
type recorder struct {
	opens   chan *Conn
	frames  chan []byte
	closes  chan closeEvent
	onOpen  func(c *Conn)
	onFrame func(c *Conn, f []byte)
}

func newRecorder() *recorder {
	return &recorder{
		opens:  make(chan *Conn, 1024),
		frames: make(chan []byte, 1<<16),
		closes: make(chan closeEvent, 1024),
	}
}

func (r *recorder) OnOpen(c *Conn) {
	if r.onOpen != nil {
		r.onOpen(c)
	}
	r.opens <- c
}

func (r *recorder) OnFrame(c *Conn, f []byte) {
	if r.onFrame != nil {
		r.onFrame(c, f)
		return
	}
	r.frames <- bytes.Clone(f)
}

func (r *recorder) OnClose(c *Conn, err error) { r.closes <- closeEvent{c.ID(), err} }

func (r *recorder) open(t *testing.T) *Conn {
	t.Helper()
	select {
	case c := <-r.opens:
		return c
	case <-time.After(waitFor):
		t.Fatal("no OnOpen")
	}
	return nil
}

func (r *recorder) frame(t *testing.T) []byte {
	t.Helper()
	select {
	case f := <-r.frames:
		return f
	case <-time.After(waitFor):
		t.Fatal("no OnFrame")
	}
	return nil
}

func (r *recorder) closed(t *testing.T) closeEvent {
	t.Helper()
	select {
	case e := <-r.closes:
		return e
	case <-time.After(waitFor):
		t.Fatal("no OnClose")
	}
	return closeEvent{}
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startGroup starts a Group and stops it when the test ends.
func startGroup(t testing.TB, opt Options) *Group {
	t.Helper()
	if opt.Owner == "" {
		opt.Owner = "test"
	}
	if opt.Logger == nil {
		opt.Logger = testLogger(t)
	}
	if opt.Tick == 0 {
		opt.Tick = 50 * time.Millisecond
	}
	if opt.Loops == 0 {
		opt.Loops = 2
	}
	g, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := g.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return g
}

// listen starts a listener on 127.0.0.1:0.
func listen(t testing.TB, g *Group, h Handler, lo ListenOptions) *Listener {
	t.Helper()
	ln, err := g.Listen("127.0.0.1:0", h, lo)
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// dialTCP connects a plain net client to ln.
func dialTCP(t testing.TB, ln *Listener) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), waitFor)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// readFrame reads one frame from a net.Conn.
func readFrame(r io.Reader) ([]byte, error) {
	var h [wire.HeaderLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(h[:])
	f := make([]byte, n)
	copy(f, h[:])
	if _, err := io.ReadFull(r, f[wire.HeaderLen:]); err != nil {
		return nil, err
	}
	return f, nil
}

// eventually polls cond until it holds or the generous timeout passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// echo is a Handler that writes every frame back.
type echo struct {
	mu     sync.Mutex
	closed []error
}

func (e *echo) OnOpen(*Conn) {}
func (e *echo) OnFrame(c *Conn, f []byte) {
	_ = c.Write(f)
}
func (e *echo) OnClose(_ *Conn, err error) {
	e.mu.Lock()
	e.closed = append(e.closed, err)
	e.mu.Unlock()
}
