package dbproxy

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"google.golang.org/protobuf/proto"

	"teamtalk/netloop"
	"teamtalk/state"
	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// maxHistory bounds one history page, whatever msg_cnt a client asks for.
const maxHistory = 1000

// maxRecentSessions is how many recent sessions one reply carries (PROTOCOL.md §4.7).
const maxRecentSessions = 100

// Validate result codes and texts (PROTOCOL.md §4.1 step 6).
const (
	validateOK       = 0
	validateBad      = 1
	validateInternal = 2
	validateLimited  = 6
	textOK           = "成功"
	textBad          = "用户名/密码错误"
	textInternal     = "服务端内部错误"
	textLimited      = "用户名/密码错误次数太多"
)

// handler serves one request command.
type handler struct {
	name  string
	reply uint16 // the reply command; 0 for requests without reply
	fn    func(s *Service, ctx context.Context, req proto.Message) (proto.Message, error)
	// key, when set, names the ordering key of a request: requests with one
	// key run on one worker in arrival order.
	key func(req proto.Message) uint64
	// async, when set, replaces fn (then nil): it starts the request and
	// calls reply exactly once, possibly later on another goroutine (the
	// store's committer), with the reply and error.
	async func(s *Service, ctx context.Context, req proto.Message, reply func(proto.Message, error))

	requests  atomic.Uint64
	errors    atomic.Uint64
	latencyUS atomic.Uint64
	maxUS     atomic.Uint64
	// observer is the command's request_seconds series while metrics are
	// registered.
	observer atomic.Pointer[prometheus.Observer]
}

// on builds a handler entry for request type R whose reply goes out as
// command reply (0: the request has no reply).
func on[R proto.Message](name string, reply uint16, fn func(s *Service, ctx context.Context, req R) (proto.Message, error)) *handler {
	return &handler{name: name, reply: reply, fn: func(s *Service, ctx context.Context, req proto.Message) (proto.Message, error) {
		return fn(s, ctx, req.(R))
	}}
}

// handlerTable maps every request command the proxy serves to its handler.
func handlerTable() map[uint16]*handler {
	msg := &handler{name: "IMMsgData", reply: pb.CmdMsgData}
	msg.key = func(req proto.Message) uint64 { return sessionKey(req.(*pb.IMMsgData)) }
	msg.async = func(s *Service, ctx context.Context, req proto.Message, reply func(proto.Message, error)) {
		s.saveMessageAsync(ctx, req.(*pb.IMMsgData), reply)
	}
	// Member changes of one group run in order on the group's worker, so the
	// size check and the change cannot interleave with another change.
	chg := on("IMGroupChangeMemberReq", pb.CmdGroupChangeMemberResponse, (*Service).changeMembers)
	chg.key = func(req proto.Message) uint64 { return 1<<63 | uint64(req.(*pb.IMGroupChangeMemberReq).GetGroupId()) }
	return map[uint16]*handler{
		pb.CmdOtherValidateReq:                     on("IMValidateReq", pb.CmdOtherValidateRsp, (*Service).validate),
		pb.CmdBuddyListUserInfoRequest:             on("IMUsersInfoReq", pb.CmdBuddyListUserInfoResponse, (*Service).usersInfo),
		pb.CmdBuddyListAllUserRequest:              on("IMAllUserReq", pb.CmdBuddyListAllUserResponse, (*Service).allUsers),
		pb.CmdBuddyListDepartmentRequest:           on("IMDepartmentReq", pb.CmdBuddyListDepartmentResponse, (*Service).departments),
		pb.CmdBuddyListRecentContactSessionRequest: on("IMRecentContactSessionReq", pb.CmdBuddyListRecentContactSessionResponse, (*Service).recentSessions),
		pb.CmdBuddyListRemoveSessionReq:            on("IMRemoveSessionReq", pb.CmdBuddyListRemoveSessionRes, (*Service).removeSession),
		pb.CmdBuddyListChangeSignInfoRequest:       on("IMChangeSignInfoReq", pb.CmdBuddyListChangeSignInfoResponse, (*Service).changeSignInfo),
		pb.CmdBuddyListChangeAvatarRequest:         on("IMChangeAvatarReq", pb.CmdBuddyListChangeAvatarResponse, (*Service).changeAvatar),
		pb.CmdMsgData:                              msg,
		pb.CmdMsgListRequest:                       on("IMGetMsgListReq", pb.CmdMsgListResponse, (*Service).msgList),
		pb.CmdMsgGetByMsgIdReq:                     on("IMGetMsgByIdReq", pb.CmdMsgGetByMsgIdRes, (*Service).msgByID),
		pb.CmdMsgGetLatestMsgIdReq:                 on("IMGetLatestMsgIdReq", pb.CmdMsgGetLatestMsgIdRsp, (*Service).latestMsgID),
		pb.CmdMsgUnreadCntRequest:                  on("IMUnreadMsgCntReq", pb.CmdMsgUnreadCntResponse, (*Service).unread),
		pb.CmdMsgReadAck:                           on("IMMsgDataReadAck", 0, (*Service).readAck),
		pb.CmdLoginReqDevicetoken:                  on("IMDeviceTokenReq", pb.CmdLoginResDevicetoken, (*Service).setDeviceToken),
		pb.CmdOtherGetDeviceTokenReq:               on("IMGetDeviceTokenReq", pb.CmdOtherGetDeviceTokenRsp, (*Service).deviceTokens),
		pb.CmdLoginReqPushShield:                   on("IMPushShieldReq", pb.CmdLoginResPushShield, (*Service).setPushShield),
		pb.CmdLoginReqQueryPushShield:              on("IMQueryPushShieldReq", pb.CmdLoginResQueryPushShield, (*Service).queryPushShield),
		pb.CmdGroupNormalListRequest:               on("IMNormalGroupListReq", pb.CmdGroupNormalListResponse, (*Service).normalGroups),
		pb.CmdGroupInfoRequest:                     on("IMGroupInfoListReq", pb.CmdGroupInfoResponse, (*Service).groupInfo),
		pb.CmdGroupCreateRequest:                   on("IMGroupCreateReq", pb.CmdGroupCreateResponse, (*Service).createGroup),
		pb.CmdGroupChangeMemberRequest:             chg,
		pb.CmdGroupShieldGroupRequest:              on("IMGroupShieldReq", pb.CmdGroupShieldGroupResponse, (*Service).groupShield),
		pb.CmdOtherGetShieldReq:                    on("IMGroupGetShieldReq", pb.CmdOtherGetShieldRsp, (*Service).groupGetShield),
		pb.CmdFileHasOfflineReq:                    on("IMFileHasOfflineReq", pb.CmdFileHasOfflineRes, (*Service).offlineFiles),
		pb.CmdFileAddOfflineReq:                    on("IMFileAddOfflineReq", 0, (*Service).addOfflineFile),
		pb.CmdFileDelOfflineReq:                    on("IMFileDelOfflineReq", 0, (*Service).delOfflineFile),
	}
}

