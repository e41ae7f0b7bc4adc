package shutdown

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"teamtalk/netloop"
	"teamtalk/wire"
)

// syncBuffer is a log sink safe for the loops' goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// flooder queues more bytes to every new connection than the socket takes.
type flooder struct{ opened chan struct{} }

func (f flooder) OnOpen(c *netloop.Conn) {
	frame := wire.AppendFrame(nil, wire.NewHeader(0x0701, 0), make([]byte, 1<<20))
	for range 32 {
		_ = c.Write(frame)
	}
	close(f.opened)
}
func (flooder) OnFrame(*netloop.Conn, []byte) {}
func (flooder) OnClose(*netloop.Conn, error)  {}

func TestGroup(t *testing.T) {
	tests := []struct {
		name    string
		stalled bool // a peer that never reads keeps bytes queued
		wantErr bool
	}{
		{"idle group stops quietly", false, false},
		{"queued bytes past the bound are logged", true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := netloop.New(netloop.Options{Owner: "test", Loops: 1, Tick: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if err := g.Start(); err != nil {
				t.Fatal(err)
			}
			f := flooder{opened: make(chan struct{})}
			ln, err := g.Listen("127.0.0.1:0", f, netloop.ListenOptions{WriteBound: 64 << 20})
			if err != nil {
				t.Fatal(err)
			}
			if tc.stalled {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				select {
				case <-f.opened:
				case <-time.After(10 * time.Second):
					t.Fatal("connection not opened")
				}
			}
			var logs syncBuffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			if clean := Group(g, 50*time.Millisecond, log, "route"); clean == tc.wantErr {
				t.Fatalf("Group reports clean %v, want %v", clean, !tc.wantErr)
			}
			logged := strings.Contains(logs.String(), "route: netloop stop cut short")
			if logged != tc.wantErr {
				t.Fatalf("logged %v, want %v: %q", logged, tc.wantErr, logs.String())
			}
		})
	}
	if !Group(nil, 0, nil, "none") {
		t.Fatal("Group(nil) is not clean")
	}
}
