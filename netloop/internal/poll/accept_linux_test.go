//go:build linux

package poll

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestAccept checks that Accept reports the peer's address as the kernel
// gave it and that the accepted socket inherited TCP_NODELAY and is
// non-blocking.
func TestAccept(t *testing.T) {
	for _, tc := range []struct{ name, addr string }{
		{"ipv4", "127.0.0.1:0"},
		{"ipv6", "[::1]:0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			la, err := net.ResolveTCPAddr("tcp", tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			lfd, bound, err := Listen(la, 16)
			if err != nil {
				t.Skipf("listen %s: %v", tc.addr, err)
			}
			defer Close(lfd)
			if _, _, err := Accept(lfd); !IsAgain(err) {
				t.Fatalf("Accept with nothing pending: err %v, want EAGAIN", err)
			}
			c, err := net.DialTCP("tcp", nil, bound)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var fd int
			var ra netip.AddrPort
			for deadline := time.Now().Add(5 * time.Second); ; {
				fd, ra, err = Accept(lfd)
				if err == nil || !IsAgain(err) || time.Now().After(deadline) {
					break
				}
				time.Sleep(time.Millisecond)
			}
			if err != nil {
				t.Fatalf("Accept: %v", err)
			}
			defer Close(fd)
			if want := c.LocalAddr().(*net.TCPAddr).AddrPort(); ra != want {
				t.Errorf("remote %v, want %v", ra, want)
			}
			if v, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY); err != nil || v == 0 {
				t.Errorf("TCP_NODELAY = %d, %v; want set", v, err)
			}
			if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err != nil || fl&unix.O_NONBLOCK == 0 {
				t.Errorf("flags %#x, %v; want O_NONBLOCK", fl, err)
			}
		})
	}
}
