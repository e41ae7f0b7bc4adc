package msg

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/fnv"
	"log/slog"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"teamtalk/daemons/internal/attach"
	"teamtalk/daemons/internal/link"
	"teamtalk/netloop"
	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// dbPool says which db pool a forwarded client command prefers (§5.4).
type dbPool int

const (
	poolGeneral dbPool = iota + 1
	poolLogin
)

// forwarded lists the client commands relayed to db with the session user
// and a handle attach, by preferred pool.
var forwarded = map[uint16]dbPool{
	pb.CmdBuddyListRecentContactSessionRequest: poolLogin,
	pb.CmdMsgListRequest:                       poolLogin,
	pb.CmdMsgGetByMsgIdReq:                     poolLogin,
	pb.CmdMsgUnreadCntRequest:                  poolLogin,
	pb.CmdBuddyListUserInfoRequest:             poolLogin,
	pb.CmdBuddyListRemoveSessionReq:            poolGeneral,
	pb.CmdBuddyListAllUserRequest:              poolGeneral,
	pb.CmdBuddyListChangeAvatarRequest:         poolGeneral,
	pb.CmdBuddyListDepartmentRequest:           poolGeneral,
	pb.CmdBuddyListChangeSignInfoRequest:       poolGeneral,
	pb.CmdMsgGetLatestMsgIdReq:                 poolGeneral,
	pb.CmdGroupNormalListRequest:               poolGeneral,
	pb.CmdGroupInfoRequest:                     poolGeneral,
	pb.CmdGroupCreateRequest:                   poolGeneral,
	pb.CmdGroupChangeMemberRequest:             poolGeneral,
	pb.CmdGroupShieldGroupRequest:              poolGeneral,
	pb.CmdLoginReqPushShield:                   poolGeneral,
	pb.CmdLoginReqQueryPushShield:              poolGeneral,
	pb.CmdFileHasOfflineReq:                    poolGeneral,
}

// clientHandler serves the client listener.
type clientHandler struct{ s *Service }

// OnOpen registers the connection and arms its login deadline.
func (h clientHandler) OnOpen(c *netloop.Conn) {
	s := h.s
	cl := &client{id: c.ID(), opened: time.Now().UnixNano(), ip: c.RemoteAddrPort().Addr()}
	s.reg.addConn(cl)
	if d := s.cfg.LoginTimeout.D(); d > 0 {
		g := c.Group()
		id := c.ID()
		t := g.AddTimer(d, false, func() {
			if _, _, ok := cl.session(); !ok {
				if c := g.Conn(id); c != nil { // not closed by the idle sweep first
					s.log.Debug("login timeout", "conn", id)
					s.c.loginTimeouts.Add(1)
					c.Close()
				}
			}
		})
		cl.mu.Lock()
		cl.loginTmr = t
		cl.mu.Unlock()
	}
}

// OnClose forgets the connection and, when it was logged in, tells login and
// route (§4.1 "Disconnect").
func (h clientHandler) OnClose(c *netloop.Conn, err error) {
	s := h.s
	cl := s.reg.conn(c.ID())
	if cl == nil {
		return
	}
	s.reg.removeConn(c.ID())
	cl.mu.Lock()
	cl.closed = true
	was, uid, ct, tmr := cl.loggedIn, cl.userID, cl.ctype, cl.loginTmr
	if was {
		s.reg.removeUser(uid, cl)
	}
	cl.mu.Unlock()
	if tmr != 0 {
		c.Group().RemoveTimer(tmr)
	}
	if !was {
		return
	}
	if s.log.Enabled(context.Background(), slog.LevelDebug) { // the arguments alone allocate
		s.log.Debug("logged-in connection closed", "conn", c.ID(), "user", uid, "err", err)
	}
	s.announce(uid, ct, false)
}

// announce reports a login (on) or a logged-in close to every login and
// route link.
func (s *Service) announce(uid uint32, ct pb.ClientType, on bool) {
	_, _, route, login, _, _, _ := s.pools()
	action, status := uint32(1), uint32(pb.UserStatType_USER_STATUS_ONLINE)
	if !on {
		action, status = 2, uint32(pb.UserStatType_USER_STATUS_OFFLINE)
	}
	// IMUserCntUpdate{user_action, user_id}, IMUserStatusUpdate{user_status, user_id, client_type}.
	login.Broadcast(varintFrame(wire.NewHeader(pb.CmdOtherUserCntUpdate, 0), uint64(action), uint64(uid)))
	route.Broadcast(varintFrame(wire.NewHeader(pb.CmdOtherUserStatusUpdate, 0), uint64(status), uint64(uid), uint64(ct)))
}

