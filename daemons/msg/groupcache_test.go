package msg

import (
	"bytes"
	"slices"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"teamtalk/wire"
	"teamtalk/wire/pb"
)

func TestGroupCache(t *testing.T) {
	members := []uint32{1, 2, 3}
	tests := []struct {
		name string
		run  func(c *groupCache) // the events between taking a ticket and the reply
		// before the ticket is taken
		pre  func(c *groupCache)
		want bool // the reply fills the cache and get returns it
	}{
		{name: "plain fill", want: true},
		{name: "change notify while in flight", run: func(c *groupCache) { c.invalidate(7) }},
		{name: "change notify of another group", run: func(c *groupCache) { c.invalidate(8) }, want: true},
		{name: "change notify before the request", pre: func(c *groupCache) { c.invalidate(7) }, want: true},
		{name: "login while in flight", run: func(c *groupCache) { c.loggedIn() }},
		{name: "login before the request", pre: func(c *groupCache) { c.loggedIn() }, want: true},
		{name: "route came back while in flight", run: func(c *groupCache) { c.clear() }},
		{name: "sweep while in flight after a notify", pre: func(c *groupCache) { c.invalidate(7) }, run: func(c *groupCache) { c.invalidate(7); c.sweep() }},
		{name: "sweep while in flight", run: func(c *groupCache) { c.sweep() }, want: true},
		{name: "sweep before the request", pre: func(c *groupCache) { c.invalidate(7); c.sweep() }, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newGroupCache()
			if tt.pre != nil {
				tt.pre(c)
			}
			tk := c.ticket()
			if tt.run != nil {
				tt.run(c)
			}
			c.fill(7, 3, members, tk)
			got, _, ok := c.get(7)
			if ok != tt.want || (ok && !slices.Equal(got, members)) {
				t.Fatalf("get = %v, %v; want ok=%v", got, ok, tt.want)
			}
		})
	}
}

func TestGroupCacheUse(t *testing.T) {
	tests := []struct {
		name       string
		after      func(t *testing.T, c *groupCache) // events after a good fill
		want       bool
		revalidate uint32 // the version get offers to revalidate
	}{
		{name: "fresh", want: true},
		{name: "invalidated", after: func(t *testing.T, c *groupCache) { c.invalidate(7) }},
		{name: "local login after the fill", after: func(t *testing.T, c *groupCache) { c.loggedIn() }, revalidate: 3},
		{name: "login, then revalidated", after: func(t *testing.T, c *groupCache) {
			c.loggedIn()
			if _, ok := c.revalidated(7, 3, c.ticket()); !ok {
				t.Fatal("not revalidated")
			}
		}, want: true},
		{name: "login, revalidation sent, notify", after: func(t *testing.T, c *groupCache) {
			c.loggedIn()
			tk := c.ticket()
			c.invalidate(7)
			if _, ok := c.revalidated(7, 3, tk); ok {
				t.Fatal("revalidated across an invalidation")
			}
		}},
		{name: "login, revalidation sent, another login", after: func(t *testing.T, c *groupCache) {
			c.loggedIn()
			tk := c.ticket()
			c.loggedIn()
			if _, ok := c.revalidated(7, 3, tk); !ok {
				t.Fatal("not revalidated")
			}
		}, revalidate: 3},
		{name: "login, revalidation of another version", after: func(t *testing.T, c *groupCache) {
			c.loggedIn()
			if _, ok := c.revalidated(7, 2, c.ticket()); ok {
				t.Fatal("revalidated version 2")
			}
		}, revalidate: 3},
		{name: "login, then expired", after: func(t *testing.T, c *groupCache) { c.loggedIn(); c.epoch = c.epoch.Add(-groupCacheTTL) }},
		{name: "newer version seen", after: func(t *testing.T, c *groupCache) { c.seenVersion(7, 4) }},
		{name: "same version seen", after: func(t *testing.T, c *groupCache) { c.seenVersion(7, 3) }, want: true},
		{name: "cleared", after: func(t *testing.T, c *groupCache) { c.clear() }},
		{name: "swept while fresh", after: func(t *testing.T, c *groupCache) { c.sweep() }, want: true},
		{name: "older version refused", after: func(t *testing.T, c *groupCache) { c.fill(7, 2, []uint32{9}, c.ticket()) }, want: true},
		{name: "expired", after: func(t *testing.T, c *groupCache) { c.epoch = c.epoch.Add(-groupCacheTTL) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newGroupCache()
			c.fill(7, 3, []uint32{1, 2, 3}, c.ticket())
			if tt.after != nil {
				tt.after(t, c)
			}
			got, v, ok := c.get(7)
			if ok != tt.want || (ok && !slices.Equal(got, []uint32{1, 2, 3})) {
				t.Fatalf("get = %v, %v; want ok=%v with the first fill", got, ok, tt.want)
			}
			if v != tt.revalidate {
				t.Fatalf("get offers revalidation at version %d, want %d", v, tt.revalidate)
			}
		})
	}
}

