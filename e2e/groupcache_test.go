package e2e

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"teamtalk/appliance/ctlapi"
	"teamtalk/wire/pb"
)

// TestGroupMemberCache checks that the msg servers' group member caches
// never deliver to a removed member nor miss an added one: membership
// changes made by a client on one msg server and by the control API take
// effect at once for messages sent on either server, while the caches are
// warm (their hit counters show they are used).
func TestGroupMemberCache(t *testing.T) {
	a, b := groupHosts(t, 3)
	msgA, msgB := a.addr("msg.listen"), b.addr("msg.listen")
	alice := login(t, msgA, "alice", android)
	user1 := login(t, msgA, "user1", android)
	bob := login(t, msgB, "bob", android)
	carol := login(t, msgB, "carol", android)
	user2 := login(t, msgB, "user2", android)
	aliceID, bobID, carolID := alice.UserID(), bob.UserID(), carol.UserID()
	user1ID, user2ID := user1.UserID(), user2.UserID()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	rsp, err := alice.CreateGroup(ctx, "cached", "", []uint32{aliceID, bobID, carolID})
	if err != nil {
		t.Fatal(err)
	}
	gid := rsp.GetGroupId()

	n := 0
	// send has from send a message and checks who gets it exactly once.
	send := func(t *testing.T, from *user, to, not []*user) {
		t.Helper()
		n++
		text := fmt.Sprintf("message %d", n)
		id, err := from.SendGroupText(ctx, gid, text)
		if err != nil {
			t.Fatalf("%s's send: %v", from.name, err)
		}
		for _, u := range to {
			if m, got := u.groupMsg(gid, from.UserID()); got != text || m.GetMsgId() != id {
				t.Fatalf("%s got %q id %d, want %q id %d", u.name, got, m.GetMsgId(), text, id)
			}
		}
		for _, u := range append(not, to...) {
			u.noGroupMsg(gid, 200*time.Millisecond)
		}
	}
	hits := func() (uint64, uint64) {
		return serviceCounter(t, a, "msg", "group_cache_hits"), serviceCounter(t, b, "msg", "group_cache_hits")
	}

	// Warm both servers' caches: a message from each side.
	send(t, alice, []*user{bob, carol}, []*user{user1, user2})
	send(t, bob, []*user{alice, carol}, []*user{user1, user2})
	ha, hb := hits()
	send(t, alice, []*user{bob, carol}, []*user{user1, user2})
	send(t, bob, []*user{alice, carol}, []*user{user1, user2})
	if ha2, hb2 := hits(); ha2 <= ha || hb2 <= hb {
		t.Fatalf("the caches are not used: hits on A %d → %d, on B %d → %d", ha, ha2, hb, hb2)
	}

	t.Run("a member removed on the other server stops receiving at once", func(t *testing.T) {
		if _, err := alice.ChangeGroupMembers(ctx, gid, pb.GroupModifyType_GROUP_MODIFY_TYPE_DEL, []uint32{carolID}); err != nil {
			t.Fatal(err)
		}
		bob.changeNotify(gid, pb.GroupModifyType_GROUP_MODIFY_TYPE_DEL)
		send(t, bob, []*user{alice}, []*user{carol, user1, user2})
		send(t, alice, []*user{bob}, []*user{carol, user1, user2})
	})

	t.Run("members added on both servers receive at once", func(t *testing.T) {
		if _, err := alice.ChangeGroupMembers(ctx, gid, pb.GroupModifyType_GROUP_MODIFY_TYPE_ADD, []uint32{user1ID, user2ID}); err != nil {
			t.Fatal(err)
		}
		user2.changeNotify(gid, pb.GroupModifyType_GROUP_MODIFY_TYPE_ADD)
		bob.changeNotify(gid, pb.GroupModifyType_GROUP_MODIFY_TYPE_ADD)
		send(t, bob, []*user{alice, user1, user2}, []*user{carol})
		send(t, alice, []*user{bob, user1, user2}, []*user{carol})
		send(t, user2, []*user{alice, bob, user1}, []*user{carol})
	})

	t.Run("a member removed through the control API stops receiving at once", func(t *testing.T) {
		res, err := a.ctl.ChangeGroupMembers(ctx, strconv.FormatUint(uint64(gid), 10), ctlapi.GroupMembersChange{Remove: []string{"user2"}})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Notified || len(res.Removed) != 1 {
			t.Fatalf("change: %+v", res)
		}
		bob.changeNotify(gid, pb.GroupModifyType_GROUP_MODIFY_TYPE_DEL)
		send(t, bob, []*user{alice, user1}, []*user{carol, user2})
		send(t, user1, []*user{alice, bob}, []*user{carol, user2})
	})

	t.Run("a member added through the control API receives at once", func(t *testing.T) {
		if _, err := a.ctl.ChangeGroupMembers(ctx, strconv.FormatUint(uint64(gid), 10), ctlapi.GroupMembersChange{Add: []string{"carol"}}); err != nil {
			t.Fatal(err)
		}
		carol.changeNotify(gid, pb.GroupModifyType_GROUP_MODIFY_TYPE_ADD)
		send(t, alice, []*user{bob, user1, carol}, []*user{user2})
		send(t, bob, []*user{alice, user1, carol}, []*user{user2})
	})
}

