package netloop

import "time"

// Deadlines for many connections are not one heap timer each. Every loop
// keeps one list per (kind, duration) class, ordered by the connection's
// mark (last activity, or when it entered the class): the oldest entry is at
// the head, so a sweep once per Tick only looks at the entries that expired
// plus one per class. Activity moves a connection to its list's tail in O(1).

type deadlineKind uint8

const (
	kindIdle    deadlineKind = iota + 1 // nothing received for d
	kindConnect                         // dial not completed within d
	kindFlush                           // closing, queue not flushed within d
)

type idleKey struct {
	kind deadlineKind
	d    time.Duration
}

type idleList struct {
	key        idleKey
	head, tail *Conn
	n          int
}

// track puts c in the class k (removing it from its current class); a zero
// duration means no deadline.
func (l *loop) track(c *Conn, k idleKey) {
	if c.cls != nil && c.cls.key == k {
		return
	}
	l.untrack(c)
	if k.d <= 0 || State(c.state.Load()) == StateClosed {
		return
	}
	lst := l.idle[k]
	if lst == nil {
		lst = &idleList{key: k}
		l.idle[k] = lst
	}
	c.mark = l.now
	c.cls = lst
	c.prev, c.next = lst.tail, nil
	if lst.tail != nil {
		lst.tail.next = c
	} else {
		lst.head = c
	}
	lst.tail = c
	lst.n++
	l.tracked++
}

// untrack removes c from its class list, if any.
func (l *loop) untrack(c *Conn) {
	lst := c.cls
	if lst == nil {
		return
	}
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		lst.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		lst.tail = c.prev
	}
	c.prev, c.next, c.cls = nil, nil, nil
	lst.n--
	l.tracked--
	if lst.n == 0 {
		delete(l.idle, lst.key)
	}
}

// touch records activity: c moves to the tail of an idle-class list.
func (l *loop) touch(c *Conn) {
	lst := c.cls
	c.mark = l.now
	if lst == nil || lst.key.kind != kindIdle || lst.tail == c {
		return
	}
	// unlink
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		lst.head = c.next
	}
	c.next.prev = c.prev
	// append
	c.prev, c.next = lst.tail, nil
	lst.tail.next = c
	lst.tail = c
}

// sweep closes every connection whose class deadline passed.
func (l *loop) sweep(now int64) {
	var expired []*Conn
	for _, lst := range l.idle {
		for c := lst.head; c != nil && now-c.mark >= int64(lst.key.d); c = c.next {
			expired = append(expired, c)
		}
	}
	for _, c := range expired {
		if c.cls == nil {
			continue
		}
		switch c.cls.key.kind {
		case kindIdle:
			l.g.log.Info("netloop: idle timeout", "conn", uint32(c.id), "peer", c.remoteString(),
				"timeout", c.cls.key.d)
			l.closeConn(c, ErrIdleTimeout)
		case kindConnect:
			l.closeConn(c, wrapConnErr(c, "dial", ErrConnectTimeout))
		case kindFlush:
			l.g.log.Warn("netloop: flush timeout on close", "conn", uint32(c.id), "peer", c.remoteString(),
				"queued", c.Queued())
			l.closeConn(c, ErrFlushTimeout)
		}
	}
}
