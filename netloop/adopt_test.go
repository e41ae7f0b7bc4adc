package netloop

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// socketpair returns a non-blocking close-on-exec pair: the fd for Adopt and
// the other end as a net.Conn.
func socketpair(t *testing.T) (int, net.Conn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fds[1]), "pair")
	nc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return fds[0], nc
}

func TestAdopt(t *testing.T) {
	local := netip.MustParseAddrPort("127.0.0.1:8443")
	remote := netip.MustParseAddrPort("[::ffff:10.1.2.3]:40000")
	cases := []struct {
		name string
		run  func(t *testing.T, g *Group, r *recorder, peer net.Conn, id ConnID)
	}{
		{"frames both ways and addresses", func(t *testing.T, g *Group, r *recorder, peer net.Conn, id ConnID) {
			c := r.open(t)
			if c.ID() != id {
				t.Fatalf("OnOpen id %d, Adopt returned %d", c.ID(), id)
			}
			if got := c.RemoteAddrPort().String(); got != "10.1.2.3:40000" {
				t.Errorf("remote %s, want 10.1.2.3:40000 (unmapped)", got)
			}
			if got := c.LocalAddr().String(); got != local.String() {
				t.Errorf("local %s, want %s", got, local)
			}
			in := mkFrame(0x0701, []byte("ping"))
			if _, err := peer.Write(in); err != nil {
				t.Fatal(err)
			}
			if got := r.frame(t); string(got) != string(in) {
				t.Fatalf("frame %x, want %x", got, in)
			}
			out := mkFrame(0x0702, []byte("pong"))
			if err := g.Write(id, out); err != nil {
				t.Fatal(err)
			}
			got, err := readFrame(peer)
			if err != nil || string(got) != string(out) {
				t.Fatalf("read %x, %v; want %x", got, err, out)
			}
		}},
		{"peer close reaches OnClose", func(t *testing.T, g *Group, r *recorder, peer net.Conn, id ConnID) {
			r.open(t)
			peer.Close()
			if e := r.closed(t); e.id != id {
				t.Fatalf("closed %d, want %d", e.id, id)
			}
			eventually(t, "connection gone", func() bool { return g.Conn(id) == nil })
		}},
		{"framing error closes the pair", func(t *testing.T, g *Group, r *recorder, peer net.Conn, id ConnID) {
			r.open(t)
			bad := mkFrame(1, nil)
			bad[3] = 3 // length 3 < 16
			if _, err := peer.Write(bad); err != nil {
				t.Fatal(err)
			}
			if e := r.closed(t); !errors.Is(e.err, ErrFraming) {
				t.Fatalf("close err %v, want ErrFraming", e.err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := startGroup(t, Options{})
			r := newRecorder()
			fd, peer := socketpair(t)
			id, err := g.Adopt(fd, r, ListenOptions{}, local, remote)
			if err != nil {
				t.Fatal(err)
			}
			tc.run(t, g, r, peer, id)
		})
	}
}

func TestAdoptStopped(t *testing.T) {
	g, err := New(Options{Owner: "test", Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	fd, peer := socketpair(t)
	if _, err := g.Adopt(fd, newRecorder(), ListenOptions{}, netip.AddrPort{}, netip.AddrPort{}); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("before Start: %v, want ErrNotStarted", err)
	}
	// The fd was closed: the peer sees end of stream.
	if n, err := peer.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("peer read %d, %v; want EOF", n, err)
	}
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	if err := g.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	fd2, _ := socketpair(t)
	if _, err := g.Adopt(fd2, newRecorder(), ListenOptions{}, netip.AddrPort{}, netip.AddrPort{}); !errors.Is(err, ErrStopped) {
		t.Fatalf("after Stop: %v, want ErrStopped", err)
	}
}

// TestAdoptStopClosesLive: Stop closes adopted connections like accepted ones.
func TestAdoptStopClosesLive(t *testing.T) {
	g, err := New(Options{Owner: "test", Loops: 2, Tick: 50e6})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	r := newRecorder()
	fd, peer := socketpair(t)
	if _, err := g.Adopt(fd, r, ListenOptions{}, netip.AddrPort{}, netip.AddrPort{}); err != nil {
		t.Fatal(err)
	}
	r.open(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := g.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if e := r.closed(t); !errors.Is(e.err, ErrStopped) {
		t.Fatalf("close err %v, want ErrStopped", e.err)
	}
	if n, err := peer.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("peer read %d, %v; want EOF", n, err)
	}
}
