//go:build linux

// Package poll is netloop's platform layer: epoll, an eventfd to wake a
// poller from other goroutines, and the TCP socket calls netloop needs. It is
// the only place in the module that makes raw syscalls.
//
// Every descriptor it creates is close-on-exec and non-blocking, every call
// that can fail with EINTR is retried, and the poller is level-triggered.
package poll

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Readiness bits reported in Event.Events and accepted by Add and Mod.
const (
	In  = uint32(unix.EPOLLIN)
	Out = uint32(unix.EPOLLOUT)
	Err = uint32(unix.EPOLLERR)
	Hup = uint32(unix.EPOLLHUP)
)

// Event is one readiness report: the descriptor, the tag it was registered
// with, and the ready bits.
type Event struct {
	Fd     int
	Tag    uint32
	Events uint32
}

// Poller is one epoll instance plus an eventfd registered in it for wake-ups.
// Add, Mod, Del and Wake may be called from any goroutine; Wait from one.
type Poller struct {
	epfd int
	evfd int
	raw  []unix.EpollEvent
}

// New creates a poller able to report up to batch events per Wait.
func New(batch int) (*Poller, error) {
	if batch <= 0 {
		batch = 256
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("poll: epoll_create1: %w", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("poll: eventfd: %w", err)
	}
	p := &Poller{epfd: epfd, evfd: evfd, raw: make([]unix.EpollEvent, batch)}
	if err := p.Add(evfd, In, 0); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// WakeFd is the eventfd's descriptor: an Event with this Fd means Wake was
// called; the caller must then call DrainWake.
func (p *Poller) WakeFd() int { return p.evfd }

func (p *Poller) ctl(op, fd int, events, tag uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(fd), Pad: int32(tag)}
	for {
		err := unix.EpollCtl(p.epfd, op, fd, &ev)
		if err == unix.EINTR {
			continue
		}
		return err
	}
}

// Add registers fd for the given readiness bits; tag comes back in its events.
func (p *Poller) Add(fd int, events, tag uint32) error {
	if err := p.ctl(unix.EPOLL_CTL_ADD, fd, events, tag); err != nil {
		return fmt.Errorf("poll: epoll add fd %d: %w", fd, err)
	}
	return nil
}

// Mod changes the readiness bits (and tag) of a registered fd.
func (p *Poller) Mod(fd int, events, tag uint32) error {
	if err := p.ctl(unix.EPOLL_CTL_MOD, fd, events, tag); err != nil {
		return fmt.Errorf("poll: epoll mod fd %d: %w", fd, err)
	}
	return nil
}

// Del unregisters fd.
func (p *Poller) Del(fd int) error {
	if err := p.ctl(unix.EPOLL_CTL_DEL, fd, 0, 0); err != nil {
		return fmt.Errorf("poll: epoll del fd %d: %w", fd, err)
	}
	return nil
}

// Wait blocks up to msec milliseconds (-1: no limit) and appends the ready
// events to evs[:0]. EINTR is retried with the same timeout.
func (p *Poller) Wait(evs []Event, msec int) ([]Event, error) {
	evs = evs[:0]
	for {
		n, err := unix.EpollWait(p.epfd, p.raw, msec)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return evs, fmt.Errorf("poll: epoll_wait: %w", err)
		}
		for i := 0; i < n; i++ {
			r := &p.raw[i]
			evs = append(evs, Event{Fd: int(r.Fd), Tag: uint32(r.Pad), Events: r.Events})
		}
		return evs, nil
	}
}

// Wake makes a concurrent or future Wait return.
func (p *Poller) Wake() error {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	for {
		_, err := unix.Write(p.evfd, one[:])
		switch err {
		case nil, unix.EAGAIN: // EAGAIN: the counter is saturated; a wake is pending anyway
			return nil
		case unix.EINTR:
			continue
		default:
			return fmt.Errorf("poll: eventfd write: %w", err)
		}
	}
}

// DrainWake resets the eventfd after a wake-up.
func (p *Poller) DrainWake() {
	var b [8]byte
	for {
		_, err := unix.Read(p.evfd, b[:])
		if err == unix.EINTR {
			continue
		}
		return
	}
}

