package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"teamtalk/appliance/ctlapi"
	"teamtalk/client"
	"teamtalk/wire/pb"
)

// groupHosts is twoHosts with extra users (user1..userN after alice 1, bob
// 2, carol 3) and extra -set flags for A.
func groupHosts(t *testing.T, extra int, setsA ...string) (a, b *appliance) {
	t.Helper()
	dirA := t.TempDir()
	seed(t, dirA, extra)
	var args []string
	for _, s := range setsA {
		args = append(args, "-set", s)
	}
	a = start(t, "A", dirA, args...)
	return a, startMsgOnly(t, "B", a)
}

// serviceCounter reads one counter of one service from the control API.
func serviceCounter(t *testing.T, a *appliance, svc, name string) uint64 {
	t.Helper()
	s := serviceStatus(t, a, svc)
	v, ok := s.Counters[name]
	if !ok {
		t.Fatalf("%s reports no counter %q: %v", svc, name, s.Counters)
	}
	return v
}

// serviceStatus returns the status of service svc of a from the control API.
func serviceStatus(t *testing.T, a *appliance, svc string) ctlapi.ServiceStatus {
	t.Helper()
	ctx, cancel := ctx10()
	defer cancel()
	ss, err := a.ctl.Services(ctx)
	if err != nil {
		t.Fatalf("services: %v", err)
	}
	for _, s := range ss {
		if s.Name == svc {
			return s
		}
	}
	t.Fatalf("no service %s", svc)
	return ctlapi.ServiceStatus{}
}

// groupMsg waits for a message of group g from one user and returns it with
// its text.
func (u *user) groupMsg(g, from uint32) (*pb.IMMsgData, string) {
	u.t.Helper()
	ev := u.next(fmt.Sprintf("group %d message from %d", g, from), 10*time.Second, func(ev client.Event) bool {
		m, ok := ev.(*client.MessageEvent)
		return ok && m.Msg.GetToSessionId() == g && m.Msg.GetFromUserId() == from &&
			m.Msg.GetMsgType() == pb.MsgType_MSG_TYPE_GROUP_TEXT
	}).(*client.MessageEvent)
	text, err := u.Text(ev.Msg)
	if err != nil {
		u.t.Fatalf("%s: decrypt: %v", u.name, err)
	}
	return ev.Msg, text
}

// noGroupMsg requires that no message of group g arrives within d.
func (u *user) noGroupMsg(g uint32, d time.Duration) {
	u.t.Helper()
	u.none(fmt.Sprintf("group %d message", g), d, func(ev client.Event) bool {
		m, ok := ev.(*client.MessageEvent)
		return ok && m.Msg.GetToSessionId() == g && isGroupType(m.Msg.GetMsgType())
	})
}

func isGroupType(t pb.MsgType) bool {
	return t == pb.MsgType_MSG_TYPE_GROUP_TEXT || t == pb.MsgType_MSG_TYPE_GROUP_AUDIO
}

// changeNotify waits for a member-change notify of group g.
func (u *user) changeNotify(g uint32, op pb.GroupModifyType) *pb.IMGroupChangeMemberNotify {
	u.t.Helper()
	return u.next(fmt.Sprintf("group %d change notify %s", g, op), 10*time.Second, func(ev client.Event) bool {
		n, ok := ev.(*client.GroupChangeEvent)
		return ok && n.Notify.GetGroupId() == g && n.Notify.GetChangeType() == op
	}).(*client.GroupChangeEvent).Notify
}

// resultCode returns the result code of a refused request, failing on any
// other error.
func resultCode(t *testing.T, err error) uint32 {
	t.Helper()
	var re *client.ResultError
	if !errors.As(err, &re) {
		t.Fatalf("want a refusal (result code), got %v", err)
	}
	return re.Code
}

