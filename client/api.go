package client

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// LoginError is a login refused by the server: Code is IMLoginRes's
// result_code (e.g. REFUSE_REASON_DB_VALIDATE_FAILED for a wrong password,
// REFUSE_REASON_NO_DB_SERVER when msg has no db link) and Text its
// result_string.
type LoginError struct {
	Code pb.ResultType
	Text string
}

// Error describes the refusal.
func (e *LoginError) Error() string {
	return fmt.Sprintf("client: login refused: %s (%d): %s", e.Code, int32(e.Code), e.Text)
}

// ResultError is a reply whose result_code is not 0.
type ResultError struct {
	Cmd  uint16 // the reply's command
	Code uint32
}

// Error describes the refusal.
func (e *ResultError) Error() string {
	return fmt.Sprintf("client: %s: result code %d", pb.CommandName(e.Cmd), e.Code)
}

// LoginResult is a successful login.
type LoginResult struct {
	User         *pb.UserInfo
	ServerTime   time.Time
	OnlineStatus pb.UserStatType
	Text         string // result_string ("成功")
}

// Login logs in with the plain password, sending its md5 hex as every
// TeamTalk client does (PROTOCOL.md §7.2).
func (c *Client) Login(ctx context.Context, name, password string) (*LoginResult, error) {
	return c.LoginHash(ctx, name, PasswordHash(password))
}

// LoginHash logs in with the password field sent as given (the md5 hex of
// the plain password). A refusal is a *LoginError; the server closes the
// connection after it.
func (c *Client) LoginHash(ctx context.Context, name, passwordHash string) (*LoginResult, error) {
	rsp, err := do[*pb.IMLoginRes](ctx, c, pb.LoginCmdID_CID_LOGIN_REQ_USERLOGIN, c.opt.LoginRequest(name, passwordHash), pb.LoginCmdID_CID_LOGIN_RES_USERLOGIN)
	if err != nil {
		return nil, err
	}
	res, err := LoginReply(rsp)
	if err != nil {
		return nil, err
	}
	c.userID.Store(res.User.GetUserId())
	return res, nil
}

// LoginRequest returns the IMLoginReq that LoginHash sends for name and the
// password field as given (md5 hex): o's client type, version and online
// status, their defaults where o leaves them zero. For programs that speak
// the login exchange on their own connections.
func (o Options) LoginRequest(name, passwordHash string) *pb.IMLoginReq {
	o.setLoginDefaults()
	return &pb.IMLoginReq{
		UserName:      &name,
		Password:      &passwordHash,
		OnlineStatus:  o.OnlineStatus.Enum(),
		ClientType:    o.ClientType.Enum(),
		ClientVersion: &o.ClientVersion,
	}
}

// LoginReply reads a login reply as LoginHash does: a refusal is a
// *LoginError.
func LoginReply(rsp *pb.IMLoginRes) (*LoginResult, error) {
	if rsp.GetResultCode() != pb.ResultType_REFUSE_REASON_NONE {
		return nil, &LoginError{Code: rsp.GetResultCode(), Text: rsp.GetResultString()}
	}
	return &LoginResult{
		User:         rsp.GetUserInfo(),
		ServerTime:   time.Unix(int64(rsp.GetServerTime()), 0),
		OnlineStatus: rsp.GetOnlineStatus(),
		Text:         rsp.GetResultString(),
	}, nil
}

// Logout asks the server to end the session (it clears the push token,
// replies and closes the connection). Close the client afterwards.
func (c *Client) Logout(ctx context.Context) error {
	rsp, err := do[*pb.IMLogoutRsp](ctx, c, pb.LoginCmdID_CID_LOGIN_REQ_LOGINOUT, &pb.IMLogoutReq{}, pb.LoginCmdID_CID_LOGIN_RES_LOGINOUT)
	if err != nil {
		return err
	}
	return resultErr(pb.LoginCmdID_CID_LOGIN_RES_LOGINOUT, rsp.GetResultCode())
}

// Ping sends a heartbeat and waits for the server's echo.
func (c *Client) Ping(ctx context.Context) error {
	_, _, err := c.roundTrip(ctx, uint16(pb.OtherCmdID_CID_OTHER_HEARTBEAT), nil, uint16(pb.OtherCmdID_CID_OTHER_HEARTBEAT), false)
	if err == nil {
		c.hbSent.Add(1)
		c.hbEcho.Add(1)
	}
	return err
}