// Close releases the epoll instance and the eventfd.
func (p *Poller) Close() error {
	err1 := unix.Close(p.evfd)
	err2 := unix.Close(p.epfd)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("poll: close: %w", err)
	}
	return nil
}

// Somaxconn reads the system's listen backlog limit, or returns 4096 when it
// cannot be read.
func Somaxconn() int {
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err != nil {
		return 4096
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 0 {
		return 4096
	}
	return n
}

func sockaddr(a *net.TCPAddr) (unix.Sockaddr, int, error) {
	if a.IP == nil || a.IP.To4() != nil {
		sa := &unix.SockaddrInet4{Port: a.Port}
		if a.IP != nil {
			copy(sa.Addr[:], a.IP.To4())
		}
		return sa, unix.AF_INET, nil
	}
	if ip6 := a.IP.To16(); ip6 != nil {
		sa := &unix.SockaddrInet6{Port: a.Port}
		copy(sa.Addr[:], ip6)
		if a.Zone != "" {
			if ifi, err := net.InterfaceByName(a.Zone); err == nil {
				sa.ZoneId = uint32(ifi.Index)
			}
		}
		return sa, unix.AF_INET6, nil
	}
	return nil, 0, fmt.Errorf("poll: bad address %v", a)
}

// AddrPort converts a socket address to a netip.AddrPort (the zero value if
// not TCP/IP) without allocating for IPv4 and zone-less IPv6.
func AddrPort(sa unix.Sockaddr) netip.AddrPort {
	switch s := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(s.Addr), uint16(s.Port))
	case *unix.SockaddrInet6:
		a := netip.AddrFrom16(s.Addr)
		if s.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(s.ZoneId)); err == nil {
				a = a.WithZone(ifi.Name)
			}
		}
		return netip.AddrPortFrom(a, uint16(s.Port))
	}
	return netip.AddrPort{}
}

// TCPAddr converts a socket address to a *net.TCPAddr (nil if not TCP/IP).
func TCPAddr(sa unix.Sockaddr) *net.TCPAddr {
	switch s := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IPv4(s.Addr[0], s.Addr[1], s.Addr[2], s.Addr[3]), Port: s.Port}
	case *unix.SockaddrInet6:
		ip := make(net.IP, net.IPv6len)
		copy(ip, s.Addr[:])
		zone := ""
		if s.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(s.ZoneId)); err == nil {
				zone = ifi.Name
			}
		}
		return &net.TCPAddr{IP: ip, Port: s.Port, Zone: zone}
	}
	return nil
}

func socket(family int) (int, error) {
	for {
		fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
		if err == unix.EINTR {
			continue
		}
		return fd, err
	}
}

// Listen creates a non-blocking TCP listener on addr with SO_REUSEADDR and
// the given backlog, and returns it with the address actually bound.
func Listen(addr *net.TCPAddr, backlog int) (int, *net.TCPAddr, error) {
	sa, family, err := sockaddr(addr)
	if err != nil {
		return -1, nil, err
	}
	fd, err := socket(family)
	if err != nil {
		return -1, nil, fmt.Errorf("poll: listen %v: socket: %w", addr, err)
	}
	fail := func(op string, err error) (int, *net.TCPAddr, error) {
		unix.Close(fd)
		return -1, nil, fmt.Errorf("poll: listen %v: %s: %w", addr, op, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("SO_REUSEADDR", err)
	}
	// Accepted sockets inherit TCP_NODELAY from the listener (Linux copies
	// the option into each child), which saves Accept a setsockopt each.
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		return fail("TCP_NODELAY", err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		return fail("listen", err)
	}
	bound, err := unix.Getsockname(fd)
	if err != nil {
		return fail("getsockname", err)
	}
	return fd, TCPAddr(bound), nil
}

// Accept takes one pending connection from the listener lfd. The new socket
// is non-blocking, close-on-exec and has TCP_NODELAY set (inherited from the
// listener). It returns unix.EAGAIN (test with IsAgain) when none is pending.
//
// It calls accept4 itself rather than unix.Accept4, whose address decoding
// asks the kernel for the listener's protocol (a getsockopt per accepted
// connection, to recognise L2TP) and allocates a Sockaddr.
func Accept(lfd int) (int, netip.AddrPort, error) {
	var rsa unix.RawSockaddrAny
	for {
		n := uint32(unix.SizeofSockaddrAny)
		r, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(lfd), uintptr(unsafe.Pointer(&rsa)),
			uintptr(unsafe.Pointer(&n)), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		if e == unix.EINTR || e == unix.ECONNABORTED {
			continue
		}
		if e != 0 {
			return -1, netip.AddrPort{}, e
		}
		return int(r), rawAddrPort(&rsa), nil
	}
}

// rawAddrPort decodes an IPv4 or IPv6 socket address as the kernel wrote it,
// the zero value for any other family.
func rawAddrPort(rsa *unix.RawSockaddrAny) netip.AddrPort {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&p.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom4(p.Addr), port)
	case unix.AF_INET6:
		p := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&p.Port))[:])
		return AddrPort(&unix.SockaddrInet6{Port: int(port), ZoneId: p.Scope_id, Addr: p.Addr})
	}
	return netip.AddrPort{}
}

