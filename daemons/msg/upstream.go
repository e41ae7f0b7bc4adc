package msg

import (
	"context"
	"log/slog"
	"math"
	"slices"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"teamtalk/daemons/internal/attach"
	"teamtalk/daemons/internal/link"
	"teamtalk/netloop"
	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// onDBFrame handles a frame from a db link.
func (s *Service) onDBFrame(l *link.Link, f []byte) {
	h := wire.ParseHeader(f)
	if h.CommandID == link.CmdStopReceive {
		s.log.Info("db link asked to stop receiving", "addr", l.Addr())
		return
	}
	if h.CommandID == pb.CmdMsgData {
		// Every stored message: read on a scan of its fields; the body is
		// decoded only for a group's fan-out or a push.
		if sc, ok := wire.ScanMsgData(f[wire.HeaderLen:]); ok {
			s.onStored(h, f, sc, nil)
			return
		}
	}
	m, err := wire.DecodeBody(h.CommandID, f[wire.HeaderLen:])
	if err != nil {
		s.badBody("dbproxy", h.CommandID, err)
		return
	}
	switch h.CommandID {
	case pb.CmdOtherValidateRsp:
		s.onValidate(m.(*pb.IMValidateRsp))
	case pb.CmdMsgData:
		q := m.(*pb.IMMsgData)
		s.onStored(h, f, msgFields(q), q)
	case pb.CmdGroupInfoResponse:
		if d, ok := decodeAttach(m); ok && d.Type == attach.TypeHandleAndPDU {
			s.onGroupFanout(m.(*pb.IMGroupInfoListRsp), d)
			return
		}
		for _, gi := range m.(*pb.IMGroupInfoListRsp).GetGroupInfoList() {
			s.gc.seenVersion(gi.GetGroupId(), gi.GetVersion())
		}
		s.replyClient(h, m)
	case pb.CmdOtherGetDeviceTokenRsp:
		s.onDeviceTokens(m.(*pb.IMGetDeviceTokenRsp))
	case pb.CmdOtherGetShieldRsp:
		s.onGroupShield(m.(*pb.IMGroupGetShieldRsp))
	case pb.CmdLoginResDevicetoken:
		// db stored a device token; the client had its answer already (§4.11).
	case pb.CmdBuddyListChangeSignInfoResponse:
		q := m.(*pb.IMChangeSignInfoRsp)
		if s.replyClient(h, m) && q.GetResultCode() == 0 {
			s.toRoute(frame(wire.NewHeader(pb.CmdBuddyListSignInfoChangedNotify, 0), &pb.IMSignInfoChangedNotify{
				ChangedUserId: q.UserId, SignInfo: proto.String(q.GetSignInfo()),
			}))
		}
	case pb.CmdGroupChangeMemberResponse:
		q := m.(*pb.IMGroupChangeMemberRsp)
		d, _ := decodeAttach(q)
		if q.GetResultCode() == 0 {
			s.gc.invalidate(q.GetGroupId()) // before anyone hears of the change
		}
		if s.replyClient(h, m) && q.GetResultCode() == 0 {
			n := frame(wire.NewHeader(pb.CmdGroupChangeMemberNotify, 0), &pb.IMGroupChangeMemberNotify{
				UserId: q.UserId, ChangeType: q.ChangeType, GroupId: q.GroupId,
				CurUserIdList: q.CurUserIdList, ChgUserIdList: q.ChgUserIdList,
			})
			s.toRoute(n)
			for _, ids := range [][]uint32{q.CurUserIdList, q.ChgUserIdList} {
				for _, id := range ids {
					s.deliver(n, s.reg.userConns(id), netloop.ConnID(d.Handle))
				}
			}
		}
	case pb.CmdFileHasOfflineRes:
		q := m.(*pb.IMFileHasOfflineRsp)
		if _, ips := s.pickFile(); ips != nil {
			q.IpAddrList = ips
		}
		s.replyClient(h, q)
	default:
		s.replyClient(h, m)
	}
}

// replyClient routes a db or route reply to the connection named by its
// attach handle, when that connection is still logged in as the reply's
// user_id; attach data is stripped and the request's seq kept (§4 preamble).
func (s *Service) replyClient(h wire.Header, m proto.Message) bool {
	d, ok := decodeAttach(m)
	if !ok {
		s.c.dropped.Add(1)
		return false
	}
	cl := s.reg.conn(netloop.ConnID(d.Handle))
	if cl == nil {
		s.c.dropped.Add(1)
		return false
	}
	uid, _, ok := cl.session()
	if want, has := getUint32(m, "user_id"); !ok || (has && want != uid) {
		s.c.dropped.Add(1)
		return false
	}
	setAttach(m, nil)
	s.writeClient(cl.id, frame(h.Forward(), m))
	return true
}

// onValidate finishes a login (§4.1 steps 7-8).
func (s *Service) onValidate(m *pb.IMValidateRsp) {
	d, ok := decodeAttach(m)
	if !ok {
		return
	}
	cl := s.reg.conn(netloop.ConnID(d.Handle))
	_, _, _, _, _, _, g := s.pools()
	if cl == nil || g == nil {
		return
	}
	now := uint32(time.Now().Unix())
	cl.mu.Lock()
	if cl.loggedIn || !cl.loginSent || cl.closed || cl.name != m.GetUserName() {
		cl.mu.Unlock()
		return
	}
	seq := cl.loginSeq
	if m.GetResultCode() != 0 {
		cl.mu.Unlock()
		s.c.loginFailures.Add(1)
		s.ipf.fail(cl.ip, time.Now())
		s.writeClient(cl.id, frame(wire.NewHeader(pb.CmdLoginResUserlogin, seq), &pb.IMLoginRes{
			ServerTime: &now, ResultCode: pb.ResultType_REFUSE_REASON_DB_VALIDATE_FAILED.Enum(),
			ResultString: proto.String(m.GetResultString()),
		}))
		g.Close(cl.id)
		return
	}
	uid := m.GetUserInfo().GetUserId()
	cl.loggedIn, cl.userID = true, uid
	cl.name = "" // validated; not needed any more
	cl.nick = m.GetUserInfo().GetUserNickName()
	ct, st, tmr := cl.ctype, cl.status, cl.loginTmr
	cl.loginTmr = 0
	s.gc.loggedIn()        // the user may be a member of a cached group that changed while it was away
	s.reg.addUser(uid, cl) // under cl.mu: OnClose removes under it too
	cl.mu.Unlock()
	if tmr != 0 {
		g.RemoveTimer(tmr)
	}
	idle := s.cfg.PCIdleTimeout.D()
	if mobile(ct) {
		idle = s.cfg.MobileIdleTimeout.D()
	}
	if c := g.Conn(cl.id); c != nil {
		c.SetIdleTimeout(idle)
	}
	s.c.logins.Add(1)
	// Kick the older connection of the same family here and everywhere else.
	s.kickLocal(uid, ct, uint32(pb.KickReasonType_KICK_REASON_DUPLICATE_USER), cl.id)
	reason := uint32(pb.KickReasonType_KICK_REASON_DUPLICATE_USER)
	s.toRoute(varintFrame(wire.NewHeader(pb.CmdOtherServerKickUser, 0), uint64(uid), uint64(ct), uint64(reason))) // IMServerKickUser{user_id, client_type, reason}
	// The reply goes out before anything announces the user (ARCHITECTURE).
	s.writeClient(cl.id, frame(wire.NewHeader(pb.CmdLoginResUserlogin, seq), &pb.IMLoginRes{
		ServerTime: &now, ResultCode: pb.ResultType_REFUSE_REASON_NONE.Enum(),
		ResultString: proto.String(m.GetResultString()), OnlineStatus: st.Enum(), UserInfo: m.GetUserInfo(),
	}))
	s.announce(uid, ct, true)
	if mobile(ct) && s.reg.pcOnline(uid) {
		_ = g.Write(cl.id, frame(wire.NewHeader(pb.CmdBuddyListPcLoginStatusNotify, 0), &pb.IMPCLoginStatusNotify{
			UserId: &uid, LoginStat: pb.UserStatType_USER_STATUS_ONLINE.Enum(),
		}))
	}
	if s.log.Enabled(context.Background(), slog.LevelDebug) { // the arguments alone allocate
		s.log.Debug("login", "user", uid, "conn", cl.id, "client_type", ct)
	}
}

// onStored handles db's answer to a message (§4.3 step 4, §4.4 step 3):
// sc are its fields, m the decoded body when the caller has it (nil: decoded
// here if a group fan-out or a push needs it).
func (s *Service) onStored(h wire.Header, raw []byte, sc wire.MsgDataFields, m *pb.IMMsgData) {
	defer s.inflight.Add(-1) // after the ack is queued: drain waits for it
	if sc.MsgID == 0 {
		s.c.dropped.Add(1) // no id allocated: no ack (Q5)
		return
	}
	s.c.persisted.Add(1)
	var d attach.Data
	if sc.Attach != nil {
		d, _ = attach.Decode(sc.Attach)
	}
	sender := netloop.ConnID(d.Handle)
	from, to := sc.From, sc.To
	group := isGroupMsg(sc.Type)
	st := pb.SessionType_SESSION_TYPE_SINGLE
	if group {
		st = pb.SessionType_SESSION_TYPE_GROUP
	}
	if cl := s.reg.conn(sender); cl != nil {
		if uid, _, ok := cl.session(); ok && uid == from {
			s.writeClient(sender, ackFrame(h.Reply(pb.CmdMsgDataAck), from, to, sc.MsgID, st))
			s.c.acks.Add(1)
		}
	}
	s.toRoute(raw) // unchanged, attach inside (§4.3)
	body := func() *pb.IMMsgData {
		if m == nil {
			dm, err := wire.DecodeBody(pb.CmdMsgData, raw[wire.HeaderLen:])
			if err != nil { // ScanMsgData vouched for it: cannot happen
				s.badBody("dbproxy", pb.CmdMsgData, err)
				return nil
			}
			m = dm.(*pb.IMMsgData)
		}
		return m
	}
	if group {
		if m := body(); m != nil {
			s.groupFanout(m, d.Handle)
		}
		return
	}
	toMobile := s.deliverSingle(from, to, raw, m, sender)
	// A receiver whose phone is connected here has just been given the
	// message: no push, and no device-token round trip to db for every
	// message of a conversation between online users. (The reference
	// pushed to such a phone anyway, §4.5 step 4's quirk.)
	if !s.pushEnabled() || toMobile {
		return
	}
	if m := body(); m != nil {
		s.pushRound([]uint32{to}, m)
	}
}

// msgFields are m's fields as wire.ScanMsgData reads them.
func msgFields(m *pb.IMMsgData) wire.MsgDataFields {
	return wire.MsgDataFields{
		From: m.GetFromUserId(), To: m.GetToSessionId(), MsgID: m.GetMsgId(), CreateTime: m.GetCreateTime(),
		Type: m.GetMsgType(), Data: m.GetMsgData(), Attach: m.AttachData,
	}
}

// deliverSingle writes a 1:1 message from→to to the receiver's connections
// and the sender's other connections, encoded once, attach stripped, seq 0:
// the stored frame raw with the attach field cut out (no second Marshal),
// or m (when not nil) encoded again should raw's body not split into fields.
// It reports whether the receiver has a logged-in mobile connection here,
// read from the connections it delivered to.
func (s *Service) deliverSingle(from, to uint32, raw []byte, m *pb.IMMsgData, except netloop.ConnID) (toMobile bool) {
	var buf [4]*client
	toConns := s.reg.appendUserConns(buf[:0], to)
	toMobile = mobileIn(toConns)
	f := stripAttach(wire.NewHeader(pb.CmdMsgData, 0), raw)
	if f == nil {
		if m == nil {
			return toMobile
		}
		// m belongs to this call chain: the attach is put back, no copy.
		attach := m.AttachData
		m.AttachData = nil
		f = frame(wire.NewHeader(pb.CmdMsgData, 0), m)
		m.AttachData = attach
	}
	n := s.deliver(f, toConns, except)
	n += s.deliver(f, s.reg.appendUserConns(buf[:0], from), except)
	s.c.delivered.Add(uint64(n))
	return toMobile
}

// groupFanout delivers a stored group message to the local members: from
// the member cache when it holds the group (no db round trip), else after
// asking db for the members (§4.4 step 3), which fills the cache, or only
// whether they changed since the cached version when a local login made the
// entry suspect. A sender the cached list does not know goes to db for the
// full list (it may just have joined).
func (s *Service) groupFanout(m *pb.IMMsgData, handle uint32) {
	members, version, ok := s.gc.get(m.GetToSessionId())
	switch {
	case !slices.Contains(members, m.GetFromUserId()):
		version = 0 // full list: the sender may just have joined
	case ok:
		s.fanout(m, members, handle)
		return
	}
	s.requestGroupFanout(m, handle, version)
}

// Protobuf field numbers, unknown to IMMsgData, under which
// requestGroupFanout appends the member cache's ticket and the version it
// asked for to the message it parks in the attach data; only this server
// reads them back.
const (
	ticketField  = 1000
	versionField = 1001
)

// requestGroupFanout asks db for the group's members newer than version
// (0: in any case) with the message in a type-3 attach (§4.4 step 3); the
// message carries the member cache's ticket, so the reply fills the cache
// only if nothing changed meanwhile.
func (s *Service) requestGroupFanout(m *pb.IMMsgData, handle, version uint32) {
	body, err := wire.MarshalBody(m)
	if err != nil {
		return
	}
	body = protowire.AppendTag(body, ticketField, protowire.VarintType)
	body = protowire.AppendVarint(body, s.gc.ticket())
	body = protowire.AppendTag(body, versionField, protowire.VarintType)
	body = protowire.AppendVarint(body, uint64(version))
	q := &pb.IMGroupInfoListReq{
		UserId:           m.FromUserId,
		GroupVersionList: []*pb.GroupVersionInfo{{GroupId: m.ToSessionId, Version: &version}},
		AttachData:       attach.PDU(attach.TypeHandleAndPDU, handle, body),
	}
	s.sendDB(s.dbPinned(sessionKey(true, 0, m.GetToSessionId())), frame(wire.NewHeader(pb.CmdGroupInfoRequest, 0), q))
}

// parked is what requestGroupFanout appended to a parked message.
type parked struct {
	ticket  uint64
	version uint32
	ok      bool // a ticket was found
}

// takeParked returns what requestGroupFanout appended to m (the last
// occurrence of each field, should a client have sent them too) and drops
// m's unknown fields.
func takeParked(m *pb.IMMsgData) parked {
	b := m.ProtoReflect().GetUnknown()
	var p parked
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			break
		}
		b = b[n:]
		if (num == ticketField || num == versionField) && typ == protowire.VarintType {
			v, k := protowire.ConsumeVarint(b)
			if k < 0 {
				break
			}
			if num == ticketField {
				p.ticket, p.ok = v, true
			} else {
				p.version = uint32(v)
			}
			b = b[k:]
			continue
		}
		k := protowire.ConsumeFieldValue(num, typ, b)
		if k < 0 {
			break
		}
		b = b[k:]
	}
	m.ProtoReflect().SetUnknown(nil)
	return p
}