// sessionKey names a message's conversation: the unordered user pair for
// one-to-one messages, the group for group messages.
func sessionKey(m *pb.IMMsgData) uint64 {
	return pairKey(state.MsgType(m.GetMsgType()).IsGroup(), m.GetFromUserId(), m.GetToSessionId())
}

// pairKey is sessionKey of a message from a to b (a group when group).
func pairKey(group bool, a, b uint32) uint64 {
	if group {
		return 1<<63 | uint64(b)
	}
	if a > b {
		a, b = b, a
	}
	return uint64(a)<<32 | uint64(b)
}

// userInfo converts a user for the wire (PROTOCOL.md §3.3 UserInfo).
func userInfo(u state.User) *pb.UserInfo {
	return &pb.UserInfo{
		UserId:       proto.Uint32(u.ID),
		UserGender:   proto.Uint32(uint32(u.Sex)),
		UserNickName: proto.String(u.Nick),
		AvatarUrl:    proto.String(u.Avatar),
		DepartmentId: proto.Uint32(u.DepartID),
		Email:        proto.String(u.Email),
		UserRealName: proto.String(u.Name),
		UserTel:      proto.String(u.Phone),
		UserDomain:   proto.String(u.Domain),
		Status:       proto.Uint32(u.Status),
		SignInfo:     proto.String(u.SignInfo),
	}
}

func userInfos(us []state.User) []*pb.UserInfo {
	out := make([]*pb.UserInfo, 0, len(us))
	for _, u := range us {
		out = append(out, userInfo(u))
	}
	return out
}

// validate checks a login (PROTOCOL.md §4.1 step 6, §7.2): the per-name
// failure limiter first, then the store's constant-time password check.
func (s *Service) validate(ctx context.Context, req *pb.IMValidateReq) (proto.Message, error) {
	name := req.GetUserName()
	rsp := &pb.IMValidateRsp{UserName: req.UserName, AttachData: req.AttachData}
	set := func(code uint32, text string) {
		rsp.ResultCode, rsp.ResultString = proto.Uint32(code), proto.String(text)
	}
	now := s.now()
	if s.limiter.blocked(name, now) {
		set(validateLimited, textLimited)
		return rsp, nil
	}
	u, err := s.store.CheckLogin(ctx, name, req.GetPassword())
	switch {
	case err == nil:
		s.limiter.clear(name)
		set(validateOK, textOK)
		ui := userInfo(u)
		ui.Status = proto.Uint32(0) // forced to 0 in the login reply, as the reference
		rsp.UserInfo = ui
		return rsp, nil
	case errors.Is(err, state.ErrBadCredentials):
		s.limiter.fail(name, now)
		set(validateBad, textBad)
		return rsp, nil
	default:
		set(validateInternal, textInternal)
		return rsp, fmt.Errorf("dbproxy: validate %q: %w", name, err)
	}
}

func (s *Service) usersInfo(ctx context.Context, req *pb.IMUsersInfoReq) (proto.Message, error) {
	us, err := s.store.Users(ctx, req.GetUserIdList())
	if err != nil {
		return nil, fmt.Errorf("dbproxy: users info: %w", err)
	}
	return &pb.IMUsersInfoRsp{UserId: req.UserId, UserInfoList: userInfos(us), AttachData: req.AttachData}, nil
}

// allUsers is the incremental directory sync (PROTOCOL.md §4.8). The
// watermark is the newest Updated of all users, so every change (admin edits
// included) is seen, unlike the reference's in-memory value. A client whose
// time t is past the watermark gets an empty list and t back; when they are
// equal the users of that second are sent again (a user changed within the
// second of the client's last sync is not missed).
func (s *Service) allUsers(ctx context.Context, req *pb.IMAllUserReq) (proto.Message, error) {
	t := req.GetLatestUpdateTime()
	rsp := &pb.IMAllUserRsp{UserId: req.UserId, LatestUpdateTime: proto.Uint32(t), AttachData: req.AttachData}
	if t != 0 {
		w, err := s.store.UserWatermark(ctx)
		if err != nil {
			return nil, fmt.Errorf("dbproxy: all users: watermark: %w", err)
		}
		if w < t {
			return rsp, nil
		}
	}
	us, latest, err := s.store.UsersChangedSince(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("dbproxy: all users since %d: %w", t, err)
	}
	rsp.LatestUpdateTime = proto.Uint32(latest)
	rsp.UserList = userInfos(us)
	return rsp, nil
}

