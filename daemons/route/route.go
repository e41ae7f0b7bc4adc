// Package route is route_server: it accepts the links of msg (and httpmsg)
// servers, keeps which user is connected through which link with how many
// connections of each client type, announces PC presence (PROTOCOL.md §4.9),
// answers users-status queries and relays messages and notifies between msg
// servers (§5.3, §5.5).
//
// Fixes over the reference (§10.2):
//   - Counts are kept per link, so a dropped link (a msg server crash)
//     removes exactly its users, and the offline notifies that follow are sent.
//   - Relayed frames go only to the links, other than the sender, that hold a
//     user the frame is for (found by decoding the body): the sender and
//     receiver of a one-to-one message (multi-device sync), the reader of a read
//     notify, the kicked user, the members (current and changed) of a group
//     change, the receiver of a file notify, the user of a remove-session
//     notify, both ends of a P2P command. 0x0215 goes to every link, the
//     sender included, as in the reference.
//   - Group messages go once to every other link that holds at least one
//     online user (never once per member, and not to httpmsg links or empty
//     msg servers). Route does not learn group membership on purpose: it is
//     in the store, can change through paths route never sees (the admin API
//     writes the store directly), and each msg server asks dbproxy for the
//     members anyway before it delivers (PROTOCOL.md §4.4 step 6), so a
//     stale membership cache in route could only lose or leak messages. The
//     cost of the extra copies is one frame per msg server per message.
//
// Frames are relayed unchanged: the same header and body bytes.
package route

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"teamtalk/appliance/ctlapi"
	"teamtalk/daemons"
	"teamtalk/daemons/internal/link"
	"teamtalk/daemons/internal/ratelog"
	"teamtalk/netloop"
	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// Service is a running route server. Create it with New.
type Service struct {
	d     daemons.Deps
	log   *slog.Logger
	cfg   link.Config
	loops int
	t     *table

	net    link.Served // its Inbound tracks the open msg server links
	listen atomic.Pointer[string]

	forwarded, dropped, badBodies, unknown, notices atomic.Uint64
	badLog                                          ratelog.Gate
}

var _ daemons.OnlineLister = (*Service)(nil)

// New builds the route service from its dependencies; it starts nothing.
func New(d daemons.Deps) (daemons.Service, error) {
	if d.Config == nil {
		return nil, fmt.Errorf("route: %s: no config", d.Name)
	}
	lg := d.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	return &Service{
		d: d, log: lg, cfg: link.ConfigFrom(d.Config), loops: d.Config.Netloop.Loops,
		t: newTable(),
	}, nil
}

// Name returns the instance name.
func (s *Service) Name() string { return s.d.Name }

// Run listens on [route].listen, serves msg server links until ctx is done,
// then closes them and returns.
func (s *Service) Run(ctx context.Context, ready func()) error {
	g, in, err := s.net.Start("route", netloop.Options{Owner: s.d.Name, Loops: s.loops, Logger: s.log, Tick: s.cfg.Tick()}, s.cfg)
	if err != nil {
		return err
	}
	defer s.net.Stop()
	addr := s.d.ListenAddr("listen", s.d.Config.Route.Listen)
	ln, err := g.Listen(addr, handler{s}, in.ListenOptions())
	if err != nil {
		return fmt.Errorf("route: listen %s: %w", addr, err)
	}
	bound := ln.Addr().String()
	s.listen.Store(&bound)
	s.d.Publish("listen", bound)
	s.log.Info("route: listening", "addr", bound)
	ready()
	<-ctx.Done()
	return nil
}

// handler is the netloop Handler of msg server links.
type handler struct{ s *Service }

func (h handler) OnOpen(c *netloop.Conn) {
	s := h.s
	s.net.Opened(c)
	s.log.Info("route: msg server linked", "conn", c.ID(), "remote", remoteOf(c))
}

func (h handler) OnClose(c *netloop.Conn, err error) {
	s := h.s
	s.net.Closed(c.ID())
	ns := s.t.dropLink(c.ID())
	s.log.Info("route: msg server link closed", "conn", c.ID(), "err", err, "users_offline", len(ns))
	for _, n := range ns {
		s.announce(n)
	}
}