// onGroupFanout caches the members db sent and delivers the group message
// parked in the attach data (§4.4 step 5). A revalidation db answered with
// nothing newer delivers to the cached members, or, if the cache let go of
// them meanwhile, asks again for the full list.
func (s *Service) onGroupFanout(r *pb.IMGroupInfoListRsp, d attach.Data) {
	var m pb.IMMsgData
	if err := wire.Unmarshal(d.PDU, &m); err != nil {
		s.badBody("dbproxy-attach", pb.CmdMsgData, err)
		return
	}
	p := takeParked(&m)
	var members []uint32
	listed := false
	for _, gi := range r.GetGroupInfoList() {
		if gi.GetGroupId() == m.GetToSessionId() {
			members, listed = gi.GetGroupMemberList(), true
			if p.ok {
				s.gc.fill(gi.GetGroupId(), gi.GetVersion(), members, p.ticket)
			}
		}
	}
	if !listed && p.ok && p.version != 0 {
		var ok bool
		if members, ok = s.gc.revalidated(m.GetToSessionId(), p.version, p.ticket); !ok {
			s.requestGroupFanout(&m, d.Handle, 0)
			return
		}
	}
	if !slices.Contains(members, m.GetFromUserId()) {
		s.c.dropped.Add(1)
		return
	}
	s.fanout(&m, members, d.Handle)
}