func (s *Service) departments(ctx context.Context, req *pb.IMDepartmentReq) (proto.Message, error) {
	t := req.GetLatestUpdateTime()
	ds, latest, err := s.store.DepartsChangedSince(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("dbproxy: departments since %d: %w", t, err)
	}
	rsp := &pb.IMDepartmentRsp{UserId: req.UserId, LatestUpdateTime: proto.Uint32(latest), AttachData: req.AttachData}
	for _, d := range ds {
		st := pb.DepartmentStatusType_DEPT_STATUS_OK
		if d.Status != 0 {
			st = pb.DepartmentStatusType_DEPT_STATUS_DELETE
		}
		rsp.DeptList = append(rsp.DeptList, &pb.DepartInfo{
			DeptId:       proto.Uint32(d.ID),
			Priority:     proto.Uint32(d.Priority),
			DeptName:     proto.String(d.Name),
			ParentDeptId: proto.Uint32(d.ParentID),
			DeptStatus:   st.Enum(),
		})
	}
	return rsp, nil
}

func (s *Service) recentSessions(ctx context.Context, req *pb.IMRecentContactSessionReq) (proto.Message, error) {
	ss, err := s.store.RecentSessions(ctx, req.GetUserId(), req.GetLatestUpdateTime(), maxRecentSessions)
	if err != nil {
		return nil, fmt.Errorf("dbproxy: recent sessions of %d: %w", req.GetUserId(), err)
	}
	rsp := &pb.IMRecentContactSessionRsp{UserId: req.UserId, AttachData: req.AttachData}
	for _, x := range ss {
		if !x.Type.Valid() || !x.Latest.Type.Valid() {
			continue
		}
		rsp.ContactSessionList = append(rsp.ContactSessionList, &pb.ContactSessionInfo{
			SessionId:           proto.Uint32(x.PeerID),
			SessionType:         pb.SessionType(x.Type).Enum(),
			SessionStatus:       pb.SessionStatusType_SESSION_STATUS_OK.Enum(),
			UpdatedTime:         proto.Uint32(x.Updated),
			LatestMsgId:         proto.Uint32(x.Latest.ID),
			LatestMsgData:       state.Preview(x.Latest, s.audioPreview),
			LatestMsgType:       pb.MsgType(x.Latest.Type).Enum(),
			LatestMsgFromUserId: proto.Uint32(x.Latest.From),
		})
	}
	return rsp, nil
}

func (s *Service) removeSession(ctx context.Context, req *pb.IMRemoveSessionReq) (proto.Message, error) {
	rsp := &pb.IMRemoveSessionRsp{UserId: req.UserId, ResultCode: proto.Uint32(0), SessionType: req.SessionType, SessionId: req.SessionId, AttachData: req.AttachData}
	err := s.store.RemoveSession(ctx, req.GetUserId(), state.SessionType(req.GetSessionType()), req.GetSessionId())
	switch {
	case err == nil:
	case errors.Is(err, state.ErrNotFound):
		rsp.ResultCode = proto.Uint32(1)
	default:
		rsp.ResultCode = proto.Uint32(1)
		return rsp, fmt.Errorf("dbproxy: remove session: %w", err)
	}
	return rsp, nil
}

func (s *Service) changeSignInfo(ctx context.Context, req *pb.IMChangeSignInfoReq) (proto.Message, error) {
	rsp := &pb.IMChangeSignInfoRsp{UserId: req.UserId, ResultCode: proto.Uint32(1), AttachData: req.AttachData}
	sign := req.GetSignInfo()
	if len(sign) > state.MaxSignInfoLen {
		return rsp, nil
	}
	if ok, err := s.updateUser(ctx, req.GetUserId(), state.UserUpdate{SignInfo: &sign}, "change sign info"); !ok {
		return rsp, err
	}
	rsp.ResultCode, rsp.SignInfo = proto.Uint32(0), proto.String(sign)
	return rsp, nil
}

// updateUser applies up to the user; ok is false when it was not applied:
// with no error for an unknown user or an invalid value (the request's
// failure code), else with the store's error wrapped as what.
func (s *Service) updateUser(ctx context.Context, uid uint32, up state.UserUpdate, what string) (ok bool, err error) {
	if _, err := s.store.UpdateUser(ctx, uid, up); err != nil {
		if errors.Is(err, state.ErrNotFound) || errors.Is(err, state.ErrInvalid) {
			return false, nil
		}
		return false, fmt.Errorf("dbproxy: %s: %w", what, err)
	}
	return true, nil
}

// changeAvatar sets the user's avatar URL; the reference had no handler for
// it (PROTOCOL.md §4.11).
func (s *Service) changeAvatar(ctx context.Context, req *pb.IMChangeAvatarReq) (proto.Message, error) {
	rsp := &pb.IMChangeAvatarRsp{UserId: req.UserId, ResultCode: proto.Uint32(1), AttachData: req.AttachData}
	url := req.GetAvatarUrl()
	if len(url) > state.MaxAvatarLen {
		return rsp, nil
	}
	if ok, err := s.updateUser(ctx, req.GetUserId(), state.UserUpdate{Avatar: &url}, "change avatar"); !ok {
		return rsp, err
	}
	rsp.ResultCode = proto.Uint32(0)
	return rsp, nil
}