func (h handler) OnFrame(c *netloop.Conn, frame []byte) {
	s := h.s
	hdr := wire.ParseHeader(frame)
	cmd := hdr.CommandID
	switch cmd {
	case pb.CmdOtherHeartbeat:
		return
	case pb.CmdOtherOnlineUserInfo, pb.CmdOtherUserStatusUpdate, pb.CmdOtherRoleSet, pb.CmdBuddyListUsersStatusRequest,
		pb.CmdMsgData, pb.CmdSwitchP2pCmd, pb.CmdMsgReadNotify, pb.CmdOtherServerKickUser, pb.CmdGroupChangeMemberNotify, pb.CmdFileNotify, pb.CmdBuddyListRemoveSessionNotify,
		pb.CmdBuddyListSignInfoChangedNotify:
	default:
		s.unknown.Add(1)
		s.bad(c, cmd, "unexpected command", nil)
		return
	}
	if cmd == pb.CmdMsgData {
		// Every chat message passes here: its users are read straight
		// from the fields, without decoding the body into a message.
		if f, ok := wire.ScanMsgData(frame[wire.HeaderLen:]); ok {
			if isGroupMsg(f.Type) {
				s.relayTo(c.ID(), frame, nil, true)
			} else {
				uids := [2]uint32{f.To, f.From}
				s.relayTo(c.ID(), frame, uids[:], false)
			}
			return
		}
	}
	msg, err := wire.DecodeBody(cmd, frame[wire.HeaderLen:])
	if err != nil {
		s.badBodies.Add(1)
		s.bad(c, cmd, "bad body", err)
		return
	}
	switch m := msg.(type) {
	case *pb.IMOnlineUserInfo:
		s.t.load(c.ID(), m.GetUserStatList())
	case *pb.IMUserStatusUpdate:
		if n := s.t.update(c.ID(), m.GetUserId(), m.GetUserStatus(), uint32(m.GetClientType())); !n.empty() {
			s.announce(n)
		}
	case *pb.IMRoleSet:
		// The reference stores the role and never uses it; neither do we.
	case *pb.IMUsersStatReq:
		s.usersStat(c, hdr, m)
	case *pb.IMSignInfoChangedNotify:
		for _, id := range s.linkIDs() {
			if s.net.Group().Write(id, frame) == nil {
				s.forwarded.Add(1)
			}
		}
	default:
		s.relay(c.ID(), frame, m)
	}
}

// bad logs a dropped frame, at most once a second.
func (s *Service) bad(c *netloop.Conn, cmd uint16, what string, err error) {
	if !s.badLog.Allow(time.Second) {
		return
	}
	s.log.Warn("route: frame dropped", "why", what, "cmd", pb.CommandName(cmd), "conn", c.ID(), "err", err)
}

// targets returns the users a relayed frame is for, or all=true when it must
// go to every other link that holds a user (group messages).
func targets(m proto.Message) (uids []uint32, all bool) {
	switch m := m.(type) {
	case *pb.IMMsgData:
		if isGroupMsg(m.GetMsgType()) {
			return nil, true
		}
		return []uint32{m.GetToSessionId(), m.GetFromUserId()}, false
	case *pb.IMP2PCmdMsg:
		return []uint32{m.GetToUserId(), m.GetFromUserId()}, false
	case *pb.IMMsgDataReadNotify:
		return []uint32{m.GetUserId()}, false
	case *pb.IMServerKickUser:
		return []uint32{m.GetUserId()}, false
	case *pb.IMGroupChangeMemberNotify:
		return append(slices.Clone(m.GetCurUserIdList()), m.GetChgUserIdList()...), false
	case *pb.IMFileNotify:
		return []uint32{m.GetToUserId()}, false
	case *pb.IMRemoveSessionNotify:
		return []uint32{m.GetUserId()}, false
	}
	return nil, false
}

// relay forwards frame unchanged to the links other than from that hold a
// user it is for.
func (s *Service) relay(from netloop.ConnID, frame []byte, m proto.Message) {
	uids, all := targets(m)
	s.relayTo(from, frame, uids, all)
}

// relayTo forwards frame unchanged to the links other than from that hold
// one of uids, or (all) every populated link.
func (s *Service) relayTo(from netloop.ConnID, frame []byte, uids []uint32, all bool) {
	var dst []netloop.ConnID
	if all {
		dst = s.t.populated(nil)
	} else {
		for _, uid := range uids {
			dst = s.t.holders(dst, uid)
		}
	}
	g := s.net.Group()
	sent := false
	for _, id := range dst {
		if id == from {
			continue
		}
		if g.Write(id, frame) == nil {
			s.forwarded.Add(1)
			sent = true
		}
	}
	if !sent {
		s.dropped.Add(1)
	}
}