// varintFrame encodes a PDU whose body is only varint fields numbered 1, 2,
// ... in order, all set: the bytes wire.Marshal writes for such a message
// (IMUserCntUpdate, IMUserStatusUpdate, IMServerKickUser), without the
// reflection and allocations of proto's marshaller, which every login and
// every logged-in close paid for twice. Enum values (non-negative) are
// passed as their number.
func varintFrame(h wire.Header, fields ...uint64) []byte {
	b := make([]byte, wire.HeaderLen, wire.HeaderLen+len(fields)*(1+binary.MaxVarintLen64))
	for i, v := range fields {
		b = protowire.AppendTag(b, protowire.Number(i+1), protowire.VarintType)
		b = protowire.AppendVarint(b, v)
	}
	h.Length = uint32(len(b))
	h.Put(b)
	return b
}

// OnFrame dispatches one client PDU.
func (h clientHandler) OnFrame(c *netloop.Conn, f []byte) {
	s := h.s
	cl := s.reg.conn(c.ID())
	if cl == nil {
		return
	}
	hd := wire.ParseHeader(f)
	switch hd.CommandID {
	case pb.CmdOtherHeartbeat:
		_ = c.Write(f) // echoed byte for byte (§1.5, Q3)
		return
	case pb.CmdLoginReqUserlogin:
		s.rt.start(c.ID(), hd.Seq, hd.CommandID)
		s.clientLogin(c, cl, hd, f)
		return
	}
	uid, ct, ok := cl.session()
	if !ok {
		s.c.unauth.Add(1)
		if ok, n := s.rl.allow("unauth"); ok {
			s.log.Warn("command before login: closing", "conn", c.ID(), "cmd", pb.CommandName(hd.CommandID), "suppressed", n)
		}
		c.Close()
		return
	}
	if !noReply(hd.CommandID) {
		s.rt.start(c.ID(), hd.Seq, hd.CommandID)
	}
	switch hd.CommandID {
	case pb.CmdMsgData:
		// The busiest path: read on a scan of its fields and forwarded as
		// a splice of its bytes, never decoded (ScanMsgData vouches for
		// what it accepts; anything else goes to DecodeBody below).
		if sc, ok := wire.ScanMsgData(f[wire.HeaderLen:]); ok {
			s.clientMsg(req{cl: cl, uid: uid, ct: ct, h: hd}, sc, f[wire.HeaderLen:])
			return
		}
	case pb.CmdMsgDataAck:
		// A receiver's delivery ack: statistics only, no reply (§4.3 step
		// 6); one arrives for every message delivered, so it is checked
		// by a scan, decoded only when the scan refuses it.
		if wire.ScanMsgDataAck(f[wire.HeaderLen:]) {
			s.c.acks.Add(1)
			return
		}
	}
	m, err := wire.DecodeBody(hd.CommandID, f[wire.HeaderLen:])
	if err != nil {
		s.badBody("client", hd.CommandID, err)
		return
	}
	r := req{cl: cl, uid: uid, ct: ct, h: hd}
	switch hd.CommandID {
	case pb.CmdMsgData:
		q := m.(*pb.IMMsgData)
		body, err := wire.MarshalBody(q)
		if err != nil {
			s.badBody("client", hd.CommandID, err)
			return
		}
		s.clientMsg(r, msgFields(q), body)
	case pb.CmdMsgDataAck:
		// A receiver's delivery ack: statistics only, no reply (§4.3 step 6).
		s.c.acks.Add(1)
	case pb.CmdMsgReadAck:
		s.clientReadAck(r, m.(*pb.IMMsgDataReadAck))
	case pb.CmdMsgTimeRequest:
		now := uint32(time.Now().Unix())
		s.writeClient(cl.id, frame(hd.Reply(pb.CmdMsgTimeResponse), &pb.IMClientTimeRsp{ServerTime: &now}))
	case pb.CmdBuddyListUsersStatusRequest:
		q := m.(*pb.IMUsersStatReq)
		q.UserId = &uid
		setAttach(q, attach.PDU(attach.TypeHandle, uint32(cl.id), nil))
		s.toRoute(frame(hd.Forward(), q))
	case pb.CmdLoginReqKickpcclient:
		s.clientKickPC(r)
	case pb.CmdLoginReqLoginout:
		s.clientLogout(r)
	case pb.CmdLoginReqDevicetoken:
		s.clientDeviceToken(r, m.(*pb.IMDeviceTokenReq))
	case pb.CmdSwitchP2pCmd:
		q := m.(*pb.IMP2PCmdMsg)
		q.FromUserId = &uid // never trust the client's from (§10.2)
		f := frame(hd.Forward(), q)
		s.deliver(f, s.reg.userConns(uid), cl.id)
		if q.GetToUserId() != uid {
			s.deliver(f, s.reg.userConns(q.GetToUserId()), cl.id)
		}
		s.toRoute(f)
	case pb.CmdFileRequest:
		s.clientFileReq(r, m.(*pb.IMFileReq))
	case pb.CmdFileAddOfflineReq:
		s.clientFileAddOffline(r, m.(*pb.IMFileAddOfflineReq))
	case pb.CmdFileDelOfflineReq:
		q := m.(*pb.IMFileDelOfflineReq)
		q.ToUserId = &uid // the receiver deletes the record after downloading
		s.sendDB(s.dbGeneral(), frame(hd.Forward(), q))
	default:
		pool, ok := forwarded[hd.CommandID]
		if !ok {
			s.c.dropped.Add(1)
			if ok, n := s.rl.allow("unknown-client-cmd"); ok {
				s.log.Warn("client command not handled: dropped", "cmd", pb.CommandName(hd.CommandID), "suppressed", n)
			}
			return
		}
		s.clientForward(r, m, pool)
	}
}

