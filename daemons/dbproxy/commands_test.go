package dbproxy

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"teamtalk/appliance/config"
	"teamtalk/state"
	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// step is one request of a scenario: the request and either the reply
// expected (checked by check) or none.
type step struct {
	name    string
	cmd     uint16
	req     proto.Message
	reply   uint16 // 0: no reply expected
	check   func(t *testing.T, rep proto.Message)
	setup   func(t *testing.T, f *fixture)
	noReply bool
}

// TestCommands runs every command the proxy serves, in one scenario whose
// steps build on each other (named cases, in order).
func TestCommands(t *testing.T) {
	f := newFixture(t)
	f.seed()
	ctx := context.Background()
	p := f.dial()
	att := handleAttach(42)
	hello := "hello bob"
	audio := append(binary.BigEndian.AppendUint32(nil, 3), "OggS-audio-bytes"...)

	steps := []step{
		{name: "validate ok", cmd: pb.CmdOtherValidateReq,
			req:   &pb.IMValidateReq{UserName: proto.String("alice"), Password: proto.String(state.MD5Hex("123456")), AttachData: att},
			reply: pb.CmdOtherValidateRsp,
			check: func(t *testing.T, rep proto.Message) {
				r := rep.(*pb.IMValidateRsp)
				if r.GetResultCode() != 0 || r.GetResultString() != textOK || r.GetUserInfo().GetUserId() != 1 || r.GetUserInfo().GetUserNickName() != "Alice" {
					t.Errorf("got %v", r)
				}
			}},
		{name: "validate wrong password", cmd: pb.CmdOtherValidateReq,
			req:   &pb.IMValidateReq{UserName: proto.String("alice"), Password: proto.String("nope"), AttachData: att},
			reply: pb.CmdOtherValidateRsp,
			check: func(t *testing.T, rep proto.Message) {
				r := rep.(*pb.IMValidateRsp)
				if r.GetResultCode() != 1 || r.GetResultString() != textBad || r.UserInfo != nil {
					t.Errorf("got %v", r)
				}
			}},
		{name: "users info", cmd: pb.CmdBuddyListUserInfoRequest,
			req:   &pb.IMUsersInfoReq{UserId: u32(1), UserIdList: []uint32{3, 99, 2}, AttachData: att},
			reply: pb.CmdBuddyListUserInfoResponse,
			check: func(t *testing.T, rep proto.Message) {
				r := rep.(*pb.IMUsersInfoRsp)
				var ids []uint32
				for _, u := range r.GetUserInfoList() {
					ids = append(ids, u.GetUserId())
				}
				if r.GetUserId() != 1 || !slices.Equal(ids, []uint32{3, 2}) {
					t.Errorf("got %v", r)
				}
			}},
		{name: "all users full", cmd: pb.CmdBuddyListAllUserRequest,
			req:   &pb.IMAllUserReq{UserId: u32(1), LatestUpdateTime: u32(0), AttachData: att},
			reply: pb.CmdBuddyListAllUserResponse,
			check: func(t *testing.T, rep proto.Message) {
				r := rep.(*pb.IMAllUserRsp)
				if len(r.GetUserList()) != 3 || r.GetLatestUpdateTime() == 0 {
					t.Errorf("got %v", r)
				}
			}},
		{name: "all users past the watermark", cmd: pb.CmdBuddyListAllUserRequest,
			req:   &pb.IMAllUserReq{UserId: u32(1), LatestUpdateTime: u32(uint32(time.Now().Unix()) + 100), AttachData: att},
			reply: pb.CmdBuddyListAllUserResponse,
			check: func(t *testing.T, rep proto.Message) {
				r := rep.(*pb.IMAllUserRsp)
				if len(r.GetUserList()) != 0 || r.GetLatestUpdateTime() != uint32(time.Now().Unix())+100 && r.GetLatestUpdateTime() != uint32(time.Now().Unix())+99 {
					t.Errorf("got %v", r)
				}
			}},
		{name: "all users sees an admin edit", cmd: pb.CmdBuddyListAllUserRequest,
			setup: func(t *testing.T, f *fixture) {
				nick := "Bobby"
				if _, err := f.store.UpdateUser(ctx, 2, state.UserUpdate{Nick: &nick}); err != nil {
					t.Fatal(err)
				}
			},
			req:   &pb.IMAllUserReq{UserId: u32(1), LatestUpdateTime: u32(uint32(time.Now().Unix())), AttachData: att},
			reply: pb.CmdBuddyListAllUserResponse,
			check: func(t *testing.T, rep proto.Message) {
				r := rep.(*pb.IMAllUserRsp)
				found := false
				for _, u := range r.GetUserList() {
					found = found || u.GetUserNickName() == "Bobby"
				}
				if !found {
					t.Errorf("the edited user is missing: %v", r)
				}
			}},
		{name: "departments", cmd: pb.CmdBuddyListDepartmentRequest,
			req:   &pb.IMDepartmentReq{UserId: u32(1), LatestUpdateTime: u32(0), AttachData: att},
			reply: pb.CmdBuddyListDepartmentResponse,
			check: func(t *testing.T, rep proto.Message) {
				r := rep.(*pb.IMDepartmentRsp)
				if len(r.GetDeptList()) != 1 || r.GetDeptList()[0].GetDeptName() != "dev" || r.GetDeptList()[0].GetDeptId() != 1 {
					t.Errorf("got %v", r)
				}
			}},
		{name: "message text", cmd: pb.CmdMsgData,
			req:   textMsg(1, 2, pb.MsgType_MSG_TYPE_SINGLE_TEXT, hello),
			reply: pb.CmdMsgData,
			check: func(t *testing.T, rep proto.Message) {
				want := textMsg(1, 2, pb.MsgType_MSG_TYPE_SINGLE_TEXT, hello)
				want.MsgId = u32(1)
				if !proto.Equal(rep, want) {
					t.Errorf("got %v, want %v", rep, want)
				}
			}},
		{name: "message audio", cmd: pb.CmdMsgData,
			req:   textMsg(1, 2, pb.MsgType_MSG_TYPE_SINGLE_AUDIO, string(audio)),
			reply: pb.CmdMsgData,
			check: func(t *testing.T, rep proto.Message) {
				if r := rep.(*pb.IMMsgData); r.GetMsgId() != 2 || !bytes.Equal(r.GetMsgData(), audio) {
					t.Errorf("got %v", r)
				}
			}},
		{name: "message to oneself gets id 0", cmd: pb.CmdMsgData,
			req:   textMsg(1, 1, pb.MsgType_MSG_TYPE_SINGLE_TEXT, "me"),
			reply: pb.CmdMsgData,
			check: func(t *testing.T, rep proto.Message) {
				if r := rep.(*pb.IMMsgData); r.GetMsgId() != 0 {
					t.Errorf("got %v", r)
				}
			}},
		{name: "history rebuilds audio", cmd: pb.CmdMsgListRequest,
			req: &pb.IMGetMsgListReq{UserId: u32(2), SessionType: pb.SessionType_SESSION_TYPE_SINGLE.Enum(), SessionId: u32(1),
				MsgIdBegin: u32(0), MsgCnt: u32(10), AttachData: att},
			reply: pb.CmdMsgListResponse,
			check: func(t *testing.T, rep proto.Message) {
				r := rep.(*pb.IMGetMsgListRsp)
				l := r.GetMsgList()
				if len(l) != 2 || l[0].GetMsgId() != 2 || !bytes.Equal(l[0].GetMsgData(), audio) || l[1].GetMsgId() != 1 || string(l[1].GetMsgData()) != hello {
					t.Errorf("got %v", r)
				}
			}},
		{name: "messages by id", cmd: pb.CmdMsgGetByMsgIdReq,
			req: &pb.IMGetMsgByIdReq{UserId: u32(2), SessionType: pb.SessionType_SESSION_TYPE_SINGLE.Enum(), SessionId: u32(1),
				MsgIdList: []uint32{1, 5}, AttachData: att},
			reply: pb.CmdMsgGetByMsgIdRes,
			check: func(t *testing.T, rep proto.Message) {
				r := rep.(*pb.IMGetMsgByIdRsp)
				if len(r.GetMsgList()) != 1 || r.GetMsgList()[0].GetMsgId() != 1 {
					t.Errorf("got %v", r)
				}
			}},
		{name: "latest msg id", cmd: pb.CmdMsgGetLatestMsgIdReq,
			req:   &pb.IMGetLatestMsgIdReq{UserId: u32(1), SessionType: pb.SessionType_SESSION_TYPE_SINGLE.Enum(), SessionId: u32(2), AttachData: att},
			reply: pb.CmdMsgGetLatestMsgIdRsp,
			check: func(t *testing.T, rep proto.Message) {
				if r := rep.(*pb.IMGetLatestMsgIdRsp); r.GetLatestMsgId() != 2 {
					t.Errorf("got %v", r)
				}
			}},
		{name: "recent sessions show the audio preview", cmd: pb.CmdBuddyListRecentContactSessionRequest,
			req:   &pb.IMRecentContactSessionReq{UserId: u32(2), LatestUpdateTime: u32(0), AttachData: att},
			reply: pb.CmdBuddyListRecentContactSessionResponse,
			check: func(t *testing.T, rep proto.Message) {
				r := rep.(*pb.IMRecentContactSessionRsp)
				l := r.GetContactSessionList()
				if len(l) != 1 || l[0].GetSessionId() != 1 || l[0].GetLatestMsgId() != 2 || string(l[0].GetLatestMsgData()) != "QhGXlpFjvMFUNrtl1aaPzA==" ||
					l[0].GetLatestMsgType() != pb.MsgType_MSG_TYPE_SINGLE_AUDIO || l[0].GetLatestMsgFromUserId() != 1 {
					t.Errorf("got %v", r)
				}
			}},
		{name: "unread", cmd: pb.CmdMsgUnreadCntRequest,
			req:   &pb.IMUnreadMsgCntReq{UserId: u32(2), AttachData: att},
			reply: pb.CmdMsgUnreadCntResponse,
			check: func(t *testing.T, rep proto.Message) {
				r := rep.(*pb.IMUnreadMsgCntRsp)
				l := r.GetUnreadinfoList()
				if r.GetTotalCnt() != 2 || len(l) != 1 || l[0].GetSessionId() != 1 || l[0].GetUnreadCnt() != 2 {
					t.Errorf("got %v", r)
				}
			}},
		{name: "read ack has no reply", cmd: pb.CmdMsgReadAck, noReply: true,
			req: &pb.IMMsgDataReadAck{UserId: u32(2), SessionId: u32(1), MsgId: u32(2), SessionType: pb.SessionType_SESSION_TYPE_SINGLE.Enum()}},
		{name: "unread after the read ack", cmd: pb.CmdMsgUnreadCntRequest,
			req:   &pb.IMUnreadMsgCntReq{UserId: u32(2), AttachData: att},
			reply: pb.CmdMsgUnreadCntResponse,
			check: func(t *testing.T, rep proto.Message) {
				if r := rep.(*pb.IMUnreadMsgCntRsp); r.GetTotalCnt() != 0 || len(r.GetUnreadinfoList()) != 0 {
					t.Errorf("got %v", r)
				}
			}},
		{name: "remove session", cmd: pb.CmdBuddyListRemoveSessionReq,
			req:   &pb.IMRemoveSessionReq{UserId: u32(2), SessionType: pb.SessionType_SESSION_TYPE_SINGLE.Enum(), SessionId: u32(1), AttachData: att},
			reply: pb.CmdBuddyListRemoveSessionRes,
			check: func(t *testing.T, rep proto.Message) {
				if r := rep.(*pb.IMRemoveSessionRsp); r.GetResultCode() != 0 || r.GetSessionId() != 1 {
					t.Errorf("got %v", r)
				}
			}},
		{name: "remove session again fails", cmd: pb.CmdBuddyListRemoveSessionReq,
			req:   &pb.IMRemoveSessionReq{UserId: u32(2), SessionType: pb.SessionType_SESSION_TYPE_SINGLE.Enum(), SessionId: u32(1), AttachData: att},
			reply: pb.CmdBuddyListRemoveSessionRes,
			check: func(t *testing.T, rep proto.Message) {
				if r := rep.(*pb.IMRemoveSessionRsp); r.GetResultCode() != 1 {
					t.Errorf("got %v", r)
				}
			}},
		{name: "sign info", cmd: pb.CmdBuddyListChangeSignInfoRequest,
			req:   &pb.IMChangeSignInfoReq{UserId: u32(3), SignInfo: proto.String("it's carol"), AttachData: att},
			reply: pb.CmdBuddyListChangeSignInfoResponse,
			check: func(t *testing.T, rep proto.Message) {
				r := rep.(*pb.IMChangeSignInfoRsp)
				u, _ := f.store.UserByName(ctx, "carol")
				if r.GetResultCode() != 0 || r.GetSignInfo() != "it's carol" || u.SignInfo != "it's carol" {
					t.Errorf("got %v, stored %q", r, u.SignInfo)
				}
			}},
		{name: "sign info too long", cmd: pb.CmdBuddyListChangeSignInfoRequest,
			req:   &pb.IMChangeSignInfoReq{UserId: u32(3), SignInfo: proto.String(string(bytes.Repeat([]byte("x"), 129))), AttachData: att},
			reply: pb.CmdBuddyListChangeSignInfoResponse,
			check: func(t *testing.T, rep proto.Message) {
				if r := rep.(*pb.IMChangeSignInfoRsp); r.GetResultCode() != 1 || r.SignInfo != nil {
					t.Errorf("got %v", r)
				}
			}},
		{name: "avatar", cmd: pb.CmdBuddyListChangeAvatarRequest,
			req:   &pb.IMChangeAvatarReq{UserId: u32(3), AvatarUrl: proto.String("g0/000/000/carol.png"), AttachData: att},
			reply: pb.CmdBuddyListChangeAvatarResponse,
			check: func(t *testing.T, rep proto.Message) {
				u, _ := f.store.UserByName(ctx, "carol")
				if r := rep.(*pb.IMChangeAvatarRsp); r.GetResultCode() != 0 || u.Avatar != "g0/000/000/carol.png" {
					t.Errorf("got %v, stored %q", r, u.Avatar)
				}
			}},
		{name: "device token", cmd: pb.CmdLoginReqDevicetoken,
			req:   &pb.IMDeviceTokenReq{UserId: u32(2), DeviceToken: proto.String("tok-bob"), ClientType: pb.ClientType_CLIENT_TYPE_ANDROID.Enum(), AttachData: att},
			reply: pb.CmdLoginResDevicetoken,
			check: func(t *testing.T, rep proto.Message) {
				if r := rep.(*pb.IMDeviceTokenRsp); r.GetUserId() != 2 {
					t.Errorf("got %v", r)
				}
			}},
		{name: "get device tokens", cmd: pb.CmdOtherGetDeviceTokenReq,
			setup: func(t *testing.T, f *fixture) {
				if _, err := f.store.SaveMessage(ctx, state.NewMessage{From: 1, To: 2, Type: state.MsgSingleText, Content: []byte("x")}); err != nil {
					t.Fatal(err)
				}
			},
			req:   &pb.IMGetDeviceTokenReq{UserId: []uint32{1, 2}, AttachData: []byte("serialized IMMsgData")},
			reply: pb.CmdOtherGetDeviceTokenRsp,
			check: func(t *testing.T, rep proto.Message) {
				r := rep.(*pb.IMGetDeviceTokenRsp)
				l := r.GetUserTokenInfo()
				if len(l) != 1 || l[0].GetUserId() != 2 || l[0].GetToken() != "tok-bob" || l[0].GetUserType() != pb.ClientType_CLIENT_TYPE_ANDROID ||
					l[0].GetPushCount() != 1 || l[0].GetPushType() != 1 {
					t.Errorf("got %v", r)
				}
			}},
		{name: "push shield on", cmd: pb.CmdLoginReqPushShield,
			req:   &pb.IMPushShieldReq{UserId: u32(2), ShieldStatus: u32(1), AttachData: att},
			reply: pb.CmdLoginResPushShield,
			check: func(t *testing.T, rep proto.Message) {
				if r := rep.(*pb.IMPushShieldRsp); r.GetResultCode() != 0 || r.GetShieldStatus() != 1 || r.GetUserId() != 2 {
					t.Errorf("got %v", r)
				}
			}},
		{name: "query push shield", cmd: pb.CmdLoginReqQueryPushShield,
			req:   &pb.IMQueryPushShieldReq{UserId: u32(2), AttachData: att},
			reply: pb.CmdLoginResQueryPushShield,
			check: func(t *testing.T, rep proto.Message) {
				if r := rep.(*pb.IMQueryPushShieldRsp); r.GetResultCode() != 0 || r.GetShieldStatus() != 1 {
					t.Errorf("got %v", r)
				}
			}},
		{name: "create group", cmd: pb.CmdGroupCreateRequest,
			req: &pb.IMGroupCreateReq{UserId: u32(1), GroupType: pb.GroupType_GROUP_TYPE_NORMAL.Enum(), GroupName: proto.String("g1"),
				GroupAvatar: proto.String(""), MemberIdList: []uint32{2, 1, 2}, AttachData: att},
			reply: pb.CmdGroupCreateResponse,
			check: func(t *testing.T, rep proto.Message) {
				r := rep.(*pb.IMGroupCreateRsp)
				if r.GetResultCode() != 0 || r.GetGroupId() != 1 || !slices.Equal(r.GetUserIdList(), []uint32{1, 2}) {
					t.Errorf("got %v", r)
				}
			}},
		{name: "create group without members", cmd: pb.CmdGroupCreateRequest,
			req:   &pb.IMGroupCreateReq{UserId: u32(1), GroupType: pb.GroupType_GROUP_TYPE_TMP.Enum(), GroupName: proto.String("g2"), GroupAvatar: proto.String(""), AttachData: att},
			reply: pb.CmdGroupCreateResponse,
			check: func(t *testing.T, rep proto.Message) {
				if r := rep.(*pb.IMGroupCreateRsp); r.GetResultCode() != 1 || r.GroupId != nil || r.GetGroupName() != "g2" {
					t.Errorf("got %v", r)
				}
			}},
		{name: "group message", cmd: pb.CmdMsgData,
			req:   textMsg(2, 1, pb.MsgType_MSG_TYPE_GROUP_TEXT, "hi group"),
			reply: pb.CmdMsgData,
			check: func(t *testing.T, rep proto.Message) {
				if r := rep.(*pb.IMMsgData); r.GetMsgId() != 1 {
					t.Errorf("got %v", r)
				}
			}},
		{name: "group message of a non-member is dropped", cmd: pb.CmdMsgData, noReply: true,
			req: textMsg(3, 1, pb.MsgType_MSG_TYPE_GROUP_TEXT, "intruder")},
		{name: "normal group list", cmd: pb.CmdGroupNormalListRequest,
			req:   &pb.IMNormalGroupListReq{UserId: u32(2), AttachData: att},
			reply: pb.CmdGroupNormalListResponse,
			check: func(t *testing.T, rep proto.Message) {
				l := rep.(*pb.IMNormalGroupListRsp).GetGroupVersionList()
				if len(l) != 1 || l[0].GetGroupId() != 1 || l[0].GetVersion() != 1 {
					t.Errorf("got %v", rep)
				}
			}},
		{name: "group shield", cmd: pb.CmdGroupShieldGroupRequest,
			req:   &pb.IMGroupShieldReq{UserId: u32(2), GroupId: u32(1), ShieldStatus: u32(1), AttachData: att},
			reply: pb.CmdGroupShieldGroupResponse,
			check: func(t *testing.T, rep proto.Message) {
				if r := rep.(*pb.IMGroupShieldRsp); r.GetResultCode() != 0 {
					t.Errorf("got %v", r)
				}
			}},
		{name: "group shield of a non-member", cmd: pb.CmdGroupShieldGroupRequest,
			req:   &pb.IMGroupShieldReq{UserId: u32(3), GroupId: u32(1), ShieldStatus: u32(1), AttachData: att},
			reply: pb.CmdGroupShieldGroupResponse,
			check: func(t *testing.T, rep proto.Message) {
				if r := rep.(*pb.IMGroupShieldRsp); r.GetResultCode() != 1 {
					t.Errorf("got %v", r)
				}
			}},
		{name: "group shield of an unknown group has no reply", cmd: pb.CmdGroupShieldGroupRequest, noReply: true,
			req: &pb.IMGroupShieldReq{UserId: u32(2), GroupId: u32(77), ShieldStatus: u32(1), AttachData: att}},
		{name: "group get shield", cmd: pb.CmdOtherGetShieldReq,
			req:   &pb.IMGroupGetShieldReq{GroupId: u32(1), UserId: []uint32{1, 2, 3}, AttachData: att},
			reply: pb.CmdOtherGetShieldRsp,
			check: func(t *testing.T, rep proto.Message) {
				var got []uint32
				for _, s := range rep.(*pb.IMGroupGetShieldRsp).GetShieldStatusList() {
					got = append(got, s.GetUserId(), s.GetShieldStatus())
				}
				if !slices.Equal(got, []uint32{1, 0, 2, 1, 3, 0}) {
					t.Errorf("got %v", rep)
				}
			}},
		{name: "add member refused to a non-creator of a fixed group", cmd: pb.CmdGroupChangeMemberRequest,
			req: &pb.IMGroupChangeMemberReq{UserId: u32(2), ChangeType: pb.GroupModifyType_GROUP_MODIFY_TYPE_ADD.Enum(), GroupId: u32(1),
				MemberIdList: []uint32{3}, AttachData: att},
			reply: pb.CmdGroupChangeMemberResponse,
			check: func(t *testing.T, rep proto.Message) {
				if r := rep.(*pb.IMGroupChangeMemberRsp); r.GetResultCode() != 1 || len(r.GetCurUserIdList()) != 0 {
					t.Errorf("got %v", r)
				}
			}},
		{name: "add member by the creator", cmd: pb.CmdGroupChangeMemberRequest,
			req: &pb.IMGroupChangeMemberReq{UserId: u32(1), ChangeType: pb.GroupModifyType_GROUP_MODIFY_TYPE_ADD.Enum(), GroupId: u32(1),
				MemberIdList: []uint32{3, 2}, AttachData: att},
			reply: pb.CmdGroupChangeMemberResponse,
			check: func(t *testing.T, rep proto.Message) {
				r := rep.(*pb.IMGroupChangeMemberRsp)
				if r.GetResultCode() != 0 || !slices.Equal(r.GetCurUserIdList(), []uint32{1, 2, 3}) || !slices.Equal(r.GetChgUserIdList(), []uint32{3}) {
					t.Errorf("got %v", r)
				}
			}},
		{name: "group info newer than version 1", cmd: pb.CmdGroupInfoRequest,
			req: &pb.IMGroupInfoListReq{UserId: u32(2), GroupVersionList: []*pb.GroupVersionInfo{
				{GroupId: u32(1), Version: u32(1)}, {GroupId: u32(77), Version: u32(0)}}, AttachData: att},
			reply: pb.CmdGroupInfoResponse,
			check: func(t *testing.T, rep proto.Message) {
				l := rep.(*pb.IMGroupInfoListRsp).GetGroupInfoList()
				if len(l) != 1 || l[0].GetVersion() != 2 || l[0].GetGroupName() != "g1" || l[0].GetShieldStatus() != 1 ||
					!slices.Equal(l[0].GetGroupMemberList(), []uint32{1, 2, 3}) || l[0].GetGroupType() != pb.GroupType_GROUP_TYPE_NORMAL {
					t.Errorf("got %v", rep)
				}
			}},
		{name: "group info not newer", cmd: pb.CmdGroupInfoRequest,
			req:   &pb.IMGroupInfoListReq{UserId: u32(2), GroupVersionList: []*pb.GroupVersionInfo{{GroupId: u32(1), Version: u32(2)}}, AttachData: att},
			reply: pb.CmdGroupInfoResponse,
			check: func(t *testing.T, rep proto.Message) {
				if l := rep.(*pb.IMGroupInfoListRsp).GetGroupInfoList(); len(l) != 0 {
					t.Errorf("got %v", rep)
				}
			}},
		{name: "remove member", cmd: pb.CmdGroupChangeMemberRequest,
			req: &pb.IMGroupChangeMemberReq{UserId: u32(0), ChangeType: pb.GroupModifyType_GROUP_MODIFY_TYPE_DEL.Enum(), GroupId: u32(1),
				MemberIdList: []uint32{3}, AttachData: att},
			reply: pb.CmdGroupChangeMemberResponse,
			check: func(t *testing.T, rep proto.Message) {
				r := rep.(*pb.IMGroupChangeMemberRsp)
				if r.GetResultCode() != 0 || !slices.Equal(r.GetCurUserIdList(), []uint32{1, 2}) || !slices.Equal(r.GetChgUserIdList(), []uint32{3}) {
					t.Errorf("got %v", r)
				}
			}},
		{name: "change members of an unknown group has no reply", cmd: pb.CmdGroupChangeMemberRequest, noReply: true,
			req: &pb.IMGroupChangeMemberReq{UserId: u32(0), ChangeType: pb.GroupModifyType_GROUP_MODIFY_TYPE_ADD.Enum(), GroupId: u32(77), MemberIdList: []uint32{3}}},
		{name: "add offline file has no reply", cmd: pb.CmdFileAddOfflineReq, noReply: true,
			req: &pb.IMFileAddOfflineReq{FromUserId: u32(1), ToUserId: u32(2), TaskId: proto.String("task-1"), FileName: proto.String("a.txt"), FileSize: u32(123)}},
		{name: "has offline", cmd: pb.CmdFileHasOfflineReq,
			req:   &pb.IMFileHasOfflineReq{UserId: u32(2), AttachData: att},
			reply: pb.CmdFileHasOfflineRes,
			check: func(t *testing.T, rep proto.Message) {
				l := rep.(*pb.IMFileHasOfflineRsp).GetOfflineFileList()
				if len(l) != 1 || l[0].GetFromUserId() != 1 || l[0].GetTaskId() != "task-1" || l[0].GetFileName() != "a.txt" || l[0].GetFileSize() != 123 {
					t.Errorf("got %v", rep)
				}
			}},
		{name: "delete offline file has no reply", cmd: pb.CmdFileDelOfflineReq, noReply: true,
			req: &pb.IMFileDelOfflineReq{FromUserId: u32(1), ToUserId: u32(2), TaskId: proto.String("task-1")}},
		{name: "has offline after the delete", cmd: pb.CmdFileHasOfflineReq,
			req:   &pb.IMFileHasOfflineReq{UserId: u32(2), AttachData: att},
			reply: pb.CmdFileHasOfflineRes,
			check: func(t *testing.T, rep proto.Message) {
				if l := rep.(*pb.IMFileHasOfflineRsp).GetOfflineFileList(); len(l) != 0 {
					t.Errorf("got %v", rep)
				}
			}},
	}
	served := map[uint16]bool{}
	for i, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.setup != nil {
				st.setup(t, f)
			}
			seq := uint16(1000 + i)
			if st.noReply {
				p.send(st.cmd, seq, st.req)
				p.expectSilence(150 * time.Millisecond)
				return
			}
			rep := p.call(st.cmd, seq, st.req, st.reply)
			if a, ok := attachOf(st.req); ok {
				if b, _ := attachOf(rep); !bytes.Equal(a, b) {
					t.Errorf("attach %x, want %x", b, a)
				}
			}
			st.check(t, rep)
		})
		served[st.cmd] = true
	}
	for cmd, h := range f.svc.handlers {
		if !served[cmd] {
			t.Errorf("command %s (%#04x) has no case", h.name, cmd)
		}
	}
	if n := f.svc.counters()["IMMsgData.requests"]; n < 4 {
		t.Errorf("IMMsgData.requests = %d", n)
	}
}