// fanout writes a group message, encoded once without its attach data, to
// the local connections of every member except the sending connection
// (§4.4 step 5); the origin server (handle not 0) then starts the push
// round for the members not connected here by phone.
func (s *Service) fanout(m *pb.IMMsgData, members []uint32, handle uint32) {
	_, _, _, _, _, _, g := s.pools()
	if g == nil {
		return
	}
	att := m.AttachData
	m.AttachData = nil
	f := frame(wire.NewHeader(pb.CmdMsgData, 0), m)
	except := netloop.ConnID(handle)
	var buf [4]*client
	n := 0
	for _, id := range members {
		n += deliverTo(g, f, s.reg.appendUserConns(buf[:0], id), except)
	}
	s.c.delivered.Add(uint64(n))
	if handle != 0 && s.pushEnabled() { // only the origin server runs the push round (fixes §10.2 duplicates)
		var targets []uint32
		for _, id := range members {
			if id != m.GetFromUserId() && !s.reg.mobileOnline(id) {
				targets = append(targets, id)
			}
		}
		if len(targets) > 0 {
			s.groupPushRound(m.GetToSessionId(), targets, m)
		}
	}
	m.AttachData = att
}

// onRouteMaster marks a route link master (§5.3).
func (s *Service) onRouteMaster(l *link.Link) {
	one := uint32(1)
	_ = l.Send(frame(wire.NewHeader(pb.CmdOtherRoleSet, 0), &pb.IMRoleSet{Master: &one}))
}