// req is one authenticated client request.
type req struct {
	cl  *client
	uid uint32
	ct  pb.ClientType
	h   wire.Header
}

// badBody counts and logs (rate-limited) a body that failed to decode; the
// connection stays open (§1.2).
func (s *Service) badBody(from string, cmd uint16, err error) {
	s.c.badBodies.Add(1)
	if ok, n := s.rl.allow("badbody-" + from); ok {
		s.log.Warn("undecodable body dropped", "from", from, "cmd", pb.CommandName(cmd), "err", err, "suppressed", n)
	}
}

// clientForward relays a client request to db with the session user and a
// handle attach (§4 preamble).
func (s *Service) clientForward(r req, m proto.Message, pool dbPool) {
	if r.h.CommandID == pb.CmdGroupCreateRequest && m.(*pb.IMGroupCreateReq).GetGroupType() == pb.GroupType_GROUP_TYPE_NORMAL {
		s.c.dropped.Add(1) // clients may only create temporary groups (Q16)
		return
	}
	setUint32(m, "user_id", r.uid)
	setAttach(m, attach.Handle(attach.TypeHandle, uint32(r.cl.id)))
	l := s.dbGeneral()
	if pool == poolLogin {
		l = s.dbAny()
	}
	s.sendDB(l, frame(r.h.Forward(), m))
	if r.h.CommandID == pb.CmdBuddyListRemoveSessionReq {
		q := m.(*pb.IMRemoveSessionReq)
		if q.GetSessionType() == pb.SessionType_SESSION_TYPE_SINGLE {
			n := frame(wire.NewHeader(pb.CmdBuddyListRemoveSessionNotify, 0), &pb.IMRemoveSessionNotify{
				UserId: &r.uid, SessionType: q.SessionType, SessionId: q.SessionId,
			})
			s.deliver(n, s.reg.userConns(r.uid), r.cl.id)
			s.toRoute(n)
		}
	}
}