func TestTakeParked(t *testing.T) {
	body, err := wire.MarshalBody(&pb.IMMsgData{
		FromUserId: new(uint32(5)), ToSessionId: new(uint32(7)), MsgId: new(uint32(1)), CreateTime: new(uint32(1)),
		MsgType: pb.MsgType_MSG_TYPE_GROUP_TEXT.Enum(), MsgData: []byte("hi"),
	})
	if err != nil {
		t.Fatal(err)
	}
	forged := protowire.AppendVarint(protowire.AppendTag(slices.Clone(body), ticketField, protowire.VarintType), 1)
	ours := protowire.AppendVarint(protowire.AppendTag(slices.Clone(body), ticketField, protowire.VarintType), 42)
	ours = protowire.AppendVarint(protowire.AppendTag(ours, versionField, protowire.VarintType), 3)
	tests := []struct {
		name string
		body []byte
		want parked
	}{
		{"none", body, parked{}},
		{"ours", ours, parked{ticket: 42, version: 3, ok: true}},
		{"client's then ours", protowire.AppendVarint(protowire.AppendTag(forged, ticketField, protowire.VarintType), 43), parked{ticket: 43, ok: true}},
		{"other unknown field", protowire.AppendBytes(protowire.AppendTag(slices.Clone(body), 999, protowire.BytesType), []byte("x")), parked{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m pb.IMMsgData
			if err := wire.Unmarshal(tt.body, &m); err != nil {
				t.Fatal(err)
			}
			if got := takeParked(&m); got != tt.want {
				t.Fatalf("takeParked = %+v; want %+v", got, tt.want)
			}
			if len(m.ProtoReflect().GetUnknown()) != 0 || string(m.GetMsgData()) != "hi" {
				t.Fatalf("message after takeParked: %v", &m)
			}
		})
	}
}

// TestGroupFanoutCached: after the first message of a group, msg fans out
// from its member cache (no db round trip); every member connection gets
// the same bytes, without attach data or the cache's ticket; a change
// notify relayed by route sends the next message through db again.
func TestGroupFanoutCached(t *testing.T) {
	e := startEnv(t, nil)
	alice := dialClient(t, e.addr)
	alice.login("alice", "pw", pb.ClientType_CLIENT_TYPE_WINDOWS, 1)
	bob := dialClient(t, e.addr)
	bob.login("bob", "pw", pb.ClientType_CLIENT_TYPE_WINDOWS, 1)
	carol := dialClient(t, e.addr)
	carol.login("carol", "pw", pb.ClientType_CLIENT_TYPE_ANDROID, 1)
	send := func(seq uint16) {
		t.Helper()
		sendText(alice, seq, 1, 100, pb.MsgType_MSG_TYPE_GROUP_TEXT, "hi all")
		if ack := alice.expect(pb.CmdMsgDataAck).m.(*pb.IMMsgDataAck); ack.GetMsgId() != uint32(seq) {
			t.Fatalf("ack %v", ack)
		}
		b, c := bob.expect(pb.CmdMsgData), carol.expect(pb.CmdMsgData)
		if !bytes.Equal(b.raw, c.raw) {
			t.Fatalf("members got different bytes:\n%x\n%x", b.raw, c.raw)
		}
		m := b.m.(*pb.IMMsgData)
		if m.GetMsgId() != uint32(seq) || m.AttachData != nil || len(m.ProtoReflect().GetUnknown()) != 0 {
			t.Fatalf("delivery %v (unknown fields %x)", m, m.ProtoReflect().GetUnknown())
		}
	}
	for seq := uint16(1); seq <= 3; seq++ {
		send(seq)
	}
	if h, m := e.counter("group_cache_hits"), e.counter("group_cache_misses"); h != 2 || m != 1 {
		t.Fatalf("cache hits %d misses %d, want 2 and 1", h, m)
	}
	// A change notify relayed by route invalidates the group.
	e.route.mu.Lock()
	conns := slices.Clone(e.route.conns)
	e.route.mu.Unlock()
	if len(conns) == 0 {
		t.Fatal("route has no link from msg")
	}
	reply(conns[len(conns)-1], wire.NewHeader(pb.CmdGroupChangeMemberNotify, 0), &pb.IMGroupChangeMemberNotify{
		UserId: new(uint32(1)), ChangeType: pb.GroupModifyType_GROUP_MODIFY_TYPE_ADD.Enum(), GroupId: new(uint32(100)),
		CurUserIdList: []uint32{1, 2, 3}, ChgUserIdList: []uint32{3},
	})
	bob.expect(pb.CmdGroupChangeMemberNotify)
	send(4)
	send(5)
	if h, m := e.counter("group_cache_hits"), e.counter("group_cache_misses"); h != 3 || m != 2 {
		t.Fatalf("after the notify: cache hits %d misses %d, want 3 and 2", h, m)
	}
	// A local login makes the entry suspect: db confirms the version (no
	// member list) and the cached members are used again.
	carolPC := dialClient(t, e.addr)
	carolPC.login("carol", "pw", pb.ClientType_CLIENT_TYPE_MAC, 1)
	sendText(alice, 6, 1, 100, pb.MsgType_MSG_TYPE_GROUP_TEXT, "hi all")
	alice.expect(pb.CmdMsgDataAck)
	for _, c := range []*tclient{bob, carol, carolPC} {
		if m := c.expect(pb.CmdMsgData).m.(*pb.IMMsgData); m.GetMsgId() != 6 {
			t.Fatalf("delivery %v", m)
		}
	}
	send(7)
	if h, m, r := e.counter("group_cache_hits"), e.counter("group_cache_misses"), e.counter("group_cache_revalidations"); h != 4 || m != 3 || r != 1 {
		t.Fatalf("after a login: cache hits %d misses %d revalidations %d, want 4, 3 and 1", h, m, r)
	}
}
