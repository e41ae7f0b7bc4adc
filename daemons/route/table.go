package route

import (
	"cmp"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"teamtalk/netloop"
	"teamtalk/wire/pb"
)

const nShards = 32

// Status values of IMUserStatusUpdate / UserStat.
const (
	statusOnline  = uint32(pb.UserStatType_USER_STATUS_ONLINE)
	statusOffline = uint32(pb.UserStatType_USER_STATUS_OFFLINE)
	statusLeave   = uint32(pb.UserStatType_USER_STATUS_LEAVE)
)

// isPC reports whether a client type is of the PC family (Windows, Mac).
func isPC(ct uint32) bool { return ct&0x10 == 0 }

// table is route's presence table: user id → for each msg link the user
// was reported on, the number of connections per client type. Unlike the
// reference, counts are kept per link, so dropping a link removes exactly
// what it reported. Users are sharded by id; a link's user set is kept
// separately so a link drop finds its users without a full scan.
//
// Updates for one link come from that link's loop only (frames, then its
// close), which is what makes the two-step link bookkeeping safe.
type table struct {
	shards [nShards]shard
	users  atomic.Int64 // users with at least one connection

	lmu   sync.Mutex
	links map[netloop.ConnID]map[uint32]struct{}
}

type shard struct {
	mu sync.Mutex
	m  map[uint32]*user
}

type user struct {
	links map[netloop.ConnID]map[uint32]int // link → client type → connections
}

func (u *user) pcCount() int {
	n := 0
	for _, c := range u.links {
		for ct, k := range c {
			if isPC(ct) {
				n += k
			}
		}
	}
	return n
}

func newTable() *table {
	t := &table{links: map[netloop.ConnID]map[uint32]struct{}{}}
	for i := range t.shards {
		t.shards[i].m = map[uint32]*user{}
	}
	return t
}

func (t *table) shard(uid uint32) *shard { return &t.shards[uid%nShards] }

// notice is what a presence change must announce to every msg link.
type notice struct {
	uid uint32
	// loginStatus, when set, is sent as IMServerPCLoginStatusNotify (0x070e).
	loginStatus *uint32
	// stat, when set, is sent as IMUserStatNotify (0x0203).
	stat *uint32
}

func (n notice) empty() bool { return n.loginStatus == nil && n.stat == nil }

func ptr(v uint32) *uint32 { return &v }

func (t *table) linkAdd(link netloop.ConnID, uid uint32) {
	t.lmu.Lock()
	s := t.links[link]
	if s == nil {
		s = map[uint32]struct{}{}
		t.links[link] = s
	}
	s[uid] = struct{}{}
	t.lmu.Unlock()
}

func (t *table) linkDel(link netloop.ConnID, uid uint32) {
	t.lmu.Lock()
	if s := t.links[link]; s != nil {
		delete(s, uid)
	}
	t.lmu.Unlock()
}

// populated appends to dst the links that hold at least one user, ascending.
func (t *table) populated(dst []netloop.ConnID) []netloop.ConnID {
	t.lmu.Lock()
	for l, us := range t.links {
		if len(us) > 0 {
			dst = append(dst, l)
		}
	}
	t.lmu.Unlock()
	slices.Sort(dst)
	return dst
}

// add counts one connection of uid with client type ct on link and reports
// whether the user had no connection before.
func (t *table) addLocked(sh *shard, link netloop.ConnID, uid, ct uint32) {
	u := sh.m[uid]
	if u == nil {
		u = &user{links: map[netloop.ConnID]map[uint32]int{}}
		sh.m[uid] = u
		t.users.Add(1)
	}
	c := u.links[link]
	if c == nil {
		c = map[uint32]int{}
		u.links[link] = c
		t.linkAdd(link, uid)
	}
	c[ct]++
}