// clientLogin handles IMLoginReq (§4.1 steps 4-5).
func (s *Service) clientLogin(c *netloop.Conn, cl *client, h wire.Header, f []byte) {
	cl.mu.Lock()
	sent := cl.loginSent || cl.loggedIn
	cl.mu.Unlock()
	if sent {
		return // a second login request on one connection is ignored
	}
	_, _, route, login, _, _, _ := s.pools()
	var refuse pb.ResultType
	switch {
	case len(s.cfg.DBProxy) == 0 || s.dbAny() == nil:
		refuse = pb.ResultType_REFUSE_REASON_NO_DB_SERVER
	case len(s.cfg.Login) > 0 && len(login.Usable()) == 0:
		refuse = pb.ResultType_REFUSE_REASON_NO_LOGIN_SERVER
	case len(s.cfg.Route) > 0 && len(route.Usable()) == 0:
		refuse = pb.ResultType_REFUSE_REASON_NO_ROUTE_SERVER
	}
	text := "服务端异常"
	if refuse == 0 && s.ipf.blocked(cl.ip, time.Now()) {
		refuse, text = pb.ResultType_REFUSE_REASON_DB_VALIDATE_FAILED, "too many failed logins from this address"
		s.c.loginBlocked.Add(1)
		if ok, n := s.rl.allow("ipblocked"); ok {
			s.log.Warn("login refused: too many failed logins from this address", "addr", cl.ip,
				"limit", s.cfg.LoginFailPerIP, "window", s.cfg.LoginFailWindow, "suppressed", n)
		}
	}
	if refuse != 0 {
		s.c.loginFailures.Add(1)
		now := uint32(time.Now().Unix())
		s.writeClient(c.ID(), frame(h.Reply(pb.CmdLoginResUserlogin), &pb.IMLoginRes{
			ServerTime: &now, ResultCode: refuse.Enum(), ResultString: proto.String(text),
		}))
		c.Close()
		return
	}
	m, err := wire.DecodeBody(h.CommandID, f[wire.HeaderLen:])
	if err != nil {
		s.badBody("client", h.CommandID, err)
		return
	}
	q := m.(*pb.IMLoginReq)
	st := q.GetOnlineStatus()
	if st < pb.UserStatType_USER_STATUS_ONLINE || st > pb.UserStatType_USER_STATUS_LEAVE {
		st = pb.UserStatType_USER_STATUS_ONLINE
	}
	cl.mu.Lock()
	if cl.loginSent {
		cl.mu.Unlock()
		return
	}
	cl.loginSent = true
	cl.name = q.GetUserName()
	cl.ctype = q.GetClientType()
	cl.status = st
	cl.loginSeq = h.Seq
	cl.mu.Unlock()
	v := &pb.IMValidateReq{UserName: q.UserName, Password: q.Password, AttachData: attach.Handle(attach.TypeHandle, uint32(cl.id))}
	s.sendDB(s.dbAny(), frame(wire.NewHeader(pb.CmdOtherValidateReq, h.Seq), v))
}

// clientMsg handles IMMsgData from a client (§4.3 step 2, §4.4 step 1).
func (s *Service) clientMsg(r req, m wire.MsgDataFields, body []byte) {
	if len(m.Data) == 0 {
		s.c.dropped.Add(1)
		return
	}
	if limit := int(s.maxMsgsPerSec.Load()); limit > 0 {
		sec := time.Now().Unix()
		r.cl.mu.Lock()
		if r.cl.winSec != sec {
			r.cl.winSec, r.cl.winCount = sec, 0
		}
		r.cl.winCount++
		over := r.cl.winCount > limit
		r.cl.mu.Unlock()
		if over {
			s.c.rateLimited.Add(1)
			if ok, n := s.rl.allow("ratelimit"); ok {
				s.log.Warn("message rate-limited: dropped", "conn", r.cl.id, "user", r.uid,
					"limit_per_second", limit, "suppressed", n)
			}
			return
		}
	}
	group := isGroupMsg(m.Type)
	to := m.To
	if !group && to == r.uid {
		s.c.dropped.Add(1) // a message to oneself
		return
	}
	now := uint32(time.Now().Unix())
	f := wire.AppendMsgDataSplice(nil, r.h.Forward(), body, r.uid, now, attach.Handle(attach.TypeHandle, uint32(r.cl.id)))
	if f == nil {
		s.badBody("client", r.h.CommandID, errors.New("message body does not split into fields"))
		return
	}
	s.c.msgsIn.Add(1)
	// Counted in flight before the drain flag is read, so that drain either
	// waits for this message's reply or this message sees the flag.
	s.inflight.Add(1)
	if s.draining.Load() {
		s.inflight.Add(-1)
		s.c.drainRefused.Add(1)
		return
	}
	if !s.sendDB(s.dbPinned(sessionKey(group, r.uid, to)), f) {
		s.inflight.Add(-1)
	}
}

