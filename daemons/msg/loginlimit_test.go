package msg

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestIPFails(t *testing.T) {
	a := netip.MustParseAddr("10.0.0.1")
	b := netip.MustParseAddr("10.0.0.2")
	t0 := time.Unix(1000, 0)
	type step struct {
		fail    bool // record a failure of addr, else check blocked
		addr    netip.Addr
		at      time.Duration
		blocked bool
	}
	tests := []struct {
		name  string
		limit int
		steps []step
	}{
		{name: "under the limit", limit: 3, steps: []step{
			{fail: true, addr: a}, {fail: true, addr: a, at: time.Second},
			{addr: a, at: 2 * time.Second, blocked: false},
		}},
		{name: "at the limit, only that address", limit: 2, steps: []step{
			{fail: true, addr: a}, {fail: true, addr: a, at: time.Second},
			{addr: a, at: 2 * time.Second, blocked: true},
			{addr: b, at: 2 * time.Second, blocked: false},
		}},
		{name: "window ends", limit: 2, steps: []step{
			{fail: true, addr: a}, {fail: true, addr: a, at: time.Second},
			{addr: a, at: 59 * time.Second, blocked: true},
			{addr: a, at: time.Minute, blocked: false},
			{fail: true, addr: a, at: time.Minute},
			{addr: a, at: time.Minute, blocked: false},
		}},
		{name: "disabled", limit: 0, steps: []step{
			{fail: true, addr: a}, {fail: true, addr: a}, {addr: a, blocked: false},
		}},
		{name: "no address", limit: 1, steps: []step{
			{fail: true}, {blocked: false},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newIPFails(tc.limit, time.Minute)
			for i, s := range tc.steps {
				if s.fail {
					f.fail(s.addr, t0.Add(s.at))
					continue
				}
				if got := f.blocked(s.addr, t0.Add(s.at)); got != s.blocked {
					t.Fatalf("step %d: blocked(%v) = %v, want %v", i, s.addr, got, s.blocked)
				}
			}
		})
	}
}

func TestIPFailsBounded(t *testing.T) {
	f := newIPFails(1, time.Minute)
	t0 := time.Unix(1000, 0)
	for i := 0; i < maxTrackedAddrs+10; i++ {
		f.fail(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), t0)
	}
	if len(f.m) != maxTrackedAddrs {
		t.Fatalf("tracking %d addresses, want the bound %d", len(f.m), maxTrackedAddrs)
	}
	// Once the windows ended, new addresses are tracked again.
	late := netip.MustParseAddr("192.168.1.1")
	f.fail(late, t0.Add(time.Minute))
	if !f.blocked(late, t0.Add(time.Minute)) || len(f.m) != 1 {
		t.Fatalf("after the sweep: %d tracked, blocked %v", len(f.m), f.blocked(late, t0.Add(time.Minute)))
	}
}

func TestAddrIP(t *testing.T) {
	tests := []struct {
		name string
		addr net.Addr
		want string
	}{
		{name: "v4", addr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 5}, want: "127.0.0.1"},
		{name: "v4 in v6", addr: &net.TCPAddr{IP: net.ParseIP("::ffff:10.1.2.3"), Port: 5}, want: "10.1.2.3"},
		{name: "v6", addr: &net.TCPAddr{IP: net.ParseIP("::1"), Port: 5}, want: "::1"},
		{name: "not tcp", addr: &net.UnixAddr{Name: "x"}, want: "invalid IP"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := addrIP(tc.addr).String(); got != tc.want {
				t.Fatalf("addrIP = %s, want %s", got, tc.want)
			}
		})
	}
}