// Send writes msg as cmd with a fresh seq and does not wait for anything
// (for commands without a reply, or for tests).
func (c *Client) Send(cmd uint16, msg proto.Message) (seq uint16, err error) {
	c.pmu.Lock()
	seq = c.nextSeqLocked()
	c.pmu.Unlock()
	return seq, c.send(cmd, seq, msg)
}

// SendFrame writes a whole frame as given (header and body), for tests that
// need odd headers or bodies.
func (c *Client) SendFrame(frame []byte) error { return c.sendRaw(frame) }

// NewTextMsg returns an IMMsgData of text to a user (group false) or a group,
// encrypted with the client's cipher, from the logged-in user.
func (c *Client) NewTextMsg(to uint32, text string, group bool) *pb.IMMsgData {
	t := pb.MsgType_MSG_TYPE_SINGLE_TEXT
	if group {
		t = pb.MsgType_MSG_TYPE_GROUP_TEXT
	}
	return &pb.IMMsgData{
		FromUserId:  proto.Uint32(c.UserID()),
		ToSessionId: proto.Uint32(to),
		MsgId:       proto.Uint32(0),
		CreateTime:  proto.Uint32(uint32(time.Now().Unix())),
		MsgType:     t.Enum(),
		MsgData:     c.opt.Cipher.Encrypt([]byte(text)),
	}
}

// SendText sends text (encrypted) to user to and waits for the server's
// IMMsgDataAck, returning the message id it allocated.
func (c *Client) SendText(ctx context.Context, to uint32, text string) (msgID uint32, err error) {
	return c.sendText(ctx, to, text, false)
}

// SendGroupText sends text (encrypted) to group g and waits for the ack.
func (c *Client) SendGroupText(ctx context.Context, g uint32, text string) (msgID uint32, err error) {
	return c.sendText(ctx, g, text, true)
}

// textMsg is the reusable state of one text send.
type textMsg struct {
	msg                     pb.IMMsgData
	from, to, zero, created uint32
	typ                     pb.MsgType
	buf                     []byte
}

var textPool = sync.Pool{New: func() any { return new(textMsg) }}

// sendText encodes a text message with pooled buffers: the frame is built
// in the write buffer while the message is held, then the pool gets it back.
func (c *Client) sendText(ctx context.Context, to uint32, text string, group bool) (uint32, error) {
	t := textPool.Get().(*textMsg)
	t.from, t.to, t.zero, t.created = c.UserID(), to, 0, uint32(time.Now().Unix())
	t.typ = pb.MsgType_MSG_TYPE_SINGLE_TEXT
	if group {
		t.typ = pb.MsgType_MSG_TYPE_GROUP_TEXT
	}
	t.buf = c.opt.Cipher.AppendEncrypt(t.buf[:0], []byte(text))
	t.msg.FromUserId, t.msg.ToSessionId, t.msg.MsgId, t.msg.CreateTime = &t.from, &t.to, &t.zero, &t.created
	t.msg.MsgType, t.msg.MsgData = &t.typ, t.buf
	id, err := c.SendMsg(ctx, &t.msg)
	t.msg.Reset()
	if cap(t.buf) <= maxKeep {
		textPool.Put(t)
	}
	return id, err
}

// SendMsg sends m (IMMsgData, 0x0301) and waits for its IMMsgDataAck
// (0x0302), returning the message id the server allocated. The server sends
// no ack when it drops a message (rate limit, empty data, storage failure:
// PROTOCOL.md §4.3), so give ctx a deadline.
func (c *Client) SendMsg(ctx context.Context, m *pb.IMMsgData) (msgID uint32, err error) {
	ack, err := do[*pb.IMMsgDataAck](ctx, c, pb.MessageCmdID_CID_MSG_DATA, m, pb.MessageCmdID_CID_MSG_DATA_ACK)
	if err != nil {
		return 0, err
	}
	return ack.GetMsgId(), nil
}

// SendMsgAsync sends m and returns at once; cb gets the ack or an error
// (ErrTimeout after timeout, 0 meaning Options.AsyncTimeout). See Go for
// where cb runs.
func (c *Client) SendMsgAsync(m *pb.IMMsgData, timeout time.Duration, cb func(ack *pb.IMMsgDataAck, err error)) error {
	return c.Go(uint16(pb.MessageCmdID_CID_MSG_DATA), m, uint16(pb.MessageCmdID_CID_MSG_DATA_ACK), timeout,
		func(_ wire.Header, rsp proto.Message, err error) {
			ack, _ := rsp.(*pb.IMMsgDataAck)
			cb(ack, err)
		})
}

