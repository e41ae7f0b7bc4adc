package route

import (
	"cmp"
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
// what it reported. Users are sharded by id.
//
// Memory: a user is one map entry whose value holds its first (link, client
// type, count) slot inline; only users online on several links or with
// several client types allocate a slice for the others. A link keeps just
// the number of users it holds; dropping a link scans the shards (a msg
// server going away is rare; every login is not).
//
// Updates for one link come from that link's loop only (frames, then its
// close).
type table struct {
	shards [nShards]shard
	users  atomic.Int64 // users with at least one connection

	lmu   sync.Mutex
	links map[netloop.ConnID]int // link → users it holds
}

type shard struct {
	mu sync.Mutex
	m  map[uint32]user
}

// slot counts the connections of one client type that one link reported.
type slot struct {
	link netloop.ConnID
	ct   uint32
	n    uint32
}

// user is the slots of one user: first inline (n 0 when there are none),
// the rest, rarely any, in a slice behind a pointer, so that the map value
// is 24 bytes rather than 40.
type user struct {
	first slot
	rest  *[]slot // nil when there are none
}

// others returns the slots after first.
func (u *user) others() []slot {
	if u.rest == nil {
		return nil
	}
	return *u.rest
}

// setOthers replaces the slots after first.
func (u *user) setOthers(rest []slot) {
	if len(rest) == 0 {
		u.rest = nil
		return
	}
	u.rest = &rest
}

// find returns the slot of (link, ct), or nil.
func (u *user) find(link netloop.ConnID, ct uint32) *slot {
	if u.first.n > 0 && u.first.link == link && u.first.ct == ct {
		return &u.first
	}
	rest := u.others()
	for i := range rest {
		if rest[i].link == link && rest[i].ct == ct {
			return &rest[i]
		}
	}
	return nil
}

// onLink reports whether any slot of u is on link.
func (u *user) onLink(link netloop.ConnID) bool {
	if u.first.n > 0 && u.first.link == link {
		return true
	}
	for _, s := range u.others() {
		if s.link == link {
			return true
		}
	}
	return false
}

// empty reports whether u has no connection left.
func (u *user) empty() bool { return u.first.n == 0 }

// compact keeps first filled while any slot is: a slot whose count fell
// to 0 is replaced by the last one.
func (u *user) compact() {
	rest := u.others()
	if rest == nil {
		return
	}
	for i := 0; i < len(rest); {
		if rest[i].n == 0 {
			rest[i] = rest[len(rest)-1]
			rest = rest[:len(rest)-1]
			continue
		}
		i++
	}
	if u.first.n == 0 && len(rest) > 0 {
		u.first = rest[len(rest)-1]
		rest = rest[:len(rest)-1]
	}
	u.setOthers(rest)
}

// dropLink removes every slot of link.
func (u *user) dropLink(link netloop.ConnID) {
	if u.first.link == link {
		u.first.n = 0
	}
	rest := u.others()
	for i := range rest {
		if rest[i].link == link {
			rest[i].n = 0
		}
	}
	u.compact()
}

func (u *user) pcCount() int {
	n := 0
	if u.first.n > 0 && isPC(u.first.ct) {
		n += int(u.first.n)
	}
	for _, s := range u.others() {
		if isPC(s.ct) {
			n += int(s.n)
		}
	}
	return n
}

// each calls fn for every slot.
func (u *user) each(fn func(slot)) {
	if u.first.n > 0 {
		fn(u.first)
	}
	for _, s := range u.others() {
		fn(s)
	}
}

func newTable() *table {
	t := &table{links: map[netloop.ConnID]int{}}
	for i := range t.shards {
		t.shards[i].m = map[uint32]user{}
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

// linkCount changes the number of users link holds.
func (t *table) linkCount(link netloop.ConnID, d int) {
	t.lmu.Lock()
	if n := t.links[link] + d; n > 0 {
		t.links[link] = n
	} else {
		delete(t.links, link)
	}
	t.lmu.Unlock()
}

// populated appends to dst the links that hold at least one user, ascending.
func (t *table) populated(dst []netloop.ConnID) []netloop.ConnID {
	t.lmu.Lock()
	for l := range t.links {
		dst = append(dst, l)
	}
	t.lmu.Unlock()
	slices.Sort(dst)
	return dst
}

// addLocked counts one connection of uid with client type ct on link.
func (t *table) addLocked(sh *shard, link netloop.ConnID, uid, ct uint32) {
	u, known := sh.m[uid]
	if !known {
		t.users.Add(1)
	}
	if s := u.find(link, ct); s != nil {
		s.n++
	} else {
		if !u.onLink(link) {
			t.linkCount(link, 1)
		}
		if u.empty() {
			u.first = slot{link: link, ct: ct, n: 1}
		} else {
			u.setOthers(append(u.others(), slot{link: link, ct: ct, n: 1}))
		}
	}
	sh.m[uid] = u
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
		if u := sh.m[uid]; u.pcCount() > 0 {
			n.loginStatus = ptr(1)
		}
		if isPC(ct) {
			n.stat = ptr(status)
		}
		return n
	}
	// Offline: honoured only for a connection this link reported.
	u, ok := sh.m[uid]
	var s *slot
	if ok {
		s = u.find(link, ct)
	}
	if s == nil {
		return n
	}
	s.n--
	u.compact()
	if !u.onLink(link) {
		t.linkCount(link, -1)
	}
	known := !u.empty()
	if known {
		sh.m[uid] = u
	} else {
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
	held := t.links[link]
	delete(t.links, link)
	t.lmu.Unlock()
	if held == 0 {
		return nil
	}
	var out []notice
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for uid, u := range sh.m {
			if !u.onLink(link) {
				continue
			}
			hadPC := u.pcCount() > 0
			u.dropLink(link)
			known := !u.empty()
			if known {
				sh.m[uid] = u
			} else {
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
	if u, ok := sh.m[uid]; ok {
		u.each(func(s slot) {
			if !slices.Contains(dst, s.link) {
				dst = append(dst, s.link)
			}
		})
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
	return u.pcCount() > 0
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
			at := len(out)
			u.each(func(s slot) {
				for i := at; i < len(out); i++ {
					if out[i].link == s.link {
						out[i].counts[s.ct] += int(s.n)
						return
					}
				}
				out = append(out, entry{uid: uid, link: s.link, counts: map[uint32]int{s.ct: int(s.n)}})
			})
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