// attachOf returns a message's attach_data field.
func attachOf(m proto.Message) ([]byte, bool) {
	fd := m.ProtoReflect().Descriptor().Fields().ByNumber(20)
	if fd == nil {
		return nil, false
	}
	return m.ProtoReflect().Get(fd).Bytes(), true
}

// TestSeqAndAttachEcho: whatever seq, version, flag and reserved the request
// carries and whatever its attach bytes, the reply has the request's seq,
// the reference's version/flag/reserved (1/0/0) and the attach byte for byte.
func TestSeqAndAttachEcho(t *testing.T) {
	f := newFixture(t)
	f.seed()
	p := f.dial()
	pduAttach := append([]byte{0, 0, 0, 3, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 5}, "abcde"...)
	cases := []struct {
		name   string
		hdr    wire.Header
		attach []byte
	}{
		{"handle attach", wire.Header{Version: 1, Seq: 1}, handleAttach(0xdeadbeef)},
		{"pdu attach", wire.Header{Version: 1, Seq: 0xff01}, pduAttach},
		{"no attach, seq 0", wire.Header{Version: 1, Seq: 0}, nil},
		{"empty attach present", wire.Header{Version: 1, Seq: 65535}, []byte{}},
		{"android header", wire.Header{Version: 6, Reserved: 0x30, Seq: 77}, []byte{0xff, 0, 0xfe}},
		{"ios header", wire.Header{Version: 13, Flag: 5, Reserved: 1, Seq: 32766}, handleAttach(1)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := &pb.IMQueryPushShieldReq{UserId: u32(1), AttachData: c.attach}
			h := c.hdr
			h.ServiceID, h.CommandID = 1, pb.CmdLoginReqQueryPushShield
			frame, err := wire.Marshal(h, req)
			if err != nil {
				t.Fatal(err)
			}
			p.writeRaw(frame)
			fr, err := p.readFrame(10 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			gh := wire.ParseHeader(fr)
			want := wire.Header{Length: gh.Length, Version: 1, ServiceID: 1, CommandID: pb.CmdLoginResQueryPushShield, Seq: c.hdr.Seq}
			if gh != want {
				t.Errorf("header %+v, want %+v", gh, want)
			}
			// The attach field's bytes on the wire: tag 0xa2 0x01, length, bytes.
			body := fr[wire.HeaderLen:]
			if c.attach == nil {
				if bytes.Contains(body, []byte{0xa2, 0x01}) {
					t.Errorf("attach present in %x", body)
				}
				return
			}
			tail := append([]byte{0xa2, 0x01, byte(len(c.attach))}, c.attach...)
			if !bytes.HasSuffix(body, tail) {
				t.Errorf("body %x does not end with the attach %x", body, tail)
			}
		})
	}
}

