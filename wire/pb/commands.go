package pb

import (
	"fmt"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Command describes one TeamTalk command id: its enum name, the service id
// servers write next to it, and the protobuf type of its body.
type Command struct {
	// ID is the 16-bit command id of the PDU header.
	ID uint16
	// Name is the enum name, e.g. "CID_MSG_DATA".
	Name string
	// Service is the service id written in the header with this command.
	Service uint16
	// Body is the message type of the body; Body.New() makes an empty one.
	Body protoreflect.MessageType
}

// NewBody returns a new, empty body message for cmd and reports whether cmd
// is a known command.
func NewBody(cmd uint16) (proto.Message, bool) {
	// The commands of a chat message's path, made without Lookup (which
	// builds the enum name) and without the reflective Body.New: together
	// they cost a decode as much as the unmarshal of a small body.
	switch cmd {
	case CmdMsgData:
		return new(IMMsgData), true
	case CmdMsgDataAck:
		return new(IMMsgDataAck), true
	case CmdOtherHeartbeat:
		return new(IMHeartBeat), true
	case CmdMsgReadAck:
		return new(IMMsgDataReadAck), true
	}
	c, ok := Lookup(cmd)
	if !ok {
		return nil, false
	}
	return c.Body.New().Interface(), true
}

// ServiceOf returns the service id that goes with cmd in a header, or 0 when
// cmd is not a known command.
func ServiceOf(cmd uint16) uint16 {
	c, ok := Lookup(cmd)
	if !ok {
		return 0
	}
	return c.Service
}

// CommandName returns the enum name of cmd ("CID_MSG_DATA"), or "0x%04x" for
// an unknown command, so it is always fit for a log line.
func CommandName(cmd uint16) string {
	c, ok := Lookup(cmd)
	if !ok {
		return fmt.Sprintf("0x%04x", cmd)
	}
	return c.Name
}

//go:generate go run ./internal/gencmdids -o cmdids.go

// Commands returns every known command, in ascending id order. The slice is
// new on each call.
func Commands() []Command {
	out := make([]Command, 0, 96)
	for cmd := 0x0100; cmd < 0x0800; cmd++ {
		if c, ok := Lookup(uint16(cmd)); ok {
			out = append(out, c)
		}
	}
	return out
}

// commandTable is every known command, indexed by id, made once from
// describe: the enum name and the body type are looked up through protobuf
// reflection, which on every call (every header a server writes asks for
// its service id) cost ~5% of teamtalkd's CPU in a login storm.
var commandTable = sync.OnceValue(func() *cmdTable {
	t := &cmdTable{}
	for cmd := 0x0100; cmd < len(t.index); cmd++ {
		if c, ok := describe(uint16(cmd)); ok {
			t.cmds = append(t.cmds, c)
			t.index[cmd] = uint8(len(t.cmds))
		}
	}
	return t
})

// cmdTable holds the commands; index[id] is 1 + the command's place in cmds,
// 0 for an unknown id (every id is below 0x0800).
type cmdTable struct {
	index [0x0800]uint8
	cmds  []Command
}

// Lookup returns the description of cmd and reports whether cmd is known.
// The ids are the enum values of IM.BaseDefine, which are authoritative where
// the reference's .proto comments disagree (0x0212, 0x0731–0x0734).
func Lookup(cmd uint16) (Command, bool) {
	t := commandTable()
	if int(cmd) >= len(t.index) || t.index[cmd] == 0 {
		return Command{}, false
	}
	return t.cmds[t.index[cmd]-1], true
}

func command(cmd uint16, name string, sid ServiceID, body proto.Message) Command {
	return Command{ID: cmd, Name: name, Service: uint16(sid), Body: body.ProtoReflect().Type()}
}

// describe is Lookup made afresh, for commandTable.
func describe(cmd uint16) (Command, bool) {
	switch cmd {
	case uint16(LoginCmdID_CID_LOGIN_REQ_MSGSERVER):
		return command(cmd, LoginCmdID(cmd).String(), ServiceID_SID_LOGIN, (*IMMsgServReq)(nil)), true
	case uint16(LoginCmdID_CID_LOGIN_RES_MSGSERVER):
		return command(cmd, LoginCmdID(cmd).String(), ServiceID_SID_LOGIN, (*IMMsgServRsp)(nil)), true
	case uint16(LoginCmdID_CID_LOGIN_REQ_USERLOGIN):
		return command(cmd, LoginCmdID(cmd).String(), ServiceID_SID_LOGIN, (*IMLoginReq)(nil)), true
	case uint16(LoginCmdID_CID_LOGIN_RES_USERLOGIN):
		return command(cmd, LoginCmdID(cmd).String(), ServiceID_SID_LOGIN, (*IMLoginRes)(nil)), true
	case uint16(LoginCmdID_CID_LOGIN_REQ_LOGINOUT):
		return command(cmd, LoginCmdID(cmd).String(), ServiceID_SID_LOGIN, (*IMLogoutReq)(nil)), true
	case uint16(LoginCmdID_CID_LOGIN_RES_LOGINOUT):
		return command(cmd, LoginCmdID(cmd).String(), ServiceID_SID_LOGIN, (*IMLogoutRsp)(nil)), true
	case uint16(LoginCmdID_CID_LOGIN_KICK_USER):
		return command(cmd, LoginCmdID(cmd).String(), ServiceID_SID_LOGIN, (*IMKickUser)(nil)), true
	case uint16(LoginCmdID_CID_LOGIN_REQ_DEVICETOKEN):
		return command(cmd, LoginCmdID(cmd).String(), ServiceID_SID_LOGIN, (*IMDeviceTokenReq)(nil)), true
	case uint16(LoginCmdID_CID_LOGIN_RES_DEVICETOKEN):
		return command(cmd, LoginCmdID(cmd).String(), ServiceID_SID_LOGIN, (*IMDeviceTokenRsp)(nil)), true
	case uint16(LoginCmdID_CID_LOGIN_REQ_KICKPCCLIENT):
		return command(cmd, LoginCmdID(cmd).String(), ServiceID_SID_LOGIN, (*IMKickPCClientReq)(nil)), true
	case uint16(LoginCmdID_CID_LOGIN_RES_KICKPCCLIENT):
		return command(cmd, LoginCmdID(cmd).String(), ServiceID_SID_LOGIN, (*IMKickPCClientRsp)(nil)), true
	case uint16(LoginCmdID_CID_LOGIN_REQ_PUSH_SHIELD):
		return command(cmd, LoginCmdID(cmd).String(), ServiceID_SID_LOGIN, (*IMPushShieldReq)(nil)), true
	case uint16(LoginCmdID_CID_LOGIN_RES_PUSH_SHIELD):
		return command(cmd, LoginCmdID(cmd).String(), ServiceID_SID_LOGIN, (*IMPushShieldRsp)(nil)), true
	case uint16(LoginCmdID_CID_LOGIN_REQ_QUERY_PUSH_SHIELD):
		return command(cmd, LoginCmdID(cmd).String(), ServiceID_SID_LOGIN, (*IMQueryPushShieldReq)(nil)), true
	case uint16(LoginCmdID_CID_LOGIN_RES_QUERY_PUSH_SHIELD):
		return command(cmd, LoginCmdID(cmd).String(), ServiceID_SID_LOGIN, (*IMQueryPushShieldRsp)(nil)), true
	case uint16(BuddyListCmdID_CID_BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST):
		return command(cmd, BuddyListCmdID(cmd).String(), ServiceID_SID_BUDDY_LIST, (*IMRecentContactSessionReq)(nil)), true
	case uint16(BuddyListCmdID_CID_BUDDY_LIST_RECENT_CONTACT_SESSION_RESPONSE):
		return command(cmd, BuddyListCmdID(cmd).String(), ServiceID_SID_BUDDY_LIST, (*IMRecentContactSessionRsp)(nil)), true
	case uint16(BuddyListCmdID_CID_BUDDY_LIST_STATUS_NOTIFY):
		return command(cmd, BuddyListCmdID(cmd).String(), ServiceID_SID_BUDDY_LIST, (*IMUserStatNotify)(nil)), true
	case uint16(BuddyListCmdID_CID_BUDDY_LIST_USER_INFO_REQUEST):
		return command(cmd, BuddyListCmdID(cmd).String(), ServiceID_SID_BUDDY_LIST, (*IMUsersInfoReq)(nil)), true
	case uint16(BuddyListCmdID_CID_BUDDY_LIST_USER_INFO_RESPONSE):
		return command(cmd, BuddyListCmdID(cmd).String(), ServiceID_SID_BUDDY_LIST, (*IMUsersInfoRsp)(nil)), true
	case uint16(BuddyListCmdID_CID_BUDDY_LIST_REMOVE_SESSION_REQ):
		return command(cmd, BuddyListCmdID(cmd).String(), ServiceID_SID_BUDDY_LIST, (*IMRemoveSessionReq)(nil)), true
	case uint16(BuddyListCmdID_CID_BUDDY_LIST_REMOVE_SESSION_RES):
		return command(cmd, BuddyListCmdID(cmd).String(), ServiceID_SID_BUDDY_LIST, (*IMRemoveSessionRsp)(nil)), true
	case uint16(BuddyListCmdID_CID_BUDDY_LIST_ALL_USER_REQUEST):
		return command(cmd, BuddyListCmdID(cmd).String(), ServiceID_SID_BUDDY_LIST, (*IMAllUserReq)(nil)), true
	case uint16(BuddyListCmdID_CID_BUDDY_LIST_ALL_USER_RESPONSE):
		return command(cmd, BuddyListCmdID(cmd).String(), ServiceID_SID_BUDDY_LIST, (*IMAllUserRsp)(nil)), true
	case uint16(BuddyListCmdID_CID_BUDDY_LIST_USERS_STATUS_REQUEST):
		return command(cmd, BuddyListCmdID(cmd).String(), ServiceID_SID_BUDDY_LIST, (*IMUsersStatReq)(nil)), true
	case uint16(BuddyListCmdID_CID_BUDDY_LIST_USERS_STATUS_RESPONSE):
		return command(cmd, BuddyListCmdID(cmd).String(), ServiceID_SID_BUDDY_LIST, (*IMUsersStatRsp)(nil)), true
	case uint16(BuddyListCmdID_CID_BUDDY_LIST_CHANGE_AVATAR_REQUEST):
		return command(cmd, BuddyListCmdID(cmd).String(), ServiceID_SID_BUDDY_LIST, (*IMChangeAvatarReq)(nil)), true
	case uint16(BuddyListCmdID_CID_BUDDY_LIST_CHANGE_AVATAR_RESPONSE):
		return command(cmd, BuddyListCmdID(cmd).String(), ServiceID_SID_BUDDY_LIST, (*IMChangeAvatarRsp)(nil)), true
	case uint16(BuddyListCmdID_CID_BUDDY_LIST_PC_LOGIN_STATUS_NOTIFY):
		return command(cmd, BuddyListCmdID(cmd).String(), ServiceID_SID_BUDDY_LIST, (*IMPCLoginStatusNotify)(nil)), true
	case uint16(BuddyListCmdID_CID_BUDDY_LIST_REMOVE_SESSION_NOTIFY):
		return command(cmd, BuddyListCmdID(cmd).String(), ServiceID_SID_BUDDY_LIST, (*IMRemoveSessionNotify)(nil)), true
	case uint16(BuddyListCmdID_CID_BUDDY_LIST_DEPARTMENT_REQUEST):
		return command(cmd, BuddyListCmdID(cmd).String(), ServiceID_SID_BUDDY_LIST, (*IMDepartmentReq)(nil)), true
	case uint16(BuddyListCmdID_CID_BUDDY_LIST_DEPARTMENT_RESPONSE):
		return command(cmd, BuddyListCmdID(cmd).String(), ServiceID_SID_BUDDY_LIST, (*IMDepartmentRsp)(nil)), true
	case uint16(BuddyListCmdID_CID_BUDDY_LIST_AVATAR_CHANGED_NOTIFY):
		return command(cmd, BuddyListCmdID(cmd).String(), ServiceID_SID_BUDDY_LIST, (*IMAvatarChangedNotify)(nil)), true
	case uint16(BuddyListCmdID_CID_BUDDY_LIST_CHANGE_SIGN_INFO_REQUEST):
		return command(cmd, BuddyListCmdID(cmd).String(), ServiceID_SID_BUDDY_LIST, (*IMChangeSignInfoReq)(nil)), true
	case uint16(BuddyListCmdID_CID_BUDDY_LIST_CHANGE_SIGN_INFO_RESPONSE):
		return command(cmd, BuddyListCmdID(cmd).String(), ServiceID_SID_BUDDY_LIST, (*IMChangeSignInfoRsp)(nil)), true
	case uint16(BuddyListCmdID_CID_BUDDY_LIST_SIGN_INFO_CHANGED_NOTIFY):
		return command(cmd, BuddyListCmdID(cmd).String(), ServiceID_SID_BUDDY_LIST, (*IMSignInfoChangedNotify)(nil)), true
	case uint16(MessageCmdID_CID_MSG_DATA):
		return command(cmd, MessageCmdID(cmd).String(), ServiceID_SID_MSG, (*IMMsgData)(nil)), true
	case uint16(MessageCmdID_CID_MSG_DATA_ACK):
		return command(cmd, MessageCmdID(cmd).String(), ServiceID_SID_MSG, (*IMMsgDataAck)(nil)), true
	case uint16(MessageCmdID_CID_MSG_READ_ACK):
		return command(cmd, MessageCmdID(cmd).String(), ServiceID_SID_MSG, (*IMMsgDataReadAck)(nil)), true
	case uint16(MessageCmdID_CID_MSG_READ_NOTIFY):
		return command(cmd, MessageCmdID(cmd).String(), ServiceID_SID_MSG, (*IMMsgDataReadNotify)(nil)), true
	case uint16(MessageCmdID_CID_MSG_TIME_REQUEST):
		return command(cmd, MessageCmdID(cmd).String(), ServiceID_SID_MSG, (*IMClientTimeReq)(nil)), true
	case uint16(MessageCmdID_CID_MSG_TIME_RESPONSE):
		return command(cmd, MessageCmdID(cmd).String(), ServiceID_SID_MSG, (*IMClientTimeRsp)(nil)), true
	case uint16(MessageCmdID_CID_MSG_UNREAD_CNT_REQUEST):
		return command(cmd, MessageCmdID(cmd).String(), ServiceID_SID_MSG, (*IMUnreadMsgCntReq)(nil)), true
	case uint16(MessageCmdID_CID_MSG_UNREAD_CNT_RESPONSE):
		return command(cmd, MessageCmdID(cmd).String(), ServiceID_SID_MSG, (*IMUnreadMsgCntRsp)(nil)), true
	case uint16(MessageCmdID_CID_MSG_LIST_REQUEST):
		return command(cmd, MessageCmdID(cmd).String(), ServiceID_SID_MSG, (*IMGetMsgListReq)(nil)), true
	case uint16(MessageCmdID_CID_MSG_LIST_RESPONSE):
		return command(cmd, MessageCmdID(cmd).String(), ServiceID_SID_MSG, (*IMGetMsgListRsp)(nil)), true
	case uint16(MessageCmdID_CID_MSG_GET_LATEST_MSG_ID_REQ):
		return command(cmd, MessageCmdID(cmd).String(), ServiceID_SID_MSG, (*IMGetLatestMsgIdReq)(nil)), true
	case uint16(MessageCmdID_CID_MSG_GET_LATEST_MSG_ID_RSP):
		return command(cmd, MessageCmdID(cmd).String(), ServiceID_SID_MSG, (*IMGetLatestMsgIdRsp)(nil)), true
	case uint16(MessageCmdID_CID_MSG_GET_BY_MSG_ID_REQ):
		return command(cmd, MessageCmdID(cmd).String(), ServiceID_SID_MSG, (*IMGetMsgByIdReq)(nil)), true
	case uint16(MessageCmdID_CID_MSG_GET_BY_MSG_ID_RES):
		return command(cmd, MessageCmdID(cmd).String(), ServiceID_SID_MSG, (*IMGetMsgByIdRsp)(nil)), true
	case uint16(GroupCmdID_CID_GROUP_NORMAL_LIST_REQUEST):
		return command(cmd, GroupCmdID(cmd).String(), ServiceID_SID_GROUP, (*IMNormalGroupListReq)(nil)), true
	case uint16(GroupCmdID_CID_GROUP_NORMAL_LIST_RESPONSE):
		return command(cmd, GroupCmdID(cmd).String(), ServiceID_SID_GROUP, (*IMNormalGroupListRsp)(nil)), true
	case uint16(GroupCmdID_CID_GROUP_INFO_REQUEST):
		return command(cmd, GroupCmdID(cmd).String(), ServiceID_SID_GROUP, (*IMGroupInfoListReq)(nil)), true
	case uint16(GroupCmdID_CID_GROUP_INFO_RESPONSE):
		return command(cmd, GroupCmdID(cmd).String(), ServiceID_SID_GROUP, (*IMGroupInfoListRsp)(nil)), true
	case uint16(GroupCmdID_CID_GROUP_CREATE_REQUEST):
		return command(cmd, GroupCmdID(cmd).String(), ServiceID_SID_GROUP, (*IMGroupCreateReq)(nil)), true
	case uint16(GroupCmdID_CID_GROUP_CREATE_RESPONSE):
		return command(cmd, GroupCmdID(cmd).String(), ServiceID_SID_GROUP, (*IMGroupCreateRsp)(nil)), true
	case uint16(GroupCmdID_CID_GROUP_CHANGE_MEMBER_REQUEST):
		return command(cmd, GroupCmdID(cmd).String(), ServiceID_SID_GROUP, (*IMGroupChangeMemberReq)(nil)), true
	case uint16(GroupCmdID_CID_GROUP_CHANGE_MEMBER_RESPONSE):
		return command(cmd, GroupCmdID(cmd).String(), ServiceID_SID_GROUP, (*IMGroupChangeMemberRsp)(nil)), true
	case uint16(GroupCmdID_CID_GROUP_SHIELD_GROUP_REQUEST):
		return command(cmd, GroupCmdID(cmd).String(), ServiceID_SID_GROUP, (*IMGroupShieldReq)(nil)), true
	case uint16(GroupCmdID_CID_GROUP_SHIELD_GROUP_RESPONSE):
		return command(cmd, GroupCmdID(cmd).String(), ServiceID_SID_GROUP, (*IMGroupShieldRsp)(nil)), true
	case uint16(GroupCmdID_CID_GROUP_CHANGE_MEMBER_NOTIFY):
		return command(cmd, GroupCmdID(cmd).String(), ServiceID_SID_GROUP, (*IMGroupChangeMemberNotify)(nil)), true
	case uint16(FileCmdID_CID_FILE_LOGIN_REQ):
		return command(cmd, FileCmdID(cmd).String(), ServiceID_SID_FILE, (*IMFileLoginReq)(nil)), true
	case uint16(FileCmdID_CID_FILE_LOGIN_RES):
		return command(cmd, FileCmdID(cmd).String(), ServiceID_SID_FILE, (*IMFileLoginRsp)(nil)), true
	case uint16(FileCmdID_CID_FILE_STATE):
		return command(cmd, FileCmdID(cmd).String(), ServiceID_SID_FILE, (*IMFileState)(nil)), true
	case uint16(FileCmdID_CID_FILE_PULL_DATA_REQ):
		return command(cmd, FileCmdID(cmd).String(), ServiceID_SID_FILE, (*IMFilePullDataReq)(nil)), true
	case uint16(FileCmdID_CID_FILE_PULL_DATA_RSP):
		return command(cmd, FileCmdID(cmd).String(), ServiceID_SID_FILE, (*IMFilePullDataRsp)(nil)), true
	case uint16(FileCmdID_CID_FILE_REQUEST):
		return command(cmd, FileCmdID(cmd).String(), ServiceID_SID_FILE, (*IMFileReq)(nil)), true
	case uint16(FileCmdID_CID_FILE_RESPONSE):
		return command(cmd, FileCmdID(cmd).String(), ServiceID_SID_FILE, (*IMFileRsp)(nil)), true
	case uint16(FileCmdID_CID_FILE_NOTIFY):
		return command(cmd, FileCmdID(cmd).String(), ServiceID_SID_FILE, (*IMFileNotify)(nil)), true
	case uint16(FileCmdID_CID_FILE_HAS_OFFLINE_REQ):
		return command(cmd, FileCmdID(cmd).String(), ServiceID_SID_FILE, (*IMFileHasOfflineReq)(nil)), true
	case uint16(FileCmdID_CID_FILE_HAS_OFFLINE_RES):
		return command(cmd, FileCmdID(cmd).String(), ServiceID_SID_FILE, (*IMFileHasOfflineRsp)(nil)), true
	case uint16(FileCmdID_CID_FILE_ADD_OFFLINE_REQ):
		return command(cmd, FileCmdID(cmd).String(), ServiceID_SID_FILE, (*IMFileAddOfflineReq)(nil)), true
	case uint16(FileCmdID_CID_FILE_DEL_OFFLINE_REQ):
		return command(cmd, FileCmdID(cmd).String(), ServiceID_SID_FILE, (*IMFileDelOfflineReq)(nil)), true
	case uint16(SwitchServiceCmdID_CID_SWITCH_P2P_CMD):
		return command(cmd, SwitchServiceCmdID(cmd).String(), ServiceID_SID_SWITCH_SERVICE, (*IMP2PCmdMsg)(nil)), true
	case uint16(OtherCmdID_CID_OTHER_HEARTBEAT):
		return command(cmd, OtherCmdID(cmd).String(), ServiceID_SID_OTHER, (*IMHeartBeat)(nil)), true
	case uint16(OtherCmdID_CID_OTHER_STOP_RECV_PACKET):
		return command(cmd, OtherCmdID(cmd).String(), ServiceID_SID_OTHER, (*IMStopReceivePacket)(nil)), true
	case uint16(OtherCmdID_CID_OTHER_VALIDATE_REQ):
		return command(cmd, OtherCmdID(cmd).String(), ServiceID_SID_OTHER, (*IMValidateReq)(nil)), true
	case uint16(OtherCmdID_CID_OTHER_VALIDATE_RSP):
		return command(cmd, OtherCmdID(cmd).String(), ServiceID_SID_OTHER, (*IMValidateRsp)(nil)), true
	case uint16(OtherCmdID_CID_OTHER_GET_DEVICE_TOKEN_REQ):
		return command(cmd, OtherCmdID(cmd).String(), ServiceID_SID_OTHER, (*IMGetDeviceTokenReq)(nil)), true
	case uint16(OtherCmdID_CID_OTHER_GET_DEVICE_TOKEN_RSP):
		return command(cmd, OtherCmdID(cmd).String(), ServiceID_SID_OTHER, (*IMGetDeviceTokenRsp)(nil)), true
	case uint16(OtherCmdID_CID_OTHER_ROLE_SET):
		return command(cmd, OtherCmdID(cmd).String(), ServiceID_SID_OTHER, (*IMRoleSet)(nil)), true
	case uint16(OtherCmdID_CID_OTHER_ONLINE_USER_INFO):
		return command(cmd, OtherCmdID(cmd).String(), ServiceID_SID_OTHER, (*IMOnlineUserInfo)(nil)), true
	case uint16(OtherCmdID_CID_OTHER_MSG_SERV_INFO):
		return command(cmd, OtherCmdID(cmd).String(), ServiceID_SID_OTHER, (*IMMsgServInfo)(nil)), true
	case uint16(OtherCmdID_CID_OTHER_USER_STATUS_UPDATE):
		return command(cmd, OtherCmdID(cmd).String(), ServiceID_SID_OTHER, (*IMUserStatusUpdate)(nil)), true
	case uint16(OtherCmdID_CID_OTHER_USER_CNT_UPDATE):
		return command(cmd, OtherCmdID(cmd).String(), ServiceID_SID_OTHER, (*IMUserCntUpdate)(nil)), true
	case uint16(OtherCmdID_CID_OTHER_SERVER_KICK_USER):
		return command(cmd, OtherCmdID(cmd).String(), ServiceID_SID_OTHER, (*IMServerKickUser)(nil)), true
	case uint16(OtherCmdID_CID_OTHER_LOGIN_STATUS_NOTIFY):
		return command(cmd, OtherCmdID(cmd).String(), ServiceID_SID_OTHER, (*IMServerPCLoginStatusNotify)(nil)), true
	case uint16(OtherCmdID_CID_OTHER_PUSH_TO_USER_REQ):
		return command(cmd, OtherCmdID(cmd).String(), ServiceID_SID_OTHER, (*IMPushToUserReq)(nil)), true
	case uint16(OtherCmdID_CID_OTHER_PUSH_TO_USER_RSP):
		return command(cmd, OtherCmdID(cmd).String(), ServiceID_SID_OTHER, (*IMPushToUserRsp)(nil)), true
	case uint16(OtherCmdID_CID_OTHER_GET_SHIELD_REQ):
		return command(cmd, OtherCmdID(cmd).String(), ServiceID_SID_OTHER, (*IMGroupGetShieldReq)(nil)), true
	case uint16(OtherCmdID_CID_OTHER_GET_SHIELD_RSP):
		return command(cmd, OtherCmdID(cmd).String(), ServiceID_SID_OTHER, (*IMGroupGetShieldRsp)(nil)), true
	case uint16(OtherCmdID_CID_OTHER_FILE_TRANSFER_REQ):
		return command(cmd, OtherCmdID(cmd).String(), ServiceID_SID_OTHER, (*IMFileTransferReq)(nil)), true
	case uint16(OtherCmdID_CID_OTHER_FILE_TRANSFER_RSP):
		return command(cmd, OtherCmdID(cmd).String(), ServiceID_SID_OTHER, (*IMFileTransferRsp)(nil)), true
	case uint16(OtherCmdID_CID_OTHER_FILE_SERVER_IP_REQ):
		return command(cmd, OtherCmdID(cmd).String(), ServiceID_SID_OTHER, (*IMFileServerIPReq)(nil)), true
	case uint16(OtherCmdID_CID_OTHER_FILE_SERVER_IP_RSP):
		return command(cmd, OtherCmdID(cmd).String(), ServiceID_SID_OTHER, (*IMFileServerIPRsp)(nil)), true
	}
	return Command{}, false
}

// CmdConstName returns the name of the uint16 constant of cmdids.go for the
// command enum name ("CID_MSG_DATA": "CmdMsgData"), or an error for a name
// that does not start with CID_.
func CmdConstName(enum string) (string, error) {
	rest, ok := strings.CutPrefix(enum, "CID_")
	if !ok || rest == "" {
		return "", fmt.Errorf("pb: command name %q does not start with CID_", enum)
	}
	var b strings.Builder
	b.WriteString("Cmd")
	for w := range strings.SplitSeq(rest, "_") {
		if w == "" {
			continue
		}
		b.WriteString(strings.ToUpper(w[:1]))
		b.WriteString(strings.ToLower(w[1:]))
	}
	return b.String(), nil
}