// saveMessageAsync stores a message and answers with the same IMMsgData, its
// msg_id filled, once the store's commit returned (PROTOCOL.md §4.3, §4.4).
// msg_id stays 0 when nothing was stored (a message to oneself, a store
// failure): msg then sends no ack. Group messages of non-members or unknown
// groups are dropped without a reply, as the reference.
//
// The save joins the store's commit queue (state.SaveMessageAsync) and reply
// runs once it is durable, so one worker keeps many messages in flight and
// they share a commit. The worker's queueing order is the order ids are given in. An audio
// message's clip is stored first, synchronously (it is rare and its message
// must follow it).
func (s *Service) saveMessageAsync(ctx context.Context, req *pb.IMMsgData, reply func(proto.Message, error)) {
	typ := state.MsgType(req.GetMsgType())
	nm := state.NewMessage{
		From:    req.GetFromUserId(),
		To:      req.GetToSessionId(),
		Type:    typ,
		Content: req.GetMsgData(),
		Created: req.GetCreateTime(),
	}
	req.MsgId = proto.Uint32(0)
	if typ.IsAudio() {
		content, err := s.saveAudio(ctx, req)
		if err != nil {
			if errors.Is(err, state.ErrInvalid) {
				err = nil
			}
			reply(req, err)
			return
		}
		nm.Content = content
	}
	state.SaveMessageAsync(ctx, s.store, nm, func(m state.Message, err error) {
		id, ok, err := s.savedMsg(nm, m, err)
		if !ok {
			reply(nil, nil)
			return
		}
		req.MsgId = proto.Uint32(id)
		reply(req, err)
	})
}

// savedMsg maps a message save's outcome to its answer: the msg_id to answer
// with (0: nothing stored) and the error to count, or ok false for a group
// message of a non-member or to an unknown group, which gets no reply (it is
// counted and logged here).
func (s *Service) savedMsg(nm state.NewMessage, m state.Message, err error) (id uint32, ok bool, _ error) {
	switch {
	case err == nil:
		return m.ID, true, nil
	case nm.Type.IsGroup() && (errors.Is(err, state.ErrNotFound) || errors.Is(err, state.ErrNotMember)):
		s.groupNonMember.Add(1)
		if ok, n := s.groupLog.allow(); ok {
			s.log.Warn("group message refused: sender not a member or group unknown (no ack)",
				"from", nm.From, "group", nm.To, "err", err, "suppressed", n)
		}
		return 0, false, nil
	case errors.Is(err, state.ErrInvalid):
		return 0, true, nil
	default:
		return 0, true, fmt.Errorf("dbproxy: save message %d→%d: %w", nm.From, nm.To, err)
	}
}

// queueScannedMsg queues a text message read on a scan of its fields (the
// busiest request: no decode, and the answer is the frame with its msg_id
// set). It reports false for anything the scan refuses and for audio, which
// take the decoding path.
func (s *Service) queueScannedMsg(conn netloop.ConnID, hdr wire.Header, hd *handler, frame []byte) bool {
	// Copied before the scan, so that f's slices point into the copy (the
	// copy of a refused body is wasted: audio and bad bodies are rare).
	raw := bytes.Clone(frame) // the loop reuses its read buffer
	f, ok := wire.ScanMsgData(raw[wire.HeaderLen:])
	if !ok || state.MsgType(f.Type).IsAudio() {
		return false
	}
	hd.requests.Add(1)
	j := &job{conn: conn, hdr: hdr, h: hd, arrived: time.Now(), raw: raw, msg: f}
	// Straight onto the store's queue when it has room and no earlier
	// message waits on a worker (which keeps every conversation in order):
	// no hand-over to a worker goroutine.
	if tq, ok := s.store.(state.MessageTryQueuer); ok && s.msgBacklog.Load() == 0 {
		s.pool.pending.Add(1)
		if s.saveScannedMsg(s.workCtx, j, tq) {
			return true
		}
		s.pool.pending.Add(-1)
	}
	s.msgBacklog.Add(1)
	if !s.pool.submit(j, pairKey(state.MsgType(f.Type).IsGroup(), f.From, f.To), true) {
		s.msgBacklog.Add(-1)
		s.overloaded(hd, conn)
	}
	return true
}

// saveScannedMsg is saveMessageAsync for a job queued by queueScannedMsg:
// the same store call and the same answers, spliced from the request's
// bytes. It counts as pending until answered. With tq it only tries to
// queue (on a loop, which must not wait) and reports whether it did;
// without, it may wait for room and reports true.
func (s *Service) saveScannedMsg(ctx context.Context, j *job, tq state.MessageTryQueuer) bool {
	f := j.msg
	nm := state.NewMessage{From: f.From, To: f.To, Type: state.MsgType(f.Type), Content: f.Data, Created: f.CreateTime}
	done := func(m state.Message, err error) {
		id, ok, err := s.savedMsg(nm, m, err)
		s.failed(j, err)
		var frame []byte
		if ok {
			frame = wire.AppendMsgDataID(nil, j.hdr.Reply(j.h.reply), j.raw[wire.HeaderLen:], id)
		}
		s.finishFrame(j, frame)
		s.pool.pending.Add(-1)
	}
	if tq != nil {
		return tq.TrySaveMessageAsync(ctx, nm, done)
	}
	state.SaveMessageAsync(ctx, s.store, nm, done)
	return true
}