// onRouteConfirmed sends the full list of local logged-in connections.
func (s *Service) onRouteConfirmed(l *link.Link) {
	s.gc.clear() // change notifies may have been missed while it was down
	var list []*pb.ServerUserStat
	for _, c := range s.reg.all() {
		c.mu.Lock()
		if c.loggedIn && !c.closed {
			uid, st, ct := c.userID, c.status, c.ctype
			list = append(list, &pb.ServerUserStat{UserId: &uid, Status: st.Enum(), ClientType: ct.Enum()})
		}
		c.mu.Unlock()
	}
	_ = l.Send(frame(wire.NewHeader(pb.CmdOtherOnlineUserInfo, 0), &pb.IMOnlineUserInfo{UserStatList: list}))
}

// onRouteFrame handles what route relays (§5.3, §4.x).
func (s *Service) onRouteFrame(l *link.Link, f []byte) {
	h := wire.ParseHeader(f)
	if h.CommandID == pb.CmdMsgData {
		// A 1:1 message stored by another msg: read on a scan of its
		// fields and delivered as a splice, as onDBFrame does; a group
		// message is decoded for its fan-out.
		if sc, ok := wire.ScanMsgData(f[wire.HeaderLen:]); ok && !isGroupMsg(sc.Type) {
			s.deliverSingle(sc.From, sc.To, f, nil, 0)
			return
		}
	}
	m, err := wire.DecodeBody(h.CommandID, f[wire.HeaderLen:])
	if err != nil {
		s.badBody("route", h.CommandID, err)
		return
	}
	switch h.CommandID {
	case pb.CmdBuddyListUsersStatusResponse:
		q := m.(*pb.IMUsersStatRsp)
		d, ok := decodeAttach(q)
		switch {
		case ok && d.Type == attach.TypePDUForPush:
			s.onPushProbe(q, d)
		case ok && d.Type == attach.TypeHandleAndPDUForFile:
			s.onFileProbe(q, d, h.Seq)
		default:
			s.replyClient(h, m)
		}
	case pb.CmdMsgData:
		q := m.(*pb.IMMsgData)
		if isGroupMsg(q.GetMsgType()) {
			s.groupFanout(q, 0)
			return
		}
		s.deliverSingle(q.GetFromUserId(), q.GetToSessionId(), f, q, 0)
	case pb.CmdMsgReadNotify:
		s.deliver(frame(wire.NewHeader(pb.CmdMsgReadNotify, 0), m), s.reg.userConns(m.(*pb.IMMsgDataReadNotify).GetUserId()), 0)
	case pb.CmdBuddyListRemoveSessionNotify:
		s.deliver(frame(wire.NewHeader(pb.CmdBuddyListRemoveSessionNotify, 0), m), s.reg.userConns(m.(*pb.IMRemoveSessionNotify).GetUserId()), 0)
	case pb.CmdOtherServerKickUser:
		q := m.(*pb.IMServerKickUser)
		s.kickLocal(q.GetUserId(), q.GetClientType(), q.GetReason(), 0)
	case pb.CmdOtherLoginStatusNotify:
		q := m.(*pb.IMServerPCLoginStatusNotify)
		on := q.GetLoginStatus() == 1
		if !s.reg.setPCOnline(q.GetUserId(), on) {
			return
		}
		stat := pb.UserStatType_USER_STATUS_OFFLINE
		if on {
			stat = pb.UserStatType_USER_STATUS_ONLINE
		}
		n := frame(wire.NewHeader(pb.CmdBuddyListPcLoginStatusNotify, 0), &pb.IMPCLoginStatusNotify{UserId: q.UserId, LoginStat: stat.Enum()})
		var mobiles []*client
		for _, c := range s.reg.userConns(q.GetUserId()) {
			if _, ct, ok := c.session(); ok && mobile(ct) {
				mobiles = append(mobiles, c)
			}
		}
		s.deliver(n, mobiles, 0)
	case pb.CmdBuddyListStatusNotify:
		// Presence is company-wide: every PC connection (§4.9).
		var pcs []*client
		for _, c := range s.reg.all() {
			if _, ct, ok := c.session(); ok && !mobile(ct) {
				pcs = append(pcs, c)
			}
		}
		s.deliver(frame(wire.NewHeader(pb.CmdBuddyListStatusNotify, 0), m), pcs, 0)
	case pb.CmdBuddyListSignInfoChangedNotify:
		s.deliver(frame(wire.NewHeader(pb.CmdBuddyListSignInfoChangedNotify, 0), m), s.reg.all(), 0)
	case pb.CmdGroupChangeMemberNotify:
		q := m.(*pb.IMGroupChangeMemberNotify)
		s.gc.invalidate(q.GetGroupId()) // before the members hear of the change
		n := frame(wire.NewHeader(pb.CmdGroupChangeMemberNotify, 0), q)
		for _, ids := range [][]uint32{q.CurUserIdList, q.ChgUserIdList} {
			for _, id := range ids {
				s.deliver(n, s.reg.userConns(id), 0)
			}
		}
	case pb.CmdSwitchP2pCmd:
		q := m.(*pb.IMP2PCmdMsg)
		n := frame(wire.NewHeader(pb.CmdSwitchP2pCmd, 0), q)
		s.deliver(n, s.reg.userConns(q.GetFromUserId()), 0)
		if q.GetToUserId() != q.GetFromUserId() {
			s.deliver(n, s.reg.userConns(q.GetToUserId()), 0)
		}
	case pb.CmdFileNotify:
		q := m.(*pb.IMFileNotify)
		s.deliver(frame(wire.NewHeader(pb.CmdFileNotify, 0), q), s.reg.userConns(q.GetToUserId()), 0)
	default:
		s.c.dropped.Add(1)
	}
}