// usersStat answers IMUsersStatReq on the same link with the request's seq
// and attach data.
func (s *Service) usersStat(c *netloop.Conn, hdr wire.Header, req *pb.IMUsersStatReq) {
	rsp := &pb.IMUsersStatRsp{UserId: proto.Uint32(req.GetUserId()), AttachData: req.AttachData}
	for _, uid := range req.GetUserIdList() {
		st := pb.UserStatType_USER_STATUS_OFFLINE
		if s.t.pcOnline(uid) {
			st = pb.UserStatType_USER_STATUS_ONLINE
		}
		rsp.UserStatList = append(rsp.UserStatList, &pb.UserStat{UserId: proto.Uint32(uid), Status: st.Enum()})
	}
	f, err := wire.Marshal(hdr.Reply(pb.CmdBuddyListUsersStatusResponse), rsp)
	if err != nil {
		s.log.Error("route: encode users-status reply", "err", err)
		return
	}
	_ = c.Write(f)
}

// announce sends a presence notice to every msg link.
func (s *Service) announce(n notice) {
	var frames [][]byte
	if n.loginStatus != nil {
		f, err := wire.Marshal(wire.NewHeader(pb.CmdOtherLoginStatusNotify, 0), &pb.IMServerPCLoginStatusNotify{
			UserId: proto.Uint32(n.uid), LoginStatus: proto.Uint32(*n.loginStatus)})
		if err == nil {
			frames = append(frames, f)
		}
	}
	if n.stat != nil {
		f, err := wire.Marshal(wire.NewHeader(pb.CmdBuddyListStatusNotify, 0), &pb.IMUserStatNotify{
			UserStat: &pb.UserStat{UserId: proto.Uint32(n.uid), Status: pb.UserStatType(*n.stat).Enum()}})
		if err == nil {
			frames = append(frames, f)
		}
	}
	g := s.net.Group()
	ids := s.linkIDs()
	for _, f := range frames {
		for _, id := range ids {
			_ = g.Write(id, f)
		}
		s.notices.Add(1)
	}
}

// linkIDs returns the open msg links in id order.
func (s *Service) linkIDs() []netloop.ConnID {
	ids := s.net.IDs()
	slices.Sort(ids)
	return ids
}

// remoteOf returns c's remote address ("" when unknown).
func remoteOf(c *netloop.Conn) string {
	if a := c.RemoteAddr(); a != nil {
		return a.String()
	}
	return ""
}

// Online lists every online user: one entry per (user, msg server link),
// with one Client per connection.
func (s *Service) Online() []ctlapi.OnlineUser {
	remotes := map[netloop.ConnID]string{}
	if g := s.net.Group(); g != nil {
		for _, id := range s.net.IDs() {
			if c := g.Conn(id); c != nil {
				remotes[id] = remoteOf(c)
			}
		}
	}
	var out []ctlapi.OnlineUser
	for _, e := range s.t.snapshot() {
		ou := ctlapi.OnlineUser{UserID: e.uid, MsgServer: remotes[e.link]}
		cts := make([]uint32, 0, len(e.counts))
		for ct := range e.counts {
			cts = append(cts, ct)
		}
		slices.Sort(cts)
		for _, ct := range cts {
			for range e.counts[ct] {
				ou.Clients = append(ou.Clients, ctlapi.Client{Type: ct, Status: statusOnline})
			}
		}
		out = append(out, ou)
	}
	return out
}

// Sockets lists the listener and the msg server links.
func (s *Service) Sockets() []ctlapi.Socket {
	return s.net.Sockets(s.d.Name, nil)
}

// Timers lists the heartbeat sweep.
func (s *Service) Timers() []ctlapi.Timer {
	return s.net.Timers(s.d.Name)
}

// Status reports the listener, sockets, timers and counters.
func (s *Service) Status() ctlapi.ServiceStatus {
	st := ctlapi.ServiceStatus{Name: s.d.Name, Kind: s.d.Kind}
	if l := s.listen.Load(); l != nil {
		st.Listen = map[string]string{"listen": *l}
	}
	st.Sockets = s.Sockets()
	st.Timers = s.Timers()
	st.Counters = map[string]uint64{
		"links":              uint64(s.net.Len()),
		ctlapi.CounterOnline: uint64(max(s.t.users.Load(), 0)),
		"frames_forwarded":   s.forwarded.Load(),
		"frames_dropped":     s.dropped.Load(),
		"bad_bodies":         s.badBodies.Load(),
		"unknown_commands":   s.unknown.Load(),
		"presence_notices":   s.notices.Load(),
	}
	s.net.AddTraffic(st.Counters)
	return st
}

func isGroupMsg(t pb.MsgType) bool {
	return t == pb.MsgType_MSG_TYPE_GROUP_TEXT || t == pb.MsgType_MSG_TYPE_GROUP_AUDIO
}