// saveAudio stores an audio message's clip: msg_data is a 4-byte big-endian
// duration followed by the audio bytes; the message's stored content becomes
// the clip id in decimal.
func (s *Service) saveAudio(ctx context.Context, req *pb.IMMsgData) ([]byte, error) {
	data := req.GetMsgData()
	if len(data) < 4 {
		return nil, fmt.Errorf("dbproxy: audio message of %d bytes: %w", len(data), state.ErrInvalid)
	}
	a := state.Audio{
		From:     req.GetFromUserId(),
		To:       req.GetToSessionId(),
		Duration: binary.BigEndian.Uint32(data),
		Size:     uint32(len(data) - 4),
		Data:     data[4:],
		Created:  req.GetCreateTime(),
	}
	id, err := s.store.SaveAudio(ctx, a)
	if err != nil {
		return nil, fmt.Errorf("dbproxy: save audio %d→%d: %w", a.From, a.To, err)
	}
	return strconv.AppendUint(nil, uint64(id), 10), nil
}

// msgInfos converts stored messages for the wire; audio content (a clip id)
// is rebuilt as the 4-byte duration followed by the clip's bytes.
func (s *Service) msgInfos(ctx context.Context, ms []state.Message) []*pb.MsgInfo {
	out := make([]*pb.MsgInfo, 0, len(ms))
	for _, m := range ms {
		if !m.Type.Valid() {
			continue
		}
		data := m.Content
		if m.Type.IsAudio() {
			var err error
			if data, err = s.audioBytes(ctx, m.Content); err != nil {
				s.logErr("dbproxy: audio of a message is missing", err, "from", m.From, "to", m.To, "msg_id", m.ID)
				continue
			}
		}
		out = append(out, &pb.MsgInfo{
			MsgId:         proto.Uint32(m.ID),
			FromSessionId: proto.Uint32(m.From),
			CreateTime:    proto.Uint32(m.Created),
			MsgType:       pb.MsgType(m.Type).Enum(),
			MsgData:       data,
		})
	}
	return out
}

func (s *Service) audioBytes(ctx context.Context, content []byte) ([]byte, error) {
	id, err := strconv.ParseUint(string(content), 10, 32)
	if err != nil {
		return nil, fmt.Errorf("audio id %q: %w", content, err)
	}
	a, err := s.store.Audio(ctx, uint32(id))
	if err != nil {
		return nil, err
	}
	out := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(a.Data)), a.Duration)
	return append(out, a.Data...), nil
}

func (s *Service) msgList(ctx context.Context, req *pb.IMGetMsgListReq) (proto.Message, error) {
	rsp := &pb.IMGetMsgListRsp{UserId: req.UserId, SessionType: req.SessionType, SessionId: req.SessionId, MsgIdBegin: req.MsgIdBegin, AttachData: req.AttachData}
	q := state.HistoryQuery{
		Type:      state.SessionType(req.GetSessionType()),
		SessionID: req.GetSessionId(),
		BeginID:   req.GetMsgIdBegin(),
		Count:     min(req.GetMsgCnt(), maxHistory),
	}
	ms, err := s.store.Messages(ctx, req.GetUserId(), q)
	if err != nil {
		if errors.Is(err, state.ErrNotMember) || errors.Is(err, state.ErrNotFound) || errors.Is(err, state.ErrInvalid) {
			return rsp, nil
		}
		return nil, fmt.Errorf("dbproxy: history: %w", err)
	}
	rsp.MsgList = s.msgInfos(ctx, ms)
	return rsp, nil
}

func (s *Service) msgByID(ctx context.Context, req *pb.IMGetMsgByIdReq) (proto.Message, error) {
	rsp := &pb.IMGetMsgByIdRsp{UserId: req.UserId, SessionType: req.SessionType, SessionId: req.SessionId, AttachData: req.AttachData}
	ms, err := s.store.MessagesByID(ctx, req.GetUserId(), state.SessionType(req.GetSessionType()), req.GetSessionId(), req.GetMsgIdList())
	if err != nil {
		if errors.Is(err, state.ErrNotMember) || errors.Is(err, state.ErrNotFound) || errors.Is(err, state.ErrInvalid) {
			return rsp, nil
		}
		return nil, fmt.Errorf("dbproxy: messages by id: %w", err)
	}
	rsp.MsgList = s.msgInfos(ctx, ms)
	return rsp, nil
}

func (s *Service) latestMsgID(ctx context.Context, req *pb.IMGetLatestMsgIdReq) (proto.Message, error) {
	id, err := s.store.LatestMsgID(ctx, req.GetUserId(), state.SessionType(req.GetSessionType()), req.GetSessionId())
	if err != nil && !errors.Is(err, state.ErrNotFound) && !errors.Is(err, state.ErrInvalid) {
		return nil, fmt.Errorf("dbproxy: latest msg id: %w", err)
	}
	return &pb.IMGetLatestMsgIdRsp{UserId: req.UserId, SessionType: req.SessionType, SessionId: req.SessionId, LatestMsgId: proto.Uint32(id), AttachData: req.AttachData}, nil
}

