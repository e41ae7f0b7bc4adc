package netloop

import (
	"net/netip"

	"teamtalk/netloop/internal/poll"
)

// Adopt hands the Group a connected stream socket it neither accepted nor
// dialed — typically one end of a unix socketpair whose other end is
// bridged to a TLS connection — and serves it with h exactly like an
// accepted connection: lo's frame limit, write bound and idle timeout
// apply, OnOpen runs on its loop, and Conn.RemoteAddr / LocalAddr report
// remote and local (the addresses of the real client, not of the pair).
//
// fd must be non-blocking and close-on-exec. The Group owns it from the
// call on: it is closed with the connection, and at once when Adopt fails
// (ErrStopped, ErrNotStarted). Safe from any goroutine.
func (g *Group) Adopt(fd int, h Handler, lo ListenOptions, local, remote netip.AddrPort) (ConnID, error) {
	if err := g.usable(); err != nil {
		_ = poll.Close(fd)
		return 0, err
	}
	lo.defaults()
	target := g.leastLoaded()
	c := newConn(g, target, fd, h, lo.MaxFrame, lo.WriteBound)
	c.setRemote(netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port()))
	la := netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
	c.local = &la
	c.idleTO.Store(int64(lo.IdleTimeout))
	g.register(c)
	target.counters.accepted.Add(1)
	if !target.post(func() { target.register(c, 0) }) {
		_ = poll.Close(fd)
		g.unregister(c)
		return 0, ErrStopped
	}
	if g.stopped.Load() {
		// Stop may have listed the connections before this one joined:
		// close it so Stop's drain does not wait for it.
		c.closeWith(ErrStopped)
	}
	return c.id, nil
}