func isGroupMsg(t pb.MsgType) bool {
	return t == pb.MsgType_MSG_TYPE_GROUP_TEXT || t == pb.MsgType_MSG_TYPE_GROUP_AUDIO
}

// sessionKey names a conversation: the user pair, or the group.
func sessionKey(group bool, a, b uint32) uint64 {
	if group {
		return 1<<63 | uint64(b)
	}
	if a > b {
		a, b = b, a
	}
	return uint64(a)<<32 | uint64(b)
}

// clientReadAck handles IMMsgDataReadAck (§4.6).
func (s *Service) clientReadAck(r req, m *pb.IMMsgDataReadAck) {
	m.UserId = &r.uid
	group := m.GetSessionType() == pb.SessionType_SESSION_TYPE_GROUP
	s.sendDB(s.dbPinned(sessionKey(group, r.uid, m.GetSessionId())), frame(r.h.Forward(), m))
	n := frame(wire.NewHeader(pb.CmdMsgReadNotify, 0), &pb.IMMsgDataReadNotify{
		UserId: &r.uid, SessionId: m.SessionId, MsgId: m.MsgId, SessionType: m.SessionType,
	})
	s.deliver(n, s.reg.userConns(r.uid), r.cl.id)
	s.toRoute(n)
}

// clientKickPC handles IMKickPCClientReq from a phone (§4.2).
func (s *Service) clientKickPC(r req) {
	if !mobile(r.ct) {
		return
	}
	s.kickLocal(r.uid, pb.ClientType_CLIENT_TYPE_MAC, uint32(pb.KickReasonType_KICK_REASON_MOBILE_KICK), r.cl.id)
	reason := uint32(pb.KickReasonType_KICK_REASON_MOBILE_KICK)
	s.toRoute(frame(wire.NewHeader(pb.CmdOtherServerKickUser, 0), &pb.IMServerKickUser{
		UserId: &r.uid, ClientType: pb.ClientType_CLIENT_TYPE_MAC.Enum(), Reason: &reason,
	}))
	zero := uint32(0)
	s.writeClient(r.cl.id, frame(r.h.Reply(pb.CmdLoginResKickpcclient), &pb.IMKickPCClientRsp{UserId: &r.uid, ResultCode: &zero}))
}

// clientLogout handles IMLogoutReq: clear the device token, reply, close.
func (s *Service) clientLogout(r req) {
	s.sendDB(s.dbGeneral(), frame(wire.NewHeader(pb.CmdLoginReqDevicetoken, r.h.Seq), &pb.IMDeviceTokenReq{
		UserId: &r.uid, DeviceToken: proto.String(""), ClientType: r.ct.Enum(),
	}))
	zero := uint32(0)
	s.writeClient(r.cl.id, frame(r.h.Reply(pb.CmdLoginResLoginout), &pb.IMLogoutRsp{ResultCode: &zero}))
	if _, _, _, _, _, _, g := s.pools(); g != nil {
		g.Close(r.cl.id)
	}
}

// clientDeviceToken handles IMDeviceTokenReq (§4.11): ignored for PC clients;
// mobiles get {user_id} at once (not the reference's empty body, §10.2) and
// the token goes to db.
func (s *Service) clientDeviceToken(r req, m *pb.IMDeviceTokenReq) {
	if !mobile(r.ct) {
		return
	}
	s.writeClient(r.cl.id, frame(r.h.Reply(pb.CmdLoginResDevicetoken), &pb.IMDeviceTokenRsp{UserId: &r.uid}))
	m.UserId = &r.uid
	m.ClientType = r.ct.Enum()
	m.AttachData = attach.Handle(attach.TypeHandle, uint32(r.cl.id))
	s.sendDB(s.dbGeneral(), frame(r.h.Forward(), m))
}