// Dial starts a non-blocking connect to addr. The socket has TCP_NODELAY set.
// On success the connect is in progress (or already done): wait for the fd to
// become writable and then check SoError.
func Dial(addr *net.TCPAddr) (int, error) {
	sa, family, err := sockaddr(addr)
	if err != nil {
		return -1, err
	}
	fd, err := socket(family)
	if err != nil {
		return -1, fmt.Errorf("poll: dial %v: socket: %w", addr, err)
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	for {
		err = unix.Connect(fd, sa)
		if err == unix.EINTR {
			// The connect continues in the background; treat like EINPROGRESS.
			err = unix.EINPROGRESS
		}
		break
	}
	if err != nil && err != unix.EINPROGRESS {
		unix.Close(fd)
		return -1, fmt.Errorf("poll: dial %v: connect: %w", addr, err)
	}
	return fd, nil
}

// SoError reports the pending error of a socket (SO_ERROR), nil if none.
func SoError(fd int) error {
	v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return fmt.Errorf("poll: SO_ERROR: %w", err)
	}
	if v != 0 {
		return unix.Errno(v)
	}
	return nil
}

// LocalAddr returns the bound address of a socket, the zero value on error.
func LocalAddr(fd int) netip.AddrPort {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return netip.AddrPort{}
	}
	return AddrPort(sa)
}

// RemoteAddr returns the peer address of a connected socket, nil on error.
func RemoteAddr(fd int) *net.TCPAddr {
	sa, err := unix.Getpeername(fd)
	if err != nil {
		return nil
	}
	return TCPAddr(sa)
}

// Read reads into p, retrying EINTR. It returns (0, nil) at end of stream.
func Read(fd int, p []byte) (int, error) {
	for {
		n, err := unix.Read(fd, p)
		if err == unix.EINTR {
			continue
		}
		if n < 0 {
			n = 0
		}
		return n, err
	}
}

// Write writes p once, retrying EINTR; it may write less than len(p).
func Write(fd int, p []byte) (int, error) {
	for {
		n, err := unix.Write(fd, p)
		if err == unix.EINTR {
			continue
		}
		if n < 0 {
			n = 0
		}
		return n, err
	}
}

// SetLinger sets SO_LINGER; sec 0 makes Close send a reset.
func SetLinger(fd int, sec int) error {
	return unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: int32(sec)})
}

// Close closes fd, ignoring EINTR (the descriptor is released either way on Linux).
func Close(fd int) error {
	err := unix.Close(fd)
	if err == unix.EINTR {
		return nil
	}
	return err
}

// IsAgain reports whether err means "would block".
func IsAgain(err error) bool { return errors.Is(err, unix.EAGAIN) }

// IsFDLimit reports whether err means the process or system is out of file
// descriptors (EMFILE, ENFILE), or the kernel out of socket memory.
func IsFDLimit(err error) bool {
	return errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) ||
		errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.ENOMEM)
}