// Text returns the plain text of a text message (decrypted), or for audio
// messages an error.
func (c *Client) Text(m *pb.IMMsgData) (string, error) {
	switch m.GetMsgType() {
	case pb.MsgType_MSG_TYPE_SINGLE_TEXT, pb.MsgType_MSG_TYPE_GROUP_TEXT:
	default:
		return "", fmt.Errorf("client: message %d is %s, not text", m.GetMsgId(), m.GetMsgType())
	}
	b, err := c.opt.Cipher.Decrypt(m.GetMsgData())
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// ReadAck tells the server this user read session (up to msgID); the server
// clears its unread count and notifies the user's other devices. No reply.
func (c *Client) ReadAck(sessionType pb.SessionType, session, msgID uint32) error {
	_, err := c.Send(uint16(pb.MessageCmdID_CID_MSG_READ_ACK), &pb.IMMsgDataReadAck{
		UserId: proto.Uint32(c.UserID()), SessionId: &session, MsgId: &msgID, SessionType: sessionType.Enum(),
	})
	return err
}

// Unread returns the unread counts per session (PROTOCOL.md §4.6).
func (c *Client) Unread(ctx context.Context) (*pb.IMUnreadMsgCntRsp, error) {
	return do[*pb.IMUnreadMsgCntRsp](ctx, c, pb.MessageCmdID_CID_MSG_UNREAD_CNT_REQUEST,
		&pb.IMUnreadMsgCntReq{UserId: proto.Uint32(c.UserID())}, pb.MessageCmdID_CID_MSG_UNREAD_CNT_RESPONSE)
}

// MsgList returns up to count messages of a session, newest first, starting
// at msg id begin (0: the newest).
func (c *Client) MsgList(ctx context.Context, sessionType pb.SessionType, session, begin, count uint32) (*pb.IMGetMsgListRsp, error) {
	return do[*pb.IMGetMsgListRsp](ctx, c, pb.MessageCmdID_CID_MSG_LIST_REQUEST, &pb.IMGetMsgListReq{
		UserId: proto.Uint32(c.UserID()), SessionType: sessionType.Enum(), SessionId: &session, MsgIdBegin: &begin, MsgCnt: &count,
	}, pb.MessageCmdID_CID_MSG_LIST_RESPONSE)
}

// MsgsByID returns the listed messages of a session, newest first.
func (c *Client) MsgsByID(ctx context.Context, sessionType pb.SessionType, session uint32, ids []uint32) (*pb.IMGetMsgByIdRsp, error) {
	return do[*pb.IMGetMsgByIdRsp](ctx, c, pb.MessageCmdID_CID_MSG_GET_BY_MSG_ID_REQ, &pb.IMGetMsgByIdReq{
		UserId: proto.Uint32(c.UserID()), SessionType: sessionType.Enum(), SessionId: &session, MsgIdList: ids,
	}, pb.MessageCmdID_CID_MSG_GET_BY_MSG_ID_RES)
}

// LatestMsgID returns the newest message id of a session (0 if none).
func (c *Client) LatestMsgID(ctx context.Context, sessionType pb.SessionType, session uint32) (uint32, error) {
	rsp, err := do[*pb.IMGetLatestMsgIdRsp](ctx, c, pb.MessageCmdID_CID_MSG_GET_LATEST_MSG_ID_REQ, &pb.IMGetLatestMsgIdReq{
		UserId: proto.Uint32(c.UserID()), SessionType: sessionType.Enum(), SessionId: &session,
	}, pb.MessageCmdID_CID_MSG_GET_LATEST_MSG_ID_RSP)
	return rsp.GetLatestMsgId(), err
}

// RecentSessions returns the sessions updated after since (unix seconds; 0
// for all), newest first.
func (c *Client) RecentSessions(ctx context.Context, since uint32) (*pb.IMRecentContactSessionRsp, error) {
	return do[*pb.IMRecentContactSessionRsp](ctx, c, pb.BuddyListCmdID_CID_BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST,
		&pb.IMRecentContactSessionReq{UserId: proto.Uint32(c.UserID()), LatestUpdateTime: &since},
		pb.BuddyListCmdID_CID_BUDDY_LIST_RECENT_CONTACT_SESSION_RESPONSE)
}

// RemoveSession removes a session from the recent list (a *ResultError when
// there was none).
func (c *Client) RemoveSession(ctx context.Context, sessionType pb.SessionType, session uint32) error {
	rsp, err := do[*pb.IMRemoveSessionRsp](ctx, c, pb.BuddyListCmdID_CID_BUDDY_LIST_REMOVE_SESSION_REQ, &pb.IMRemoveSessionReq{
		UserId: proto.Uint32(c.UserID()), SessionType: sessionType.Enum(), SessionId: &session,
	}, pb.BuddyListCmdID_CID_BUDDY_LIST_REMOVE_SESSION_RES)
	if err != nil {
		return err
	}
	return resultErr(pb.BuddyListCmdID_CID_BUDDY_LIST_REMOVE_SESSION_RES, rsp.GetResultCode())
}

// UsersInfo returns the listed users (any status, any order).
func (c *Client) UsersInfo(ctx context.Context, ids []uint32) ([]*pb.UserInfo, error) {
	rsp, err := do[*pb.IMUsersInfoRsp](ctx, c, pb.BuddyListCmdID_CID_BUDDY_LIST_USER_INFO_REQUEST,
		&pb.IMUsersInfoReq{UserId: proto.Uint32(c.UserID()), UserIdList: ids}, pb.BuddyListCmdID_CID_BUDDY_LIST_USER_INFO_RESPONSE)
	return rsp.GetUserInfoList(), err
}

// AllUsers returns the directory changed since since (0: every user), with
// the latest_update_time to pass next time.
func (c *Client) AllUsers(ctx context.Context, since uint32) (*pb.IMAllUserRsp, error) {
	return do[*pb.IMAllUserRsp](ctx, c, pb.BuddyListCmdID_CID_BUDDY_LIST_ALL_USER_REQUEST,
		&pb.IMAllUserReq{UserId: proto.Uint32(c.UserID()), LatestUpdateTime: &since}, pb.BuddyListCmdID_CID_BUDDY_LIST_ALL_USER_RESPONSE)
}

// UsersStat returns the presence of the listed users (ONLINE means some PC
// client of the user is online).
func (c *Client) UsersStat(ctx context.Context, ids []uint32) ([]*pb.UserStat, error) {
	rsp, err := do[*pb.IMUsersStatRsp](ctx, c, pb.BuddyListCmdID_CID_BUDDY_LIST_USERS_STATUS_REQUEST,
		&pb.IMUsersStatReq{UserId: proto.Uint32(c.UserID()), UserIdList: ids}, pb.BuddyListCmdID_CID_BUDDY_LIST_USERS_STATUS_RESPONSE)
	return rsp.GetUserStatList(), err
}

// Departments returns the departments changed since since (0: all).
func (c *Client) Departments(ctx context.Context, since uint32) (*pb.IMDepartmentRsp, error) {
	return do[*pb.IMDepartmentRsp](ctx, c, pb.BuddyListCmdID_CID_BUDDY_LIST_DEPARTMENT_REQUEST,
		&pb.IMDepartmentReq{UserId: proto.Uint32(c.UserID()), LatestUpdateTime: &since}, pb.BuddyListCmdID_CID_BUDDY_LIST_DEPARTMENT_RESPONSE)
}

// ServerTime returns the server's clock.
func (c *Client) ServerTime(ctx context.Context) (time.Time, error) {
	rsp, err := do[*pb.IMClientTimeRsp](ctx, c, pb.MessageCmdID_CID_MSG_TIME_REQUEST, &pb.IMClientTimeReq{}, pb.MessageCmdID_CID_MSG_TIME_RESPONSE)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(int64(rsp.GetServerTime()), 0), nil
}

// ChangeSignInfo sets the user's signature (at most 128 bytes).
func (c *Client) ChangeSignInfo(ctx context.Context, sign string) error {
	rsp, err := do[*pb.IMChangeSignInfoRsp](ctx, c, pb.BuddyListCmdID_CID_BUDDY_LIST_CHANGE_SIGN_INFO_REQUEST,
		&pb.IMChangeSignInfoReq{UserId: proto.Uint32(c.UserID()), SignInfo: &sign}, pb.BuddyListCmdID_CID_BUDDY_LIST_CHANGE_SIGN_INFO_RESPONSE)
	if err != nil {
		return err
	}
	return resultErr(pb.BuddyListCmdID_CID_BUDDY_LIST_CHANGE_SIGN_INFO_RESPONSE, rsp.GetResultCode())
}

// ChangeAvatar sets the user's avatar URL. The reference never answers it
// (PROTOCOL.md §4.11), so give ctx a deadline.
func (c *Client) ChangeAvatar(ctx context.Context, url string) error {
	rsp, err := do[*pb.IMChangeAvatarRsp](ctx, c, pb.BuddyListCmdID_CID_BUDDY_LIST_CHANGE_AVATAR_REQUEST,
		&pb.IMChangeAvatarReq{UserId: proto.Uint32(c.UserID()), AvatarUrl: &url}, pb.BuddyListCmdID_CID_BUDDY_LIST_CHANGE_AVATAR_RESPONSE)
	if err != nil {
		return err
	}
	return resultErr(pb.BuddyListCmdID_CID_BUDDY_LIST_CHANGE_AVATAR_RESPONSE, rsp.GetResultCode())
}

// DeviceToken registers the push token of a mobile client ("ios:…" or
// "android:…" is added by the server from the client type). The server
// answers mobile clients at once with an empty body and ignores PC clients
// (no reply: ctx ends the wait).
func (c *Client) DeviceToken(ctx context.Context, token string) error {
	_, _, err := c.roundTrip(ctx, uint16(pb.LoginCmdID_CID_LOGIN_REQ_DEVICETOKEN), &pb.IMDeviceTokenReq{
		UserId: proto.Uint32(c.UserID()), DeviceToken: &token, ClientType: c.opt.ClientType.Enum(),
	}, uint16(pb.LoginCmdID_CID_LOGIN_RES_DEVICETOKEN), true)
	return err
}

// PushShield sets the night-time do-not-disturb flag (1 on, 0 off) and
// returns the stored value.
func (c *Client) PushShield(ctx context.Context, status uint32) (uint32, error) {
	rsp, err := do[*pb.IMPushShieldRsp](ctx, c, pb.LoginCmdID_CID_LOGIN_REQ_PUSH_SHIELD,
		&pb.IMPushShieldReq{UserId: proto.Uint32(c.UserID()), ShieldStatus: &status}, pb.LoginCmdID_CID_LOGIN_RES_PUSH_SHIELD)
	if err != nil {
		return 0, err
	}
	return rsp.GetShieldStatus(), resultErr(pb.LoginCmdID_CID_LOGIN_RES_PUSH_SHIELD, rsp.GetResultCode())
}

// QueryPushShield returns the night-time do-not-disturb flag.
func (c *Client) QueryPushShield(ctx context.Context) (uint32, error) {
	rsp, err := do[*pb.IMQueryPushShieldRsp](ctx, c, pb.LoginCmdID_CID_LOGIN_REQ_QUERY_PUSH_SHIELD,
		&pb.IMQueryPushShieldReq{UserId: proto.Uint32(c.UserID())}, pb.LoginCmdID_CID_LOGIN_RES_QUERY_PUSH_SHIELD)
	if err != nil {
		return 0, err
	}
	return rsp.GetShieldStatus(), resultErr(pb.LoginCmdID_CID_LOGIN_RES_QUERY_PUSH_SHIELD, rsp.GetResultCode())
}

// KickPC asks the server to kick this user's PC client (only mobile clients
// may; the server ignores PC clients, so give ctx a deadline).
func (c *Client) KickPC(ctx context.Context) error {
	rsp, err := do[*pb.IMKickPCClientRsp](ctx, c, pb.LoginCmdID_CID_LOGIN_REQ_KICKPCCLIENT,
		&pb.IMKickPCClientReq{UserId: proto.Uint32(c.UserID())}, pb.LoginCmdID_CID_LOGIN_RES_KICKPCCLIENT)
	if err != nil {
		return err
	}
	return resultErr(pb.LoginCmdID_CID_LOGIN_RES_KICKPCCLIENT, rsp.GetResultCode())
}

// P2PCmd sends an opaque command (e.g. a typing indicator) to user to's
// connections. Nothing is stored or answered.
func (c *Client) P2PCmd(to uint32, data string) error {
	_, err := c.Send(uint16(pb.SwitchServiceCmdID_CID_SWITCH_P2P_CMD), &pb.IMP2PCmdMsg{
		FromUserId: proto.Uint32(c.UserID()), ToUserId: &to, CmdMsgData: &data,
	})
	return err
}

// GroupList returns the user's fixed (type 1) groups with their versions.
func (c *Client) GroupList(ctx context.Context) ([]*pb.GroupVersionInfo, error) {
	rsp, err := do[*pb.IMNormalGroupListRsp](ctx, c, pb.GroupCmdID_CID_GROUP_NORMAL_LIST_REQUEST,
		&pb.IMNormalGroupListReq{UserId: proto.Uint32(c.UserID())}, pb.GroupCmdID_CID_GROUP_NORMAL_LIST_RESPONSE)
	return rsp.GetGroupVersionList(), err
}

// GroupInfo returns the groups whose version on the server is greater than
// the one given (give version 0 to force).
func (c *Client) GroupInfo(ctx context.Context, groups []*pb.GroupVersionInfo) ([]*pb.GroupInfo, error) {
	rsp, err := do[*pb.IMGroupInfoListRsp](ctx, c, pb.GroupCmdID_CID_GROUP_INFO_REQUEST,
		&pb.IMGroupInfoListReq{UserId: proto.Uint32(c.UserID()), GroupVersionList: groups}, pb.GroupCmdID_CID_GROUP_INFO_RESPONSE)
	return rsp.GetGroupInfoList(), err
}

// CreateGroup creates a temporary group (the only kind clients may create)
// with the listed members; the creator is a member only if listed.
func (c *Client) CreateGroup(ctx context.Context, name, avatar string, members []uint32) (*pb.IMGroupCreateRsp, error) {
	rsp, err := do[*pb.IMGroupCreateRsp](ctx, c, pb.GroupCmdID_CID_GROUP_CREATE_REQUEST, &pb.IMGroupCreateReq{
		UserId: proto.Uint32(c.UserID()), GroupType: pb.GroupType_GROUP_TYPE_TMP.Enum(), GroupName: &name, GroupAvatar: &avatar, MemberIdList: members,
	}, pb.GroupCmdID_CID_GROUP_CREATE_RESPONSE)
	if err != nil {
		return nil, err
	}
	return rsp, resultErr(pb.GroupCmdID_CID_GROUP_CREATE_RESPONSE, rsp.GetResultCode())
}

// ChangeGroupMembers adds or removes members of group g.
func (c *Client) ChangeGroupMembers(ctx context.Context, g uint32, change pb.GroupModifyType, members []uint32) (*pb.IMGroupChangeMemberRsp, error) {
	rsp, err := do[*pb.IMGroupChangeMemberRsp](ctx, c, pb.GroupCmdID_CID_GROUP_CHANGE_MEMBER_REQUEST, &pb.IMGroupChangeMemberReq{
		UserId: proto.Uint32(c.UserID()), ChangeType: change.Enum(), GroupId: &g, MemberIdList: members,
	}, pb.GroupCmdID_CID_GROUP_CHANGE_MEMBER_RESPONSE)
	if err != nil {
		return nil, err
	}
	return rsp, resultErr(pb.GroupCmdID_CID_GROUP_CHANGE_MEMBER_RESPONSE, rsp.GetResultCode())
}

// ShieldGroup mutes (1) or unmutes (0) the pushes of group g for this user.
func (c *Client) ShieldGroup(ctx context.Context, g, status uint32) error {
	rsp, err := do[*pb.IMGroupShieldRsp](ctx, c, pb.GroupCmdID_CID_GROUP_SHIELD_GROUP_REQUEST,
		&pb.IMGroupShieldReq{UserId: proto.Uint32(c.UserID()), GroupId: &g, ShieldStatus: &status}, pb.GroupCmdID_CID_GROUP_SHIELD_GROUP_RESPONSE)
	if err != nil {
		return err
	}
	return resultErr(pb.GroupCmdID_CID_GROUP_SHIELD_GROUP_RESPONSE, rsp.GetResultCode())
}

// cmdID is any of the generated command id enums.
type cmdID interface {
	~int32
}

// do makes a request and asserts the reply's type.
func do[R proto.Message, C1, C2 cmdID](ctx context.Context, c *Client, cmd C1, req proto.Message, rspCmd C2) (R, error) {
	var zero R
	_, msg, err := c.roundTrip(ctx, uint16(cmd), req, uint16(rspCmd), false)
	if err != nil {
		return zero, err
	}
	rsp, ok := msg.(R)
	if !ok {
		return zero, fmt.Errorf("client: %s: reply is %T", pb.CommandName(uint16(rspCmd)), msg)
	}
	return rsp, nil
}

// resultErr returns a *ResultError for a non-zero result code.
func resultErr[C cmdID](cmd C, code uint32) error {
	if code == 0 {
		return nil
	}
	return &ResultError{Cmd: uint16(cmd), Code: code}
}