// update applies an IMUserStatusUpdate from link (PROTOCOL.md §4.9) and
// returns what to announce.
func (t *table) update(link netloop.ConnID, uid, status, ct uint32) notice {
	n := notice{uid: uid}
	sh := t.shard(uid)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if status != statusOffline {
		if status != statusLeave {
			status = statusOnline
		}
		t.addLocked(sh, link, uid, ct)
		if sh.m[uid].pcCount() > 0 {
			n.loginStatus = ptr(1)
		}
		if isPC(ct) {
			n.stat = ptr(status)
		}
		return n
	}
	// Offline: honoured only for a connection this link reported.
	u := sh.m[uid]
	if u == nil || u.links[link][ct] == 0 {
		return n
	}
	c := u.links[link]
	if c[ct]--; c[ct] == 0 {
		delete(c, ct)
	}
	if len(c) == 0 {
		delete(u.links, link)
		t.linkDel(link, uid)
	}
	known := len(u.links) > 0
	if !known {
		delete(sh.m, uid)
		t.users.Add(-1)
	}
	if isPC(ct) && u.pcCount() == 0 {
		if known {
			n.loginStatus = ptr(0)
		}
		n.stat = ptr(statusOffline)
	}
	return n
}

// dropLink forgets everything link reported and returns the announcements
// for users whose PC presence ended with it (the reference's stale-presence
// fix: a msg server crash sends the offline notifies that follow).
func (t *table) dropLink(link netloop.ConnID) []notice {
	t.lmu.Lock()
	uids := t.links[link]
	delete(t.links, link)
	t.lmu.Unlock()
	var out []notice
	for uid := range uids {
		sh := t.shard(uid)
		sh.mu.Lock()
		u := sh.m[uid]
		if u == nil {
			sh.mu.Unlock()
			continue
		}
		hadPC := u.pcCount() > 0
		delete(u.links, link)
		known := len(u.links) > 0
		if !known {
			delete(sh.m, uid)
			t.users.Add(-1)
		}
		if hadPC && u.pcCount() == 0 {
			n := notice{uid: uid, stat: ptr(statusOffline)}
			if known {
				n.loginStatus = ptr(0)
			}
			out = append(out, n)
		}
		sh.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b notice) int { return cmp.Compare(a.uid, b.uid) })
	return out
}

// load replaces what link reported with a full list (IMOnlineUserInfo).
// Like the reference it announces nothing.
func (t *table) load(link netloop.ConnID, list []*pb.ServerUserStat) {
	t.dropLink(link)
	for _, st := range list {
		if st.GetStatus() == pb.UserStatType_USER_STATUS_OFFLINE {
			continue
		}
		sh := t.shard(st.GetUserId())
		sh.mu.Lock()
		t.addLocked(sh, link, st.GetUserId(), uint32(st.GetClientType()))
		sh.mu.Unlock()
	}
}

// holders appends to dst the links that hold uid.
func (t *table) holders(dst []netloop.ConnID, uid uint32) []netloop.ConnID {
	sh := t.shard(uid)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if u := sh.m[uid]; u != nil {
		for l := range u.links {
			if !slices.Contains(dst, l) {
				dst = append(dst, l)
			}
		}
	}
	return dst
}

// pcOnline reports whether uid has a PC connection anywhere (route's
// meaning of "online").
func (t *table) pcOnline(uid uint32) bool {
	sh := t.shard(uid)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	u := sh.m[uid]
	return u != nil && u.pcCount() > 0
}

// entry is one (user, link) pair of the table, for the console.
type entry struct {
	uid    uint32
	link   netloop.ConnID
	counts map[uint32]int
}

// snapshot returns every (user, link) pair ordered by user, then link.
func (t *table) snapshot() []entry {
	var out []entry
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for uid, u := range sh.m {
			for l, c := range u.links {
				out = append(out, entry{uid: uid, link: l, counts: maps.Clone(c)})
			}
		}
		sh.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b entry) int {
		if a.uid != b.uid {
			return cmp.Compare(a.uid, b.uid)
		}
		return cmp.Compare(a.link, b.link)
	})
	return out
}
