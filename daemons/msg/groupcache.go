package msg

import (
	"sync"
	"sync/atomic"
	"time"
)

// groupCacheTTL bounds how long a cached member list is used without
// asking db again: a safety net for a change notify that never reached this
// server (the notify normally invalidates the entry at once).
const groupCacheTTL = 10 * time.Second

// groupCacheShards is the number of independently locked parts.
const groupCacheShards = 16

// groupCache holds the member lists of the groups whose messages this
// server fanned out recently, so that a stored group message is delivered
// without the db round trip of IMGroupInfoListReq (PROTOCOL.md §4.4 step 3).
//
// Freshness rests on tickets: gen counts the events that may make an entry
// stale (a member change notify of the group, a local login, a route link
// that came back); a fill request takes the current gen as its ticket, and
// its reply fills the cache only when no such event happened after the
// ticket was taken. So a reply that db produced before a change can never
// fill the cache after the change was learnt. An entry is used only when
// no local login happened after its ticket (a user logging in here may be a
// member whose change notify route sent elsewhere while the user was
// offline) and it is younger than groupCacheTTL.
type groupCache struct {
	gen   atomic.Uint64 // bumped by every invalidating event
	floor atomic.Uint64 // tickets below it fill nothing (clear, sweep)
	login atomic.Uint64 // the gen of the latest local login
	epoch time.Time     // for the monotonic ages
	sh    [groupCacheShards]gcShard

	hits, misses, fills, revalidations, invalidations atomic.Uint64
}

type gcShard struct {
	mu sync.Mutex
	m  map[uint32]*gcEntry
}

// gcEntry is a cached group or, with members nil, a tombstone recording
// the gen of its latest invalidation. Its fields are read and written under
// the shard's lock; members is never modified after the entry is stored, so
// readers keep it without the lock.
type gcEntry struct {
	members []uint32
	version uint32
	ticket  uint64 // the fill request's ticket
	filled  int64  // monotonic nanoseconds
	inval   uint64 // gen of the latest invalidation of this group
}

func newGroupCache() *groupCache {
	c := &groupCache{epoch: time.Now()}
	for i := range c.sh {
		c.sh[i].m = map[uint32]*gcEntry{}
	}
	return c
}

func (c *groupCache) shard(gid uint32) *gcShard { return &c.sh[gid%groupCacheShards] }

func (c *groupCache) mono() int64 { return int64(time.Since(c.epoch)) }

// ticket returns the ticket for a fill request sent now.
func (c *groupCache) ticket() uint64 { return c.gen.Load() }

// get returns the cached members of gid when they may be used now (ok).
// Otherwise version is not 0 when the entry is only suspect because of a
// local login since its fill: db can confirm it cheaply by version
// (revalidated), and members are the suspect list, not to be delivered to;
// 0 means fetch the members in full.
func (c *groupCache) get(gid uint32) (members []uint32, version uint32, ok bool) {
	s := c.shard(gid)
	s.mu.Lock()
	e := s.m[gid]
	if e != nil && e.members != nil && c.mono()-e.filled < int64(groupCacheTTL) {
		if e.ticket >= c.login.Load() {
			members, ok = e.members, true
		} else {
			members, version = e.members, e.version
		}
	}
	s.mu.Unlock()
	if ok {
		c.hits.Add(1)
	} else {
		c.misses.Add(1)
	}
	return members, version, ok
}

// revalidated handles db's answer "nothing newer than version" to a
// revalidation sent with ticket t: it returns the members cached at that
// version, and makes them usable again, unless the group was invalidated
// since t (or the entry changed or went). The entry's age still runs from
// its full fill, so the members are fetched in full once per TTL.
func (c *groupCache) revalidated(gid, version uint32, t uint64) ([]uint32, bool) {
	if t < c.floor.Load() {
		return nil, false
	}
	s := c.shard(gid)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[gid]
	if e == nil || e.members == nil || e.version != version || t < e.inval {
		return nil, false
	}
	e.ticket = max(e.ticket, t)
	c.revalidations.Add(1)
	return e.members, true
}

// fill stores the members of gid at version from a reply to a request
// whose ticket is t, unless something invalidated the group since t or the
// cache holds a newer version. members must not be modified afterwards.
func (c *groupCache) fill(gid, version uint32, members []uint32, t uint64) {
	if t < c.floor.Load() || t < c.login.Load() {
		return
	}
	s := c.shard(gid)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[gid]
	if e != nil && (t < e.inval || (e.members != nil && (version < e.version || t < e.ticket))) {
		return
	}
	var inval uint64
	if e != nil {
		inval = e.inval
	}
	s.m[gid] = &gcEntry{members: members, version: version, ticket: t, filled: c.mono(), inval: inval}
	c.fills.Add(1)
}

// invalidate forgets gid's members: a change notify of the group was seen.
func (c *groupCache) invalidate(gid uint32) {
	g := c.gen.Add(1)
	s := c.shard(gid)
	s.mu.Lock()
	s.m[gid] = &gcEntry{inval: g}
	s.mu.Unlock()
	c.invalidations.Add(1)
}

// seenVersion invalidates gid when version is newer than the cached one
// (a group-info reply to a client showed a change this server missed).
func (c *groupCache) seenVersion(gid, version uint32) {
	s := c.shard(gid)
	s.mu.Lock()
	e := s.m[gid]
	stale := e != nil && e.members != nil && version > e.version
	s.mu.Unlock()
	if stale {
		c.invalidate(gid)
	}
}

// loggedIn records a local login: entries filled from requests sent
// before it are not used any more.
func (c *groupCache) loggedIn() { storeMax(&c.login, c.gen.Add(1)) }

// storeMax raises v to x unless it is higher already (concurrent raisers
// must not lower it).
func storeMax(v *atomic.Uint64, x uint64) {
	for {
		old := v.Load()
		if old >= x || v.CompareAndSwap(old, x) {
			return
		}
	}
}

// clear forgets everything and refuses the replies already in flight (the
// route link came back: change notifies may have been missed).
func (c *groupCache) clear() {
	storeMax(&c.floor, c.gen.Add(1))
	for i := range c.sh {
		s := &c.sh[i]
		s.mu.Lock()
		clear(s.m)
		s.mu.Unlock()
	}
}

// sweep drops expired entries and every tombstone; replies to requests sent
// before the sweep no longer fill (the tombstones that would have refused
// them are gone).
func (c *groupCache) sweep() {
	storeMax(&c.floor, c.gen.Load())
	now := c.mono()
	for i := range c.sh {
		s := &c.sh[i]
		s.mu.Lock()
		for gid, e := range s.m {
			if e.members == nil || now-e.filled >= int64(groupCacheTTL) {
				delete(s.m, gid)
			}
		}
		s.mu.Unlock()
	}
}

// size returns the number of cached groups.
func (c *groupCache) size() int {
	n := 0
	for i := range c.sh {
		s := &c.sh[i]
		s.mu.Lock()
		for _, e := range s.m {
			if e.members != nil {
				n++
			}
		}
		s.mu.Unlock()
	}
	return n
}