// TestMalformedDropped: bodies that fail the checking decode and unknown
// commands are dropped and counted; the link stays usable.
func TestMalformedDropped(t *testing.T) {
	f := newFixture(t)
	f.seed()
	p := f.dial()
	cases := []struct {
		name string
		cmd  uint16
		body []byte
	}{
		{"garbage", pb.CmdOtherValidateReq, []byte{0xff, 0xff, 0xff}},
		{"required field missing", pb.CmdOtherValidateReq, []byte{0x0a, 0x01, 'a'}},
		{"undeclared enum", pb.CmdMsgData, mustBody(t, &pb.IMMsgData{FromUserId: u32(1), ToSessionId: u32(2), MsgId: u32(0),
			CreateTime: u32(1), MsgType: pb.MsgType(0x33).Enum(), MsgData: []byte("x")})},
		{"unknown command", 0x0999, nil},
		{"client-only command", pb.CmdLoginReqUserlogin, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p.writeRaw(wire.AppendFrame(nil, wire.NewHeader(c.cmd, 5), c.body))
			p.expectSilence(100 * time.Millisecond)
			rep := p.call(pb.CmdLoginReqQueryPushShield, 6, &pb.IMQueryPushShieldReq{UserId: u32(1)},
				pb.CmdLoginResQueryPushShield)
			if rep.(*pb.IMQueryPushShieldRsp).GetUserId() != 1 {
				t.Errorf("got %v", rep)
			}
		})
	}
	c := f.svc.counters()
	if c["bad_bodies"] != 3 || c["unknown_cmds"] != 2 {
		t.Errorf("bad_bodies %d, unknown_cmds %d; want 3, 2", c["bad_bodies"], c["unknown_cmds"])
	}
}