// kickLocal sends IMKickUser to the user's other local connections of the
// same family as ct, marks them kicked and closes them after kickGrace
// (Q8, §10.2). It returns how many it kicked.
func (s *Service) kickLocal(uid uint32, ct pb.ClientType, reason uint32, except netloop.ConnID) int {
	_, _, _, _, _, _, g := s.pools()
	if g == nil {
		return 0
	}
	f := frame(wire.NewHeader(pb.CmdLoginKickUser, 0), &pb.IMKickUser{UserId: &uid, KickReason: pb.KickReasonType(reason).Enum()})
	n := 0
	for _, c := range s.reg.userConns(uid) {
		if c.id == except {
			continue
		}
		c.mu.Lock()
		hit := c.loggedIn && !c.closed && !c.kicked && mobile(c.ctype) == mobile(ct)
		if hit {
			c.kicked = true
		}
		c.mu.Unlock()
		if !hit {
			continue
		}
		_ = g.Write(c.id, f)
		id := c.id
		g.AddTimer(kickGrace, false, func() { g.Close(id) })
		s.c.kicks.Add(1)
		n++
	}
	return n
}

// deliver writes one encoded frame to every connection in conns except one,
// and counts the deliveries.
func (s *Service) deliver(f []byte, conns []*client, except netloop.ConnID) int {
	_, _, _, _, _, _, g := s.pools()
	if g == nil {
		return 0
	}
	return deliverTo(g, f, conns, except)
}

// deliverTo writes the same frame bytes to every logged-in connection in
// conns except one, and returns how many took it.
func deliverTo(g *netloop.Group, f []byte, conns []*client, except netloop.ConnID) int {
	if f == nil {
		return 0
	}
	n := 0
	for _, c := range conns {
		if c.id == except {
			continue
		}
		if _, _, ok := c.session(); !ok {
			continue
		}
		if g.Write(c.id, f) == nil {
			n++
		}
	}
	return n
}

// writeClient writes a frame to one client connection.
func (s *Service) writeClient(id netloop.ConnID, f []byte) {
	if _, _, _, _, _, _, g := s.pools(); g != nil && f != nil {
		_ = g.Write(id, f)
		s.rt.done(id, f)
	}
}

// dbAny picks a db link, login pool first (§5.4).
func (s *Service) dbAny() *link.Link {
	dbl, dbg, _, _, _, _, _ := s.pools()
	return anyLink(dbl, dbg)
}

// dbGeneral picks a db link, general pool first.
func (s *Service) dbGeneral() *link.Link {
	dbl, dbg, _, _, _, _, _ := s.pools()
	return anyLink(dbg, dbl)
}

// anyLink picks a link of first, else of second; nil before Run.
func anyLink(first, second *link.Pool) *link.Link {
	if first == nil {
		return nil
	}
	if l := first.Any(); l != nil {
		return l
	}
	return second.Any()
}

// dbPinned picks the db link a conversation is pinned to, so that its
// message ids and order agree (ARCHITECTURE "Storage"): the same usable
// general link for the same key while the set of usable links is stable.
func (s *Service) dbPinned(key uint64) *link.Link {
	dbl, dbg, _, _, _, _, _ := s.pools()
	if dbg == nil {
		return nil
	}
	ls := dbg.Usable()
	if len(ls) == 0 {
		ls = dbl.Usable()
	}
	if len(ls) == 0 {
		return nil
	}
	h := fnv.New64a()
	var b [8]byte
	for i := range b {
		b[i] = byte(key >> (8 * i))
	}
	h.Write(b[:])
	return ls[h.Sum64()%uint64(len(ls))]
}

// sendDB writes a request on a db link, counting it when there is none.
func (s *Service) sendDB(l *link.Link, f []byte) bool {
	if l == nil || f == nil || l.Send(f) != nil {
		s.c.noLink.Add(1)
		if ok, n := s.rl.allow("nodb"); ok {
			s.log.Warn("no usable db link: request dropped", "suppressed", n)
		}
		return false
	}
	return true
}

// toRoute writes a frame on the master route link.
func (s *Service) toRoute(f []byte) bool {
	_, _, route, _, _, _, _ := s.pools()
	if route == nil || f == nil || route.SendMaster(f) != nil {
		if len(s.cfg.Route) > 0 {
			s.c.noLink.Add(1)
		}
		return false
	}
	return true
}