func (s *Service) unread(ctx context.Context, req *pb.IMUnreadMsgCntReq) (proto.Message, error) {
	us, err := s.store.Unread(ctx, req.GetUserId())
	if err != nil {
		return nil, fmt.Errorf("dbproxy: unread of %d: %w", req.GetUserId(), err)
	}
	rsp := &pb.IMUnreadMsgCntRsp{UserId: req.UserId, AttachData: req.AttachData}
	var total uint32
	for _, u := range us {
		if !u.Type.Valid() || !u.Latest.Type.Valid() {
			continue
		}
		total += u.Count
		rsp.UnreadinfoList = append(rsp.UnreadinfoList, &pb.UnreadInfo{
			SessionId:           proto.Uint32(u.SessionID),
			SessionType:         pb.SessionType(u.Type).Enum(),
			UnreadCnt:           proto.Uint32(u.Count),
			LatestMsgId:         proto.Uint32(u.Latest.ID),
			LatestMsgData:       state.Preview(u.Latest, s.audioPreview),
			LatestMsgType:       pb.MsgType(u.Latest.Type).Enum(),
			LatestMsgFromUserId: proto.Uint32(u.Latest.From),
		})
	}
	rsp.TotalCnt = proto.Uint32(total)
	return rsp, nil
}

// readAck records a read acknowledgement; there is no reply (PROTOCOL.md §4.6).
func (s *Service) readAck(ctx context.Context, req *pb.IMMsgDataReadAck) (proto.Message, error) {
	err := s.store.MarkRead(ctx, req.GetUserId(), state.SessionType(req.GetSessionType()), req.GetSessionId(), req.GetMsgId())
	if err != nil && !errors.Is(err, state.ErrNotFound) && !errors.Is(err, state.ErrInvalid) && !errors.Is(err, state.ErrNotMember) {
		return nil, fmt.Errorf("dbproxy: read ack: %w", err)
	}
	return nil, nil
}

func (s *Service) setDeviceToken(ctx context.Context, req *pb.IMDeviceTokenReq) (proto.Message, error) {
	err := s.store.SetDeviceToken(ctx, req.GetUserId(), state.ClientType(req.GetClientType()), req.GetDeviceToken())
	if err != nil {
		return nil, fmt.Errorf("dbproxy: device token of %d: %w", req.GetUserId(), err)
	}
	return &pb.IMDeviceTokenRsp{UserId: req.UserId, AttachData: req.AttachData}, nil
}

// quietHour reports whether iOS pushes of users with the push shield on are
// held back at this time: 22:00–07:59 server local time (PROTOCOL.md §4.5).
func quietHour(h int) bool { return h >= 22 || h <= 7 }

// deviceTokens answers msg's push lookup (PROTOCOL.md §4.5): the tokens of
// the listed users, with the badge count; iOS tokens of shielded users are
// left out during quiet hours, tokens of unknown client kinds always.
func (s *Service) deviceTokens(ctx context.Context, req *pb.IMGetDeviceTokenReq) (proto.Message, error) {
	ts, err := s.store.DeviceTokens(ctx, req.GetUserId())
	if err != nil {
		return nil, fmt.Errorf("dbproxy: device tokens: %w", err)
	}
	quiet := quietHour(s.now().Hour())
	rsp := &pb.IMGetDeviceTokenRsp{AttachData: req.AttachData}
	for _, t := range ts {
		switch t.ClientType {
		case state.ClientIOS:
			if quiet && t.PushShield {
				continue
			}
		case state.ClientAndroid:
		default:
			continue
		}
		if t.Token == "" {
			continue
		}
		n, err := s.store.UnreadTotal(ctx, t.UserID)
		if err != nil {
			return nil, fmt.Errorf("dbproxy: badge of %d: %w", t.UserID, err)
		}
		rsp.UserTokenInfo = append(rsp.UserTokenInfo, &pb.UserTokenInfo{
			UserId:    proto.Uint32(t.UserID),
			UserType:  pb.ClientType(t.ClientType).Enum(),
			Token:     proto.String(t.Token),
			PushCount: proto.Uint32(n),
			PushType:  proto.Uint32(1),
		})
	}
	return rsp, nil
}

func (s *Service) setPushShield(ctx context.Context, req *pb.IMPushShieldReq) (proto.Message, error) {
	rsp := &pb.IMPushShieldRsp{UserId: req.UserId, ResultCode: proto.Uint32(0), ShieldStatus: req.ShieldStatus, AttachData: req.AttachData}
	if err := s.store.SetPushShield(ctx, req.GetUserId(), req.GetShieldStatus() != 0); err != nil {
		rsp.ResultCode = proto.Uint32(1)
		if errors.Is(err, state.ErrNotFound) {
			return rsp, nil
		}
		return rsp, fmt.Errorf("dbproxy: push shield of %d: %w", req.GetUserId(), err)
	}
	return rsp, nil
}