func TestGroups(t *testing.T) {
	// user1..user3 exist; a group may have at most 4 members.
	a, b := groupHosts(t, 3, "dbproxy.max_group_members=4")
	msgA, msgB := a.addr("msg.listen"), b.addr("msg.listen")

	// alice on a phone at A and on a PC at B (her other device); bob on B;
	// carol on A.
	alice := login(t, msgA, "alice", android)
	alicePC := login(t, msgB, "alice", mac)
	bob := login(t, msgB, "bob", android)
	carol := login(t, msgA, "carol", android)
	aliceID, bobID, carolID := alice.UserID(), bob.UserID(), carol.UserID()
	const user1ID, user2ID, user3ID = 4, 5, 6
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var gid uint32
	t.Run("a client creates a temporary group", func(t *testing.T) {
		rsp, err := alice.CreateGroup(ctx, "trio", "", []uint32{carolID, bobID, aliceID, bobID})
		if err != nil {
			t.Fatal(err)
		}
		gid = rsp.GetGroupId()
		if gid == 0 || !slices.Equal(rsp.GetUserIdList(), []uint32{aliceID, bobID, carolID}) || rsp.GetGroupName() != "trio" {
			t.Fatalf("create: %v", rsp)
		}
		info, err := bob.GroupInfo(ctx, []*pb.GroupVersionInfo{{GroupId: &gid, Version: proto.Uint32(0)}})
		if err != nil {
			t.Fatal(err)
		}
		if len(info) != 1 || info[0].GetVersion() != 1 || info[0].GetGroupType() != pb.GroupType_GROUP_TYPE_TMP ||
			info[0].GetGroupCreatorId() != aliceID || !slices.Equal(info[0].GetGroupMemberList(), []uint32{aliceID, bobID, carolID}) {
			t.Fatalf("group info: %v", info)
		}
		// Version 1 known: nothing newer.
		if info, err := bob.GroupInfo(ctx, []*pb.GroupVersionInfo{{GroupId: &gid, Version: proto.Uint32(1)}}); err != nil || len(info) != 0 {
			t.Fatalf("group info at version 1: %v %v", info, err)
		}
		// Temporary groups are not in the fixed-group list.
		if l, err := bob.GroupList(ctx); err != nil || len(l) != 0 {
			t.Fatalf("group list: %v %v", l, err)
		}
	})

	t.Run("a client may not create a normal group", func(t *testing.T) {
		c, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := alice.Request(c, uint16(pb.GroupCmdID_CID_GROUP_CREATE_REQUEST), &pb.IMGroupCreateReq{
			UserId: proto.Uint32(aliceID), GroupType: pb.GroupType_GROUP_TYPE_NORMAL.Enum(), GroupName: proto.String("fixed"),
			GroupAvatar: proto.String(""), MemberIdList: []uint32{aliceID, bobID},
		}, uint16(pb.GroupCmdID_CID_GROUP_CREATE_RESPONSE))
		if err == nil {
			t.Fatal("a client created a normal group")
		}
		if l, err := bob.GroupList(ctx); err != nil || len(l) != 0 {
			t.Fatalf("group list: %v %v", l, err)
		}
	})

	t.Run("three members on two msg servers chat", func(t *testing.T) {
		var last uint32
		for i := range 3 {
			text := fmt.Sprintf("hello trio %d", i)
			id, err := alice.SendGroupText(ctx, gid, text)
			if err != nil {
				t.Fatalf("send %d: %v", i, err)
			}
			if id != last+1 {
				t.Fatalf("group msg id %d after %d", id, last)
			}
			last = id
			for _, u := range []*user{bob, carol, alicePC} {
				if m, got := u.groupMsg(gid, aliceID); got != text || m.GetMsgId() != id {
					t.Fatalf("%s got %q id %d, want %q id %d", u.name, got, m.GetMsgId(), text, id)
				}
			}
		}
		id, err := bob.SendGroupText(ctx, gid, "hi from bob")
		if err != nil || id != last+1 {
			t.Fatalf("bob's send: id %d err %v", id, err)
		}
		for _, u := range []*user{alice, alicePC, carol} {
			if m, got := u.groupMsg(gid, bobID); got != "hi from bob" || m.GetMsgId() != id {
				t.Fatalf("%s got %q id %d", u.name, got, m.GetMsgId())
			}
		}
		// Each exactly once; a sending connection never gets its own message.
		for _, u := range []*user{alice, alicePC, bob, carol} {
			u.noGroupMsg(gid, 300*time.Millisecond)
		}
	})

	t.Run("history and recent sessions include the group", func(t *testing.T) {
		h, err := carol.MsgList(ctx, pb.SessionType_SESSION_TYPE_GROUP, gid, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		var ids []uint32
		for _, m := range h.GetMsgList() {
			ids = append(ids, m.GetMsgId())
		}
		if !slices.Equal(ids, []uint32{4, 3, 2, 1}) {
			t.Fatalf("history ids %v", ids)
		}
		rs, err := carol.RecentSessions(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, s := range rs.GetContactSessionList() {
			if s.GetSessionType() == pb.SessionType_SESSION_TYPE_GROUP && s.GetSessionId() == gid {
				found = s.GetLatestMsgId() == 4 && s.GetLatestMsgFromUserId() == bobID
			}
		}
		if !found {
			t.Fatalf("carol's recent sessions lack the group at msg 4 from bob: %v", rs)
		}
	})

	t.Run("members added see the notify; an offline member picks up unread and history at login", func(t *testing.T) {
		time.Sleep(1100 * time.Millisecond) // join time is in seconds: older messages must be older
		rsp, err := alice.ChangeGroupMembers(ctx, gid, pb.GroupModifyType_GROUP_MODIFY_TYPE_ADD, []uint32{user1ID, bobID})
		if err != nil {
			t.Fatal(err)
		}
		want := []uint32{aliceID, bobID, carolID, user1ID}
		if !slices.Equal(rsp.GetCurUserIdList(), want) || !slices.Equal(rsp.GetChgUserIdList(), []uint32{user1ID}) {
			t.Fatalf("add: %v", rsp)
		}
		for _, u := range []*user{bob, carol, alicePC} {
			n := u.changeNotify(gid, pb.GroupModifyType_GROUP_MODIFY_TYPE_ADD)
			if n.GetUserId() != aliceID || !slices.Equal(n.GetCurUserIdList(), want) || !slices.Equal(n.GetChgUserIdList(), []uint32{user1ID}) {
				t.Fatalf("%s: notify %v", u.name, n)
			}
		}
		if info, err := carol.GroupInfo(ctx, []*pb.GroupVersionInfo{{GroupId: &gid, Version: proto.Uint32(1)}}); err != nil || len(info) != 1 || info[0].GetVersion() != 2 {
			t.Fatalf("group info after the add: %v %v", info, err)
		}
		var sent []uint32
		for i := range 2 {
			id, err := carol.SendGroupText(ctx, gid, fmt.Sprintf("welcome %d", i))
			if err != nil {
				t.Fatal(err)
			}
			sent = append(sent, id)
		}
		u1 := login(t, msgB, "user1", android)
		un, err := u1.Unread(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var entry *pb.UnreadInfo
		for _, e := range un.GetUnreadinfoList() {
			if e.GetSessionType() == pb.SessionType_SESSION_TYPE_GROUP && e.GetSessionId() == gid {
				entry = e
			}
		}
		if entry == nil || entry.GetUnreadCnt() != 2 || entry.GetLatestMsgId() != sent[1] || entry.GetLatestMsgFromUserId() != carolID || un.GetTotalCnt() != 2 {
			t.Fatalf("user1's unread: %v", un)
		}
		h, err := u1.MsgList(ctx, pb.SessionType_SESSION_TYPE_GROUP, gid, 0, 20)
		if err != nil {
			t.Fatal(err)
		}
		var ids []uint32
		for _, m := range h.GetMsgList() {
			ids = append(ids, m.GetMsgId())
		}
		if !slices.Equal(ids, []uint32{sent[1], sent[0]}) {
			t.Fatalf("user1 sees history %v, want only what came after the join %v", ids, sent)
		}
		if err := u1.ReadAck(pb.SessionType_SESSION_TYPE_GROUP, gid, sent[1]); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "user1's group unread cleared", func() bool {
			un, err := u1.Unread(ctx)
			return err == nil && un.GetTotalCnt() == 0
		})
	})

	t.Run("a removed member sees the notify and stops receiving", func(t *testing.T) {
		rsp, err := alice.ChangeGroupMembers(ctx, gid, pb.GroupModifyType_GROUP_MODIFY_TYPE_DEL, []uint32{carolID})
		if err != nil {
			t.Fatal(err)
		}
		want := []uint32{aliceID, bobID, user1ID}
		if !slices.Equal(rsp.GetCurUserIdList(), want) || !slices.Equal(rsp.GetChgUserIdList(), []uint32{carolID}) {
			t.Fatalf("remove: %v", rsp)
		}
		for _, u := range []*user{carol, bob} {
			n := u.changeNotify(gid, pb.GroupModifyType_GROUP_MODIFY_TYPE_DEL)
			if !slices.Equal(n.GetCurUserIdList(), want) || !slices.Equal(n.GetChgUserIdList(), []uint32{carolID}) {
				t.Fatalf("%s: notify %v", u.name, n)
			}
		}
		id, err := bob.SendGroupText(ctx, gid, "carol is gone")
		if err != nil {
			t.Fatal(err)
		}
		if m, _ := alice.groupMsg(gid, bobID); m.GetMsgId() != id {
			t.Fatalf("alice got id %d, want %d", m.GetMsgId(), id)
		}
		carol.noGroupMsg(gid, 500*time.Millisecond)
		// A non-member's history request is answered with an empty list.
		if h, err := carol.MsgList(ctx, pb.SessionType_SESSION_TYPE_GROUP, gid, 0, 10); err != nil || len(h.GetMsgList()) != 0 {
			t.Fatalf("a removed member reads the history: %v %v", h, err)
		}
	})

	t.Run("a non-member's group message gets no ack and reaches nobody", func(t *testing.T) {
		before := serviceCounter(t, a, "dbproxy", "group_msgs_refused_non_member")
		c, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if _, err := carol.SendGroupText(c, gid, "let me back in"); err == nil {
			t.Fatal("a non-member's group message was acked")
		}
		for _, u := range []*user{alice, bob} {
			u.noGroupMsg(gid, 300*time.Millisecond)
		}
		if after := serviceCounter(t, a, "dbproxy", "group_msgs_refused_non_member"); after != before+1 {
			t.Fatalf("non-member refusals %d → %d", before, after)
		}
	})

	t.Run("shield", func(t *testing.T) {
		if err := bob.ShieldGroup(ctx, gid, 1); err != nil {
			t.Fatalf("member shield: %v", err)
		}
		if code := resultCode(t, carol.ShieldGroup(ctx, gid, 1)); code != 1 {
			t.Fatalf("non-member shield result %d", code)
		}
		info, err := bob.GroupInfo(ctx, []*pb.GroupVersionInfo{{GroupId: &gid, Version: proto.Uint32(0)}})
		if err != nil || len(info) != 1 || info[0].GetShieldStatus() != 1 {
			t.Fatalf("bob's group info after shield: %v %v", info, err)
		}
	})

	t.Run("limits", func(t *testing.T) {
		tests := []struct {
			name string
			call func() error
		}{
			{"create over the size limit", func() error {
				_, err := alice.CreateGroup(ctx, "big", "", []uint32{aliceID, bobID, carolID, user1ID, user2ID})
				return err
			}},
			{"create with a user that does not exist", func() error {
				_, err := alice.CreateGroup(ctx, "ghost", "", []uint32{aliceID, 9999})
				return err
			}},
			{"add past the size limit", func() error {
				_, err := alice.ChangeGroupMembers(ctx, gid, pb.GroupModifyType_GROUP_MODIFY_TYPE_ADD, []uint32{user2ID, user3ID})
				return err
			}},
			{"add a user that does not exist", func() error {
				_, err := alice.ChangeGroupMembers(ctx, gid, pb.GroupModifyType_GROUP_MODIFY_TYPE_ADD, []uint32{9999})
				return err
			}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				if code := resultCode(t, tc.call()); code != 1 {
					t.Fatalf("result %d", code)
				}
			})
		}
		info, err := alice.GroupInfo(ctx, []*pb.GroupVersionInfo{{GroupId: &gid, Version: proto.Uint32(0)}})
		if err != nil || len(info) != 1 || !slices.Equal(info[0].GetGroupMemberList(), []uint32{aliceID, bobID, user1ID}) {
			t.Fatalf("members after refusals: %v %v", info, err)
		}
		if n := serviceCounter(t, a, "dbproxy", "group_changes_refused_size"); n != 2 {
			t.Fatalf("size refusals %d", n)
		}
		if n := serviceCounter(t, a, "dbproxy", "group_changes_refused_no_user"); n != 2 {
			t.Fatalf("missing-user refusals %d", n)
		}
		// Up to the limit still works.
		if _, err := alice.ChangeGroupMembers(ctx, gid, pb.GroupModifyType_GROUP_MODIFY_TYPE_ADD, []uint32{user2ID}); err != nil {
			t.Fatalf("add up to the limit: %v", err)
		}
	})
}
