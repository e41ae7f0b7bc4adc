package netloop

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"teamtalk/netloop/internal/poll"
)

// Listener accepts connections on one address for a Group and hands each to
// the Group's least-loaded loop. It lives on loop 0.
type Listener struct {
	g    *Group
	l    *loop
	fd   int
	addr *net.TCPAddr
	// local is addr as the local address of accepted connections, unless
	// anyLocal (addr is 0.0.0.0 or ::): then each asks the kernel.
	local    netip.AddrPort
	anyLocal bool
	h        Handler
	opt      ListenOptions

	// loop-owned
	paused bool
	inPoll bool

	closing  atomic.Bool
	accepted atomic.Uint64
	once     sync.Once
	done     chan struct{}
}

// Addr is the bound address (with the real port when listening on port 0).
func (ln *Listener) Addr() net.Addr { return ln.addr }

// Accepted is how many connections the listener has accepted.
func (ln *Listener) Accepted() uint64 { return ln.accepted.Load() }

// Close stops accepting; connections already accepted stay open. It returns
// once the listening socket is closed.
func (ln *Listener) Close() error {
	if ln.closing.Swap(true) {
		<-ln.done
		return nil
	}
	if !ln.l.post(func() { ln.l.removeListener(ln) }) {
		// The loop is gone; shutdown closed (or will close) the socket.
		<-ln.done
		return nil
	}
	<-ln.done
	return nil
}

func (ln *Listener) finish() {
	ln.once.Do(func() {
		ln.g.lnMu.Lock()
		delete(ln.g.listeners, ln)
		ln.g.lnMu.Unlock()
		close(ln.done)
	})
}

func (l *loop) addListener(ln *Listener) {
	if ln.closing.Load() {
		poll.Close(ln.fd)
		ln.finish()
		return
	}
	l.listeners[ln.fd] = ln
	if err := l.p.Add(ln.fd, poll.In, 0); err != nil {
		l.g.log.Error("netloop: register listener", "addr", ln.addr.String(), "err", err)
		return
	}
	ln.inPoll = true
}

func (l *loop) removeListener(ln *Listener) {
	if l.listeners[ln.fd] == ln {
		if ln.inPoll {
			_ = l.p.Del(ln.fd)
		}
		delete(l.listeners, ln.fd)
	}
	poll.Close(ln.fd)
	ln.finish()
}

// accept takes pending connections (a bounded batch per event, for fairness)
// and hands them to loops. On EMFILE/ENFILE it stops polling the listener
// for Options.AcceptPause instead of spinning.
func (ln *Listener) accept(l *loop) {
	g := l.g
	for range 64 {
		if ln.closing.Load() {
			return
		}
		fd, ra, err := poll.Accept(ln.fd)
		if err != nil {
			if poll.IsAgain(err) {
				return
			}
			if poll.IsFDLimit(err) {
				ln.pause(l, err)
				return
			}
			g.log.Warn("netloop: accept", "addr", ln.addr.String(), "err", err)
			return
		}
		ln.accepted.Add(1)
		target := g.leastLoaded()
		c := newConn(g, target, fd, ln.h, ln.opt.MaxFrame, ln.opt.WriteBound)
		c.setRemote(ra)
		c.local = &ln.local
		if ln.anyLocal {
			// Bound to every address: ask which one this connection took.
			la := poll.LocalAddr(fd)
			c.local = &la
		}
		c.idleTO.Store(int64(ln.opt.IdleTimeout))
		g.register(c)
		target.counters.accepted.Add(1)
		if target == l {
			l.register(c, 0)
		} else if !target.post(func() { target.register(c, 0) }) {
			poll.Close(fd)
			g.unregister(c)
		}
	}
}

func (ln *Listener) pause(l *loop, err error) {
	g := l.g
	if ln.paused {
		return
	}
	ln.paused = true
	l.counters.acceptPauses.Add(1)
	g.log.Warn("netloop: out of descriptors, pausing accept", "addr", ln.addr.String(),
		"pause", g.opt.AcceptPause, "err", err)
	if ln.inPoll {
		_ = l.p.Del(ln.fd)
		ln.inPoll = false
	}
	g.AddTimer(g.opt.AcceptPause, false, func() {
		ln.paused = false
		if ln.closing.Load() || l.listeners[ln.fd] != ln {
			return
		}
		if err := l.p.Add(ln.fd, poll.In, 0); err != nil {
			g.log.Error("netloop: resume accept", "addr", ln.addr.String(), "err", err)
			return
		}
		ln.inPoll = true
	})
}