func (s *Service) queryPushShield(ctx context.Context, req *pb.IMQueryPushShieldReq) (proto.Message, error) {
	rsp := &pb.IMQueryPushShieldRsp{UserId: req.UserId, ResultCode: proto.Uint32(0), AttachData: req.AttachData}
	on, err := s.store.PushShield(ctx, req.GetUserId())
	if err != nil {
		rsp.ResultCode = proto.Uint32(1)
		if errors.Is(err, state.ErrNotFound) {
			return rsp, nil
		}
		return rsp, fmt.Errorf("dbproxy: query push shield of %d: %w", req.GetUserId(), err)
	}
	rsp.ShieldStatus = proto.Uint32(b2u(on))
	return rsp, nil
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// normalGroups lists the user's fixed (type 1) groups with their versions,
// newest first (PROTOCOL.md §4.10).
func (s *Service) normalGroups(ctx context.Context, req *pb.IMNormalGroupListReq) (proto.Message, error) {
	gs, err := s.store.UserGroups(ctx, req.GetUserId())
	if err != nil {
		return nil, fmt.Errorf("dbproxy: groups of %d: %w", req.GetUserId(), err)
	}
	rsp := &pb.IMNormalGroupListRsp{UserId: req.UserId, AttachData: req.AttachData}
	for _, g := range gs {
		if g.Type != state.GroupNormal || g.Status != 0 {
			continue
		}
		rsp.GroupVersionList = append(rsp.GroupVersionList, &pb.GroupVersionInfo{GroupId: proto.Uint32(g.ID), Version: proto.Uint32(g.Version)})
	}
	return rsp, nil
}

// groupInfo returns the groups whose version is newer than the one asked for
// (PROTOCOL.md §4.10), with their members. Unlike the reference it skips
// deleted groups and reports the requester's own push shield.
func (s *Service) groupInfo(ctx context.Context, req *pb.IMGroupInfoListReq) (proto.Message, error) {
	rsp := &pb.IMGroupInfoListRsp{UserId: req.UserId, AttachData: req.AttachData}
	uid := req.GetUserId()
	for _, v := range req.GetGroupVersionList() {
		g, err := s.store.Group(ctx, v.GetGroupId())
		if err != nil {
			if errors.Is(err, state.ErrNotFound) {
				continue
			}
			return nil, fmt.Errorf("dbproxy: group %d: %w", v.GetGroupId(), err)
		}
		if g.Version <= v.GetVersion() || !g.Type.Valid() || g.Status != 0 {
			continue
		}
		var shield uint32
		for _, m := range g.Members {
			if m.UserID == uid {
				shield = b2u(m.Shield)
			}
		}
		rsp.GroupInfoList = append(rsp.GroupInfoList, &pb.GroupInfo{
			GroupId:         proto.Uint32(g.ID),
			Version:         proto.Uint32(g.Version),
			GroupName:       proto.String(g.Name),
			GroupAvatar:     proto.String(g.Avatar),
			GroupCreatorId:  proto.Uint32(g.Creator),
			GroupType:       pb.GroupType(g.Type).Enum(),
			ShieldStatus:    proto.Uint32(shield),
			GroupMemberList: g.MemberIDs(),
		})
	}
	return rsp, nil
}

func (s *Service) createGroup(ctx context.Context, req *pb.IMGroupCreateReq) (proto.Message, error) {
	rsp := &pb.IMGroupCreateRsp{UserId: req.UserId, ResultCode: proto.Uint32(1), GroupName: proto.String(req.GetGroupName()), AttachData: req.AttachData}
	if ok, err := s.groupMembersOK(ctx, "create", req.GetUserId(), 0, nil, req.GetMemberIdList()); !ok {
		return rsp, err
	}
	g, err := s.store.CreateGroup(ctx, state.NewGroup{
		Name:    req.GetGroupName(),
		Avatar:  req.GetGroupAvatar(),
		Creator: req.GetUserId(),
		Type:    state.GroupType(req.GetGroupType()),
		Members: req.GetMemberIdList(),
	})
	if err != nil {
		if errors.Is(err, state.ErrInvalid) {
			return rsp, nil
		}
		return rsp, fmt.Errorf("dbproxy: create group %q: %w", req.GetGroupName(), err)
	}
	rsp.ResultCode, rsp.GroupId, rsp.UserIdList = proto.Uint32(0), proto.Uint32(g.ID), g.MemberIDs()
	return rsp, nil
}

// changeMembers adds or removes members (PROTOCOL.md §4.10). Requester 0 (the
// HTTP API) may always; anyone may add to a temporary group; everything else
// is for the creator. Unknown groups are dropped without a reply. Unlike the
// reference, adding only existing members succeeds with nothing changed.
func (s *Service) changeMembers(ctx context.Context, req *pb.IMGroupChangeMemberReq) (proto.Message, error) {
	gid, uid, op := req.GetGroupId(), req.GetUserId(), req.GetChangeType()
	g, err := s.store.Group(ctx, gid)
	if err != nil {
		if errors.Is(err, state.ErrNotFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("dbproxy: change members of %d: %w", gid, err)
	}
	rsp := &pb.IMGroupChangeMemberRsp{UserId: req.UserId, ChangeType: req.ChangeType, ResultCode: proto.Uint32(1), GroupId: req.GroupId, AttachData: req.AttachData}
	allowed := uid == 0 || uid == g.Creator || (op == pb.GroupModifyType_GROUP_MODIFY_TYPE_ADD && g.Type == state.GroupTemp)
	if !allowed || g.Status != 0 {
		return rsp, nil
	}
	if op == pb.GroupModifyType_GROUP_MODIFY_TYPE_ADD {
		if ok, err := s.groupMembersOK(ctx, "add", uid, gid, g.MemberIDs(), req.GetMemberIdList()); !ok {
			return rsp, err
		}
	}
	after, changed, err := s.store.ChangeMembers(ctx, gid, state.ModifyType(op), req.GetMemberIdList())
	if err != nil {
		if errors.Is(err, state.ErrInvalid) || errors.Is(err, state.ErrNotFound) {
			return rsp, nil
		}
		return rsp, fmt.Errorf("dbproxy: change members of %d: %w", gid, err)
	}
	rsp.ResultCode = proto.Uint32(0)
	rsp.CurUserIdList, rsp.ChgUserIdList = after.MemberIDs(), changed
	return rsp, nil
}

// groupMembersOK checks the members a create or an add would give a group
// (current plus adding): every added id must name an existing user and the
// group may not grow past dbproxy.max_group_members. A refusal is counted
// and logged (rate-limited) with its reason; err is set only when the store
// could not be asked.
func (s *Service) groupMembersOK(ctx context.Context, what string, requester, gid uint32, current, adding []uint32) (bool, error) {
	have := make(map[uint32]bool, len(current)+len(adding))
	for _, id := range current {
		have[id] = true
	}
	var fresh []uint32
	for _, id := range adding {
		if id != 0 && !have[id] {
			have[id] = true
			fresh = append(fresh, id)
		}
	}
	if limit := s.cfg.MaxGroupMembers; limit > 0 && len(have) > limit {
		s.groupTooLarge.Add(1)
		if ok, n := s.groupLog.allow(); ok {
			s.log.Warn("group "+what+" refused: too many members", "requester", requester, "group", gid,
				"members", len(have), "max_group_members", limit, "suppressed", n)
		}
		return false, nil
	}
	if len(fresh) == 0 {
		return true, nil
	}
	us, err := s.store.Users(ctx, fresh)
	if err != nil {
		return false, fmt.Errorf("dbproxy: group %s: look up members: %w", what, err)
	}
	if len(us) == len(fresh) {
		return true, nil
	}
	known := make(map[uint32]bool, len(us))
	for _, u := range us {
		known[u.ID] = true
	}
	var missing []uint32
	for _, id := range fresh {
		if !known[id] {
			missing = append(missing, id)
		}
	}
	s.groupNoUser.Add(1)
	if ok, n := s.groupLog.allow(); ok {
		s.log.Warn("group "+what+" refused: no such users", "requester", requester, "group", gid,
			"missing", missing, "suppressed", n)
	}
	return false, nil
}

func (s *Service) groupShield(ctx context.Context, req *pb.IMGroupShieldReq) (proto.Message, error) {
	rsp := &pb.IMGroupShieldRsp{UserId: req.UserId, GroupId: req.GroupId, ResultCode: proto.Uint32(0), AttachData: req.AttachData}
	err := s.store.SetGroupShield(ctx, req.GetGroupId(), req.GetUserId(), req.GetShieldStatus() != 0)
	switch {
	case err == nil:
		return rsp, nil
	case errors.Is(err, state.ErrNotFound):
		return nil, nil // unknown group: no reply, as the reference
	case errors.Is(err, state.ErrNotMember):
		rsp.ResultCode = proto.Uint32(1)
		return rsp, nil
	default:
		rsp.ResultCode = proto.Uint32(1)
		return rsp, fmt.Errorf("dbproxy: group shield: %w", err)
	}
}

// groupGetShield answers msg's group-push lookup: each asked member's shield
// flag for the group (0 for non-members and unknown groups).
func (s *Service) groupGetShield(ctx context.Context, req *pb.IMGroupGetShieldReq) (proto.Message, error) {
	gid := req.GetGroupId()
	shield := map[uint32]bool{}
	g, err := s.store.Group(ctx, gid)
	switch {
	case err == nil:
		for _, m := range g.Members {
			shield[m.UserID] = m.Shield
		}
	case errors.Is(err, state.ErrNotFound):
	default:
		return nil, fmt.Errorf("dbproxy: group %d shields: %w", gid, err)
	}
	rsp := &pb.IMGroupGetShieldRsp{GroupId: req.GroupId, AttachData: req.AttachData}
	for _, uid := range req.GetUserId() {
		rsp.ShieldStatusList = append(rsp.ShieldStatusList, &pb.ShieldStatus{
			UserId:       proto.Uint32(uid),
			GroupId:      proto.Uint32(gid),
			ShieldStatus: proto.Uint32(b2u(shield[uid])),
		})
	}
	return rsp, nil
}

func (s *Service) offlineFiles(ctx context.Context, req *pb.IMFileHasOfflineReq) (proto.Message, error) {
	fs, err := s.store.OfflineFiles(ctx, req.GetUserId())
	if err != nil {
		return nil, fmt.Errorf("dbproxy: offline files of %d: %w", req.GetUserId(), err)
	}
	rsp := &pb.IMFileHasOfflineRsp{UserId: req.UserId, AttachData: req.AttachData}
	for _, f := range fs {
		rsp.OfflineFileList = append(rsp.OfflineFileList, &pb.OfflineFileInfo{
			FromUserId: proto.Uint32(f.From),
			TaskId:     proto.String(f.TaskID),
			FileName:   proto.String(f.Name),
			FileSize:   proto.Uint32(f.Size),
		})
	}
	return rsp, nil
}

func (s *Service) addOfflineFile(ctx context.Context, req *pb.IMFileAddOfflineReq) (proto.Message, error) {
	err := s.store.AddOfflineFile(ctx, state.OfflineFile{
		From:   req.GetFromUserId(),
		To:     req.GetToUserId(),
		TaskID: req.GetTaskId(),
		Name:   req.GetFileName(),
		Size:   req.GetFileSize(),
	})
	if err != nil {
		return nil, fmt.Errorf("dbproxy: add offline file %q: %w", req.GetTaskId(), err)
	}
	return nil, nil
}

func (s *Service) delOfflineFile(ctx context.Context, req *pb.IMFileDelOfflineReq) (proto.Message, error) {
	err := s.store.DeleteOfflineFile(ctx, req.GetFromUserId(), req.GetToUserId(), req.GetTaskId())
	if err != nil && !errors.Is(err, state.ErrNotFound) {
		return nil, fmt.Errorf("dbproxy: delete offline file %q: %w", req.GetTaskId(), err)
	}
	return nil, nil
}