func mustBody(t *testing.T, m proto.Message) []byte {
	b, err := wire.MarshalBody(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMessageOrder: many messages of one conversation, pipelined on several
// links at once, get ids 1..N without gaps or repeats, and on each link in
// the order that link sent them; they share durable commits rather than
// taking one fsync each.
func TestMessageOrder(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.DBProxy.Workers = 8 }, durable)
	f.seed()
	before := f.store.Stats()
	const links, perLink = 4, 100
	var wg sync.WaitGroup
	ids := make([][]uint32, links)
	errs := make(chan error, links)
	for l := range links {
		p := f.dial()
		wg.Add(1)
		go func() {
			defer wg.Done()
			from, to := uint32(1), uint32(2)
			if l%2 == 1 {
				from, to = 2, 1 // both directions are one conversation
			}
			var batch []byte
			for i := range perLink {
				fr, err := wire.Marshal(wire.NewHeader(pb.CmdMsgData, uint16(i)),
					textMsg(from, to, pb.MsgType_MSG_TYPE_SINGLE_TEXT, fmt.Sprintf("%d/%d", l, i)))
				if err != nil {
					errs <- err
					return
				}
				batch = append(batch, fr...)
			}
			if _, err := p.conn.Write(batch); err != nil {
				errs <- err
				return
			}
			for i := range perLink {
				fr, err := p.readFrame(20 * time.Second)
				if err != nil {
					errs <- err
					return
				}
				h, m, err := wire.DecodeFrame(fr)
				if err != nil {
					errs <- err
					return
				}
				r := m.(*pb.IMMsgData)
				if h.Seq != uint16(i) || string(r.GetMsgData()) != fmt.Sprintf("%d/%d", l, i) {
					errs <- fmt.Errorf("link %d reply %d: seq %d data %q", l, i, h.Seq, r.GetMsgData())
					return
				}
				ids[l] = append(ids[l], r.GetMsgId())
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var all []uint32
	for l, x := range ids {
		if !slices.IsSorted(x) {
			t.Errorf("link %d: ids out of order: %v", l, x)
		}
		all = append(all, x...)
	}
	slices.Sort(all)
	for i, id := range all {
		if id != uint32(i+1) {
			t.Fatalf("ids are not 1..%d: position %d holds %d", links*perLink, i, id)
		}
	}
	// One conversation runs on one worker: only asynchronous saves let its
	// messages share commits.
	if st := f.store.Stats(); st.Writes-before.Writes < links*perLink || st.Commits-before.Commits > links*perLink/2 {
		t.Errorf("%d writes in %d commits; pipelined messages should share commits",
			st.Writes-before.Writes, st.Commits-before.Commits)
	}
}
