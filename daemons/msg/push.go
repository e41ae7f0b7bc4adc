package msg

import (
	"fmt"
	"strings"

	"teamtalk/daemons/internal/attach"
	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// The fixed alert text "you received a message" and the inline-image marker
// (§4.5 step 3).
const (
	genericFlash = "您收到了一条消息"
	imageMarker  = "&$#@~^@[{:"
	flashMax     = 37
)

// pushEnabled reports whether a push server is configured; when it is but
// no link is up, pushes are skipped and counted.
func (s *Service) pushEnabled() bool { return s.cfg.Push != "" }

// pushRound starts a push for a stored message: device tokens from db
// (§4.5 step 2).
func (s *Service) pushRound(users []uint32, m *pb.IMMsgData) {
	if !s.pushEnabled() || len(users) == 0 {
		return
	}
	body, err := wire.MarshalBody(m)
	if err != nil {
		return
	}
	s.sendDB(s.dbGeneral(), frame(wire.NewHeader(pb.CmdOtherGetDeviceTokenReq, 0), &pb.IMGetDeviceTokenReq{UserId: users, AttachData: body}))
}

// groupPushRound asks db which members muted the group first.
func (s *Service) groupPushRound(group uint32, members []uint32, m *pb.IMMsgData) {
	if !s.pushEnabled() {
		return
	}
	body, err := wire.MarshalBody(m)
	if err != nil {
		return
	}
	s.sendDB(s.dbGeneral(), frame(wire.NewHeader(pb.CmdOtherGetShieldReq, 0), &pb.IMGroupGetShieldReq{
		GroupId: &group, UserId: members, AttachData: body,
	}))
}

// onGroupShield continues a group push with the members who did not mute it.
func (s *Service) onGroupShield(r *pb.IMGroupGetShieldRsp) {
	var m pb.IMMsgData
	if err := wire.Unmarshal(r.GetAttachData(), &m); err != nil {
		s.badBody("dbproxy-attach", pb.CmdMsgData, err)
		return
	}
	var users []uint32
	for _, st := range r.GetShieldStatusList() {
		if st.GetShieldStatus() == 0 && st.GetUserId() != m.GetFromUserId() {
			users = append(users, st.GetUserId())
		}
	}
	s.pushRound(users, &m)
}

// onDeviceTokens builds and sends the push (§4.5 steps 3-4).
func (s *Service) onDeviceTokens(r *pb.IMGetDeviceTokenRsp) {
	var m pb.IMMsgData
	if err := wire.Unmarshal(r.GetAttachData(), &m); err != nil {
		s.badBody("dbproxy-attach", pb.CmdMsgData, err)
		return
	}
	flash, err := s.flash(&m)
	if err != nil {
		s.c.pushSkipped.Add(1)
		s.log.Debug("push abandoned", "err", err)
		return
	}
	data := fmt.Sprintf(`{"from_id":%d,"msg_type":%d}`, m.GetFromUserId(), m.GetMsgType())
	if isGroupMsg(m.GetMsgType()) {
		data = fmt.Sprintf(`{"from_id":%d,"group_id":%d,"msg_type":%d}`, m.GetFromUserId(), m.GetToSessionId(), m.GetMsgType())
	}
	var batch []*pb.UserTokenInfo
	for _, t := range r.GetUserTokenInfo() {
		if t.GetUserId() == m.GetFromUserId() {
			continue
		}
		if len(s.reg.userConns(t.GetUserId())) > 0 {
			pt := uint32(1)
			if s.reg.pcOnline(t.GetUserId()) {
				pt = 2
			}
			t.PushType = &pt
			batch = append(batch, t)
			continue
		}
		// Not here: ask route whether a PC client is online elsewhere.
		one, err := wire.MarshalBody(&pb.IMPushToUserReq{Flash: &flash, Data: &data, UserTokenList: []*pb.UserTokenInfo{t}})
		if err != nil {
			continue
		}
		zero := uint32(0)
		if !s.toRoute(frame(wire.NewHeader(pb.CmdBuddyListUsersStatusRequest, 0), &pb.IMUsersStatReq{
			UserId: &zero, UserIdList: []uint32{t.GetUserId()},
			AttachData: attach.PDU(attach.TypePDUForPush, 0, one),
		})) {
			batch = append(batch, t) // no route: push as if offline everywhere
		}
	}
	if len(batch) > 0 {
		s.sendPush(&pb.IMPushToUserReq{Flash: &flash, Data: &data, UserTokenList: batch})
	}
}

// onPushProbe finishes a push probed through route.
func (s *Service) onPushProbe(q *pb.IMUsersStatRsp, d attach.Data) {
	var p pb.IMPushToUserReq
	if err := wire.Unmarshal(d.PDU, &p); err != nil {
		s.badBody("route-attach", pb.CmdOtherPushToUserReq, err)
		return
	}
	for _, t := range p.GetUserTokenList() {
		pt := uint32(1)
		for _, st := range q.GetUserStatList() {
			if st.GetUserId() == t.GetUserId() && st.GetStatus() == pb.UserStatType_USER_STATUS_ONLINE {
				pt = 2
			}
		}
		t.PushType = &pt
	}
	s.sendPush(&p)
}

// sendPush writes a push request on the push link, or counts it skipped.
func (s *Service) sendPush(p *pb.IMPushToUserReq) {
	_, _, _, _, _, push, _ := s.pools()
	if push == nil || push.SendAny(frame(wire.NewHeader(pb.CmdOtherPushToUserReq, 0), p)) != nil {
		s.c.pushSkipped.Add(1)
		return
	}
	s.c.pushes.Add(1)
}

// flash builds the alert text of a message (§4.5 step 3).
func (s *Service) flash(m *pb.IMMsgData) (string, error) {
	var nick string
	for _, c := range s.reg.userConns(m.GetFromUserId()) {
		c.mu.Lock()
		nick = c.nick
		c.mu.Unlock()
		if nick != "" {
			break
		}
	}
	var text string
	switch m.GetMsgType() {
	case pb.MsgType_MSG_TYPE_SINGLE_TEXT, pb.MsgType_MSG_TYPE_GROUP_TEXT:
		plain, err := s.text.Decrypt(m.GetMsgData())
		if err != nil {
			return "", fmt.Errorf("msg: push alert of message %d: %w", m.GetMsgId(), err)
		}
		if strings.Contains(string(plain), imageMarker) || nick == "" {
			return genericFlash, nil
		}
		text = nick + ":" + string(plain)
	case pb.MsgType_MSG_TYPE_SINGLE_AUDIO:
		if nick == "" {
			return genericFlash, nil
		}
		text = nick + "给您发送了一条语音消息"
	case pb.MsgType_MSG_TYPE_GROUP_AUDIO:
		if nick == "" {
			return genericFlash, nil
		}
		text = nick + "在群聊中发送了一条语音消息"
	default:
		return genericFlash, nil
	}
	if len(text) > flashMax {
		// Cut at a character boundary (the reference may split one, §10.2).
		cut := flashMax
		for cut > 0 && !utf8Start(text[cut]) {
			cut--
		}
		text = text[:cut] + "..."
	}
	return text, nil
}

func utf8Start(b byte) bool { return b&0xc0 != 0x80 }
