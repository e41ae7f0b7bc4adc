package msg

import (
	"net/netip"
	"slices"
	"sort"
	"sync"

	"teamtalk/netloop"
	"teamtalk/wire/pb"
)

const shards = 32

// client is one client connection and its session.
type client struct {
	id     netloop.ConnID
	opened int64      // unix nanoseconds
	ip     netip.Addr // the source address, for the per-address login limit

	mu        sync.Mutex
	loginSent bool // a login request was accepted for validation
	loggedIn  bool
	kicked    bool
	closed    bool
	userID    uint32
	name      string // the login name until db validated it
	ctype     pb.ClientType
	status    pb.UserStatType
	nick      string
	loginSeq  uint16
	loginTmr  netloop.TimerID
	winSec    int64 // the rate limit's current second
	winCount  int
}

// session returns the user id and client type when the connection is logged
// in and not closed.
func (c *client) session() (uid uint32, ct pb.ClientType, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.userID, c.ctype, c.loggedIn && !c.closed
}

// mobile reports whether a client type is of the mobile family (§3.1: the
// high nibble 0x1_).
func mobile(ct pb.ClientType) bool { return uint32(ct)&0x10 != 0 }

// user is the set of local connections of one user id, in login order: the
// first inline, the rest (a user on several devices) behind a pointer, so
// that the usual user is a 24-byte map value and no allocation of its own.
type user struct {
	first    *client
	rest     *[]*client // nil when there are none
	pcOnline bool       // route's last IMServerPCLoginStatusNotify
}

// appendConns appends u's connections to dst.
func (u *user) appendConns(dst []*client) []*client {
	if u.first != nil {
		dst = append(dst, u.first)
	}
	if u.rest != nil {
		dst = append(dst, *u.rest...)
	}
	return dst
}

// len is the number of u's connections.
func (u *user) len() int {
	n := 0
	if u.first != nil {
		n = 1
	}
	if u.rest != nil {
		n += len(*u.rest)
	}
	return n
}

// add appends c to u's connections.
func (u *user) add(c *client) {
	if u.first == nil {
		u.first = c
		return
	}
	var rest []*client
	if u.rest != nil {
		rest = *u.rest
	}
	rest = append(rest, c)
	u.rest = &rest
}

// remove takes c out of u's connections, keeping the others' order.
func (u *user) remove(c *client) {
	var rest []*client
	if u.rest != nil {
		rest = *u.rest
	}
	switch {
	case u.first == c:
		u.first = nil
		if len(rest) > 0 {
			u.first, rest = rest[0], rest[1:]
		}
	default:
		i := slices.Index(rest, c)
		if i < 0 {
			return
		}
		rest = append(rest[:i:i], rest[i+1:]...)
	}
	u.rest = nil
	if len(rest) > 0 {
		u.rest = &rest
	}
}

type connShard struct {
	mu sync.Mutex
	m  map[netloop.ConnID]*client
}

type userShard struct {
	mu sync.Mutex
	m  map[uint32]user
}

// registry holds the client connections by id and the logged-in ones by
// user id, sharded behind short mutexes.
type registry struct {
	conns [shards]connShard
	users [shards]userShard
}

func newRegistry() *registry {
	r := &registry{}
	for i := range r.conns {
		r.conns[i].m = map[netloop.ConnID]*client{}
		r.users[i].m = map[uint32]user{}
	}
	return r
}

func (r *registry) addConn(c *client) {
	s := &r.conns[uint32(c.id)%shards]
	s.mu.Lock()
	s.m[c.id] = c
	s.mu.Unlock()
}

func (r *registry) removeConn(id netloop.ConnID) {
	s := &r.conns[uint32(id)%shards]
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

func (r *registry) conn(id netloop.ConnID) *client {
	s := &r.conns[uint32(id)%shards]
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[id]
}

// addUser files c under uid.
func (r *registry) addUser(uid uint32, c *client) {
	s := &r.users[uid%shards]
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.m[uid]
	u.add(c)
	s.m[uid] = u
}

// removeUser takes c out of uid's connections.
func (r *registry) removeUser(uid uint32, c *client) {
	s := &r.users[uid%shards]
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.m[uid]
	if !ok {
		return
	}
	u.remove(c)
	if u.first == nil {
		delete(s.m, uid)
	} else {
		s.m[uid] = u
	}
}

// userConns returns a snapshot of uid's connections.
func (r *registry) userConns(uid uint32) []*client {
	s := &r.users[uid%shards]
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.m[uid]
	if !ok {
		return nil
	}
	return u.appendConns(make([]*client, 0, u.len()))
}

// appendUserConns appends uid's connections to dst (a caller's buffer, so
// the fan-out allocates nothing per member).
func (r *registry) appendUserConns(dst []*client, uid uint32) []*client {
	s := &r.users[uid%shards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.m[uid]; ok {
		dst = u.appendConns(dst)
	}
	return dst
}

// setPCOnline records route's PC presence flag for a local user and
// reports whether the user is local.
func (r *registry) setPCOnline(uid uint32, on bool) bool {
	s := &r.users[uid%shards]
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.m[uid]
	if !ok {
		return false
	}
	u.pcOnline = on
	s.m[uid] = u
	return true
}

// pcOnline reports route's PC flag or a local PC connection of uid.
func (r *registry) pcOnline(uid uint32) bool {
	s := &r.users[uid%shards]
	s.mu.Lock()
	u, ok := s.m[uid]
	if !ok {
		s.mu.Unlock()
		return false
	}
	if u.pcOnline {
		s.mu.Unlock()
		return true
	}
	var buf [4]*client
	conns := u.appendConns(buf[:0])
	s.mu.Unlock()
	for _, c := range conns {
		if _, ct, ok := c.session(); ok && !mobile(ct) {
			return true
		}
	}
	return false
}

// mobileOnline reports whether uid has a logged-in mobile connection here.
func (r *registry) mobileOnline(uid uint32) bool {
	var buf [4]*client
	return mobileIn(r.appendUserConns(buf[:0], uid))
}

// mobileIn reports whether conns hold a logged-in mobile connection.
func mobileIn(conns []*client) bool {
	for _, c := range conns {
		if _, ct, ok := c.session(); ok && mobile(ct) {
			return true
		}
	}
	return false
}

// all returns every logged-in connection.
func (r *registry) all() []*client {
	var out []*client
	for i := range r.users {
		s := &r.users[i]
		s.mu.Lock()
		for _, u := range s.m {
			out = u.appendConns(out)
		}
		s.mu.Unlock()
	}
	return out
}

// userIDs returns the ids of the users online here, ascending.
func (r *registry) userIDs() []uint32 {
	var out []uint32
	for i := range r.users {
		s := &r.users[i]
		s.mu.Lock()
		for uid := range s.m {
			out = append(out, uid)
		}
		s.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// counts returns the number of users and of logged-in connections.
func (r *registry) counts() (users, conns int) {
	for i := range r.users {
		s := &r.users[i]
		s.mu.Lock()
		users += len(s.m)
		for _, u := range s.m {
			conns += u.len()
		}
		s.mu.Unlock()
	}
	return users, conns
}
