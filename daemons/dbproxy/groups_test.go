package dbproxy

import (
	"context"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"teamtalk/appliance/config"
	"teamtalk/state"
	"teamtalk/wire/pb"
)

// TestGroupLimits checks the group size limit, the refusal of members that
// do not exist and the counting of group messages from non-members.
func TestGroupLimits(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.DBProxy.MaxGroupMembers = 3 })
	f.seed()
	dave, err := f.store.CreateUser(context.Background(), state.NewUser{Name: "dave", Password: "x", DepartID: 1})
	if err != nil {
		t.Fatal(err)
	}
	p := f.dial()
	att := handleAttach(9)
	create := func(members ...uint32) *pb.IMGroupCreateRsp {
		t.Helper()
		return p.call(pb.CmdGroupCreateRequest, 5, &pb.IMGroupCreateReq{
			UserId: u32(1), GroupType: pb.GroupType_GROUP_TYPE_TMP.Enum(), GroupName: proto.String("g"),
			GroupAvatar: proto.String(""), MemberIdList: members, AttachData: att,
		}, pb.CmdGroupCreateResponse).(*pb.IMGroupCreateRsp)
	}
	add := func(gid uint32, members ...uint32) *pb.IMGroupChangeMemberRsp {
		t.Helper()
		return p.call(pb.CmdGroupChangeMemberRequest, 6, &pb.IMGroupChangeMemberReq{
			UserId: u32(1), ChangeType: pb.GroupModifyType_GROUP_MODIFY_TYPE_ADD.Enum(), GroupId: u32(gid),
			MemberIdList: members, AttachData: att,
		}, pb.CmdGroupChangeMemberResponse).(*pb.IMGroupChangeMemberRsp)
	}

	var gid uint32
	steps := []struct {
		name string
		run  func(t *testing.T)
		size uint64 // the size refusals counted after the step
		user uint64 // the no-such-user refusals counted after the step
	}{
		{name: "create over the limit is refused", size: 1, run: func(t *testing.T) {
			if r := create(1, 2, 3, dave.ID); r.GetResultCode() != 1 || r.GroupId != nil {
				t.Fatalf("got %v", r)
			}
		}},
		{name: "create naming a missing user is refused", size: 1, user: 1, run: func(t *testing.T) {
			if r := create(1, 2, 999); r.GetResultCode() != 1 || r.GroupId != nil {
				t.Fatalf("got %v", r)
			}
		}},
		{name: "create at the limit with repeats works", size: 1, user: 1, run: func(t *testing.T) {
			r := create(1, 2, 2, 1)
			if r.GetResultCode() != 0 || !slices.Equal(r.GetUserIdList(), []uint32{1, 2}) {
				t.Fatalf("got %v", r)
			}
			gid = r.GetGroupId()
		}},
		{name: "adding a missing user is refused", size: 1, user: 2, run: func(t *testing.T) {
			if r := add(gid, 999); r.GetResultCode() != 1 || len(r.GetCurUserIdList()) != 0 {
				t.Fatalf("got %v", r)
			}
		}},
		{name: "adding up to the limit works", size: 1, user: 2, run: func(t *testing.T) {
			if r := add(gid, 3, 1); r.GetResultCode() != 0 || !slices.Equal(r.GetCurUserIdList(), []uint32{1, 2, 3}) {
				t.Fatalf("got %v", r)
			}
		}},
		{name: "adding past the limit is refused", size: 2, user: 2, run: func(t *testing.T) {
			if r := add(gid, dave.ID); r.GetResultCode() != 1 {
				t.Fatalf("got %v", r)
			}
			g, err := f.store.Group(context.Background(), gid)
			if err != nil || len(g.Members) != 3 {
				t.Fatalf("group after refusal: %+v %v", g, err)
			}
		}},
		{name: "a non-member's group message gets no reply and is counted", size: 2, user: 2, run: func(t *testing.T) {
			p.send(pb.CmdMsgData, 7, textMsg(dave.ID, gid, pb.MsgType_MSG_TYPE_GROUP_TEXT, "let me in"))
			p.expectSilence(300 * time.Millisecond)
			if n := f.svc.groupNonMember.Load(); n != 1 {
				t.Fatalf("non-member refusals = %d, want 1", n)
			}
			if c := f.svc.counters()["group_msgs_refused_non_member"]; c != 1 {
				t.Fatalf("status counter = %d", c)
			}
		}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.run(t)
			if got := f.svc.groupTooLarge.Load(); got != st.size {
				t.Errorf("size refusals = %d, want %d", got, st.size)
			}
			if got := f.svc.groupNoUser.Load(); got != st.user {
				t.Errorf("missing-user refusals = %d, want %d", got, st.user)
			}
		})
	}
}