// onLoginConfirmed registers with a login server (§5.1).
func (s *Service) onLoginConfirmed(l *link.Link) {
	ip1, ip2 := s.cfg.AdvertiseIP1, s.cfg.AdvertiseIP2
	if ip2 == "" {
		ip2 = ip1
	}
	port := s.run.Load().port
	maxc := uint32(s.maxConns.Load())
	_, conns := s.reg.counts()
	cur := uint32(conns)
	_ = l.Send(frame(wire.NewHeader(pb.CmdOtherMsgServInfo, 0), &pb.IMMsgServInfo{
		Ip1: &ip1, Ip2: &ip2, Port: &port, MaxConnCnt: &maxc, CurConnCnt: &cur, HostName: &s.hostname,
	}))
}

// onLoginFrame: login sends nothing but heartbeats, which the pool handles.
func (s *Service) onLoginFrame(l *link.Link, f []byte) {
	s.c.dropped.Add(1)
}

// onPushFrame logs push results (§4.5 step 5).
func (s *Service) onPushFrame(l *link.Link, f []byte) {
	h := wire.ParseHeader(f)
	if h.CommandID != pb.CmdOtherPushToUserRsp {
		s.c.dropped.Add(1)
		return
	}
	m, err := wire.DecodeBody(h.CommandID, f[wire.HeaderLen:])
	if err != nil {
		s.badBody("push", h.CommandID, err)
		return
	}
	s.log.Debug("push results", "results", len(m.(*pb.IMPushToUserRsp).GetPushResultList()))
}

// ackFrame encodes a message ack (IMMsgDataAck) under h by hand: the bytes
// proto.Marshal writes for its four required fields, in one allocation, on
// every message's path.
func ackFrame(h wire.Header, user, session, msgID uint32, st pb.SessionType) []byte {
	b := make([]byte, wire.HeaderLen, wire.HeaderLen+4+4*protowire.SizeVarint(math.MaxUint32)+protowire.SizeVarint(uint64(int64(st))))
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(user))
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(session))
	b = protowire.AppendTag(b, 3, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(msgID))
	b = protowire.AppendTag(b, 4, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(int64(st)))
	h.Length = uint32(len(b))
	h.Put(b)
	return b
}

// stripAttach returns a new frame under h whose body is raw's body (raw is a
// whole frame) without its attach_data fields, the rest byte for byte; nil
// when the body does not parse as protobuf fields.
func stripAttach(h wire.Header, raw []byte) []byte {
	if len(raw) < wire.HeaderLen {
		return nil
	}
	return wire.AppendMsgDataNoAttach(nil, h, raw[wire.HeaderLen:])
}