// TestGroupMemberCacheLogin: a msg server that holds no member of a group
// still caches it (it fans out what route relays) but gets none of its
// change notifies (route sends them only where members are). A user added
// or removed while offline who then logs in there must be served by the
// current member list: the login makes the cached one suspect.
func TestGroupMemberCacheLogin(t *testing.T) {
	a, b := groupHosts(t, 3)
	msgA, msgB := a.addr("msg.listen"), b.addr("msg.listen")
	alice := login(t, msgA, "alice", android)
	bob := login(t, msgA, "bob", android)
	user1 := login(t, msgB, "user1", android) // keeps B's route link populated; never a member
	aliceID, bobID, carolID := alice.UserID(), bob.UserID(), uint32(3)
	const user2ID = 5
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	rsp, err := alice.CreateGroup(ctx, "away", "", []uint32{aliceID, bobID, carolID})
	if err != nil {
		t.Fatal(err)
	}
	gid := rsp.GetGroupId()
	sendAll := func(t *testing.T, to []*user, not []*user) {
		t.Helper()
		id, err := alice.SendGroupText(ctx, gid, "ping")
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range to {
			if m, _ := u.groupMsg(gid, aliceID); m.GetMsgId() != id {
				t.Fatalf("%s got id %d, want %d", u.name, m.GetMsgId(), id)
			}
		}
		for _, u := range append(not, to...) {
			u.noGroupMsg(gid, 200*time.Millisecond)
		}
	}
	// B caches the group from the relayed messages.
	before := serviceCounter(t, b, "msg", "group_cache_hits")
	for range 3 {
		sendAll(t, []*user{bob}, []*user{user1})
	}
	if serviceCounter(t, b, "msg", "group_cache_hits") <= before {
		t.Fatal("B does not use its cache for the relayed messages")
	}

	t.Run("added while offline, logs in where no member is", func(t *testing.T) {
		if _, err := alice.ChangeGroupMembers(ctx, gid, pb.GroupModifyType_GROUP_MODIFY_TYPE_ADD, []uint32{user2ID}); err != nil {
			t.Fatal(err)
		}
		bob.changeNotify(gid, pb.GroupModifyType_GROUP_MODIFY_TYPE_ADD)
		user2 := login(t, msgB, "user2", android)
		sendAll(t, []*user{bob, user2}, []*user{user1})
	})

	t.Run("removed while offline, logs in where no member is", func(t *testing.T) {
		sendAll(t, []*user{bob}, []*user{user1}) // B caches the list with carol
		if _, err := alice.ChangeGroupMembers(ctx, gid, pb.GroupModifyType_GROUP_MODIFY_TYPE_DEL, []uint32{carolID}); err != nil {
			t.Fatal(err)
		}
		bob.changeNotify(gid, pb.GroupModifyType_GROUP_MODIFY_TYPE_DEL)
		carol := login(t, msgB, "carol", android)
		sendAll(t, []*user{bob}, []*user{user1, carol})
	})

	t.Run("a login elsewhere does not cost the cached list", func(t *testing.T) {
		sendAll(t, []*user{bob}, []*user{user1})
		reval := serviceCounter(t, b, "msg", "group_cache_revalidations")
		login(t, msgB, "user3", android)
		sendAll(t, []*user{bob}, []*user{user1})
		if got := serviceCounter(t, b, "msg", "group_cache_revalidations"); got != reval+1 {
			t.Fatalf("revalidations on B %d → %d, want one", reval, got)
		}
	})
}
