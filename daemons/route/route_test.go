package route

import (
	"bytes"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"teamtalk/appliance/config"
	"teamtalk/daemons"
	"teamtalk/daemons/internal/servicetest"
	"teamtalk/wire"
	"teamtalk/wire/pb"
)

const waitLong = 5 * time.Second

// startRoute runs a route service on 127.0.0.1:0 and returns it and its address.
func startRoute(t *testing.T) (*Service, string) {
	t.Helper()
	cfg := config.Default()
	cfg.Route.Listen = "127.0.0.1:0"
	cfg.Link.Heartbeat = config.Duration(time.Second)
	cfg.Link.Timeout = config.Duration(10 * time.Second)
	d := daemons.Deps{Name: "route", Kind: config.Route, Config: cfg, Logger: slog.New(slog.DiscardHandler), Addrs: &daemons.AddressBook{}}
	svc, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	servicetest.Start(t, svc)
	addr, ok := d.Addrs.Lookup("route.listen")
	if !ok {
		t.Fatal("route did not publish its address")
	}
	return svc.(*Service), addr
}

// msgLink is a fake msg server's link to route.
type msgLink struct {
	t   *testing.T
	c   net.Conn
	dec *wire.Decoder
}

func dialLink(t *testing.T, addr string) *msgLink {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &msgLink{t: t, c: c, dec: wire.NewDecoder(wire.MaxServerFrame)}
}

func (l *msgLink) sendRaw(f []byte) {
	l.t.Helper()
	if _, err := l.c.Write(f); err != nil {
		l.t.Fatal(err)
	}
}

func (l *msgLink) send(cmd, seq uint16, m proto.Message) []byte {
	l.t.Helper()
	f, err := wire.Marshal(wire.NewHeader(cmd, seq), m)
	if err != nil {
		l.t.Fatal(err)
	}
	l.sendRaw(f)
	return f
}

// next returns the next frame that is not a heartbeat.
func (l *msgLink) next() []byte {
	l.t.Helper()
	_ = l.c.SetReadDeadline(time.Now().Add(waitLong))
	for {
		f, err := l.dec.Next()
		if err != nil {
			l.t.Fatal(err)
		}
		if f != nil {
			if wire.ParseHeader(f).CommandID == pb.CmdOtherHeartbeat {
				continue
			}
			return append([]byte(nil), f...)
		}
		if _, err := l.dec.Fill(l.c); err != nil {
			l.t.Fatalf("read: %v", err)
		}
	}
}

// expect reads the next frame and checks its command.
func (l *msgLink) expect(cmd uint16) []byte {
	l.t.Helper()
	f := l.next()
	if got := wire.ParseHeader(f).CommandID; got != cmd {
		l.t.Fatalf("got %s, want %s", pb.CommandName(got), pb.CommandName(cmd))
	}
	return f
}

func status(uid, st uint32, ct pb.ClientType) *pb.IMUserStatusUpdate {
	return &pb.IMUserStatusUpdate{UserStatus: proto.Uint32(st), UserId: proto.Uint32(uid), ClientType: ct.Enum()}
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// frameOf builds the whole frame our servers send for cmd and a body in hex.
func frameOf(t *testing.T, cmd uint16, body string) []byte {
	return wire.AppendFrame(nil, wire.NewHeader(cmd, 0), unhex(t, body))
}

// syncLinks makes sure route has processed everything sent so far on the links:
// a users-status round trip on each.
func syncLinks(links ...*msgLink) {
	for _, l := range links {
		l.send(pb.CmdBuddyListUsersStatusRequest, 7, &pb.IMUsersStatReq{UserId: proto.Uint32(0)})
		l.expect(pb.CmdBuddyListUsersStatusResponse)
	}
}

// TestPresenceVector replays port_8200.txt's presence exchange: the
// notifies route sends must be those bytes.
func TestPresenceVector(t *testing.T) {
	_, addr := startRoute(t)
	a, b := dialLink(t, addr), dialLink(t, addr)
	a.sendRaw(frameOf(t, pb.CmdOtherRoleSet, "0801"))
	b.sendRaw(frameOf(t, pb.CmdOtherRoleSet, "0801"))
	b.sendRaw(frameOf(t, pb.CmdOtherOnlineUserInfo, ""))
	syncLinks(a, b)

	steps := []struct {
		name string
		in   string   // 0x070a body from b
		out  []string // frames both links receive, "cmd:body"
	}{
		{"bob online on windows", "080110021801", []string{"070e:08021001", "0203:0a0408021001"}},
		{"alice online on windows", "080110011801", []string{"070e:08011001", "0203:0a0408011001"}},
		{"alice offline, forgotten", "080210011801", []string{"0203:0a0408011002"}},
		{"bob offline, forgotten", "080210021801", []string{"0203:0a0408021002"}},
		{"carol online", "080110031801", []string{"070e:08031001", "0203:0a0408031001"}},
		{"carol offline", "080210031801", []string{"0203:0a0408031002"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			b.sendRaw(frameOf(t, pb.CmdOtherUserStatusUpdate, st.in))
			for _, l := range []*msgLink{a, b} {
				for _, o := range st.out {
					var cmd uint16
					switch o[:4] {
					case "070e":
						cmd = pb.CmdOtherLoginStatusNotify
					case "0203":
						cmd = pb.CmdBuddyListStatusNotify
					}
					want := frameOf(t, cmd, o[5:])
					if got := l.next(); !bytes.Equal(got, want) {
						t.Fatalf("got % x\nwant % x", got, want)
					}
				}
			}
		})
	}
	syncLinks(a, b) // nothing else was sent in between
}

func TestPresenceRules(t *testing.T) {
	_, addr := startRoute(t)
	a, b := dialLink(t, addr), dialLink(t, addr)
	syncLinks(a, b)
	win, ios := pb.ClientType_CLIENT_TYPE_WINDOWS, pb.ClientType_CLIENT_TYPE_IOS

	// A phone alone: no PC, so no notify at all.
	a.send(pb.CmdOtherUserStatusUpdate, 0, status(5, statusOnline, ios))
	syncLinks(a, b)
	// A PC joins on b: login status 1 and stat online to every link.
	b.send(pb.CmdOtherUserStatusUpdate, 0, status(5, statusOnline, win))
	for _, l := range []*msgLink{a, b} {
		l.expect(pb.CmdOtherLoginStatusNotify)
		l.expect(pb.CmdBuddyListStatusNotify)
	}
	// A second PC on a: login status again (some PC online) and stat online.
	a.send(pb.CmdOtherUserStatusUpdate, 0, status(5, statusOnline, win))
	for _, l := range []*msgLink{a, b} {
		l.expect(pb.CmdOtherLoginStatusNotify)
		l.expect(pb.CmdBuddyListStatusNotify)
	}
	// One PC leaves while another remains: nothing.
	b.send(pb.CmdOtherUserStatusUpdate, 0, status(5, statusOffline, win))
	syncLinks(a, b)
	// An offline for a connection b never reported is ignored.
	b.send(pb.CmdOtherUserStatusUpdate, 0, status(5, statusOffline, win))
	syncLinks(a, b)
	// The last PC leaves; the phone remains: login status 0, stat offline.
	a.send(pb.CmdOtherUserStatusUpdate, 0, status(5, statusOffline, win))
	for _, l := range []*msgLink{a, b} {
		var ls pb.IMServerPCLoginStatusNotify
		if err := wire.Unmarshal(l.expect(pb.CmdOtherLoginStatusNotify)[16:], &ls); err != nil || ls.GetLoginStatus() != 0 || ls.GetUserId() != 5 {
			t.Fatalf("login status = %v, %v", &ls, err)
		}
		var sn pb.IMUserStatNotify
		if err := wire.Unmarshal(l.expect(pb.CmdBuddyListStatusNotify)[16:], &sn); err != nil || sn.GetUserStat().GetStatus() != pb.UserStatType_USER_STATUS_OFFLINE {
			t.Fatalf("stat notify = %v, %v", &sn, err)
		}
	}
	syncLinks(a, b)
}

// TestLinkDropCorrectsPresence: the reference's stale-presence bug. When a
// msg server's link drops, its users go offline and the others hear it.
func TestLinkDropCorrectsPresence(t *testing.T) {
	svc, addr := startRoute(t)
	a, b := dialLink(t, addr), dialLink(t, addr)
	// b reports user 2 on Windows and user 4 on Mac via its full list; a
	// holds user 2's phone and user 3's PC.
	b.send(pb.CmdOtherOnlineUserInfo, 0, &pb.IMOnlineUserInfo{UserStatList: []*pb.ServerUserStat{
		{UserId: proto.Uint32(2), Status: pb.UserStatType_USER_STATUS_ONLINE.Enum(), ClientType: pb.ClientType_CLIENT_TYPE_WINDOWS.Enum()},
		{UserId: proto.Uint32(4), Status: pb.UserStatType_USER_STATUS_ONLINE.Enum(), ClientType: pb.ClientType_CLIENT_TYPE_MAC.Enum()},
	}})
	syncLinks(b)
	a.send(pb.CmdOtherUserStatusUpdate, 0, status(2, statusOnline, pb.ClientType_CLIENT_TYPE_IOS))
	a.expect(pb.CmdOtherLoginStatusNotify) // user 2 has a PC on b
	b.expect(pb.CmdOtherLoginStatusNotify)
	a.send(pb.CmdOtherUserStatusUpdate, 0, status(3, statusOnline, pb.ClientType_CLIENT_TYPE_WINDOWS))
	for _, l := range []*msgLink{a, b} {
		l.expect(pb.CmdOtherLoginStatusNotify)
		l.expect(pb.CmdBuddyListStatusNotify)
	}
	if n := len(svc.Online()); n != 4 {
		t.Fatalf("online entries = %d, want 4: %+v", n, svc.Online())
	}

	_ = b.c.Close()
	// User 2 keeps its phone: login status 0 + offline. User 4 is gone: offline.
	want := [][]byte{
		frameOf(t, pb.CmdOtherLoginStatusNotify, "08021000"),
		frameOf(t, pb.CmdBuddyListStatusNotify, "0a0408021002"),
		frameOf(t, pb.CmdBuddyListStatusNotify, "0a0408041002"),
	}
	for _, w := range want {
		if got := a.next(); !bytes.Equal(got, w) {
			t.Fatalf("got % x\nwant % x", got, w)
		}
	}
	a.send(pb.CmdBuddyListUsersStatusRequest, 9, &pb.IMUsersStatReq{UserId: proto.Uint32(1), UserIdList: []uint32{2, 3, 4}})
	var rsp pb.IMUsersStatRsp
	if err := wire.Unmarshal(a.expect(pb.CmdBuddyListUsersStatusResponse)[16:], &rsp); err != nil {
		t.Fatal(err)
	}
	got := map[uint32]pb.UserStatType{}
	for _, s := range rsp.GetUserStatList() {
		got[s.GetUserId()] = s.GetStatus()
	}
	if got[2] != pb.UserStatType_USER_STATUS_OFFLINE || got[3] != pb.UserStatType_USER_STATUS_ONLINE || got[4] != pb.UserStatType_USER_STATUS_OFFLINE {
		t.Fatalf("statuses after drop = %v", got)
	}
	if st := svc.Status(); st.Counters["links"] != 1 || st.Counters["online_users"] != 2 {
		t.Fatalf("counters = %v", st.Counters)
	}
}

func TestUsersStatEchoesSeqAndAttach(t *testing.T) {
	_, addr := startRoute(t)
	a := dialLink(t, addr)
	a.send(pb.CmdOtherUserStatusUpdate, 0, status(1, statusOnline, pb.ClientType_CLIENT_TYPE_MAC))
	a.expect(pb.CmdOtherLoginStatusNotify)
	a.expect(pb.CmdBuddyListStatusNotify)
	attach := unhex(t, "00000001000000110000000000000000")
	hdr := wire.Header{Version: 6, ServiceID: 2, CommandID: pb.CmdBuddyListUsersStatusRequest, Seq: 0xff02, Reserved: 0x30}
	f, err := wire.Marshal(hdr, &pb.IMUsersStatReq{UserId: proto.Uint32(9), UserIdList: []uint32{1, 2}, AttachData: attach})
	if err != nil {
		t.Fatal(err)
	}
	a.sendRaw(f)
	got := a.expect(pb.CmdBuddyListUsersStatusResponse)
	h := wire.ParseHeader(got)
	if h.Seq != 0xff02 || h.ServiceID != 2 || h.Version != 1 {
		t.Fatalf("reply header = %+v", h)
	}
	var rsp pb.IMUsersStatRsp
	if err := wire.Unmarshal(got[16:], &rsp); err != nil {
		t.Fatal(err)
	}
	if rsp.GetUserId() != 9 || !bytes.Equal(rsp.GetAttachData(), attach) || len(rsp.GetUserStatList()) != 2 ||
		rsp.GetUserStatList()[0].GetStatus() != pb.UserStatType_USER_STATUS_ONLINE ||
		rsp.GetUserStatList()[1].GetStatus() != pb.UserStatType_USER_STATUS_OFFLINE {
		t.Fatalf("reply = %v", &rsp)
	}
}

// TestRelay checks where each relayed command goes. Links: a holds user 1,
// b holds user 2, c holds user 3; every case is sent by a. After each case a
// "marker" message to user 3 is sent: c must see exactly the case's frame
// (if it is for c) and then the marker, b the same.
func TestRelay(t *testing.T) {
	_, addr := startRoute(t)
	a, b, c := dialLink(t, addr), dialLink(t, addr), dialLink(t, addr)
	for i, l := range []*msgLink{a, b, c} {
		l.send(pb.CmdOtherUserStatusUpdate, 0, status(uint32(i+1), statusOnline, pb.ClientType_CLIENT_TYPE_ANDROID))
		syncLinks(l)
	}
	single := pb.MsgType_MSG_TYPE_SINGLE_TEXT.Enum()
	tests := []struct {
		name   string
		cmd    uint16
		msg    proto.Message
		toB    bool
		toC    bool
		sender bool // the sender gets it back
	}{
		{"message 1→2", pb.CmdMsgData, &pb.IMMsgData{FromUserId: proto.Uint32(1), ToSessionId: proto.Uint32(2), MsgId: proto.Uint32(5), CreateTime: proto.Uint32(1), MsgType: single, MsgData: []byte("hi"), AttachData: []byte{0, 0, 0, 1}}, true, false, false},
		{"message 3→1 reaches the sender's other server", pb.CmdMsgData, &pb.IMMsgData{FromUserId: proto.Uint32(2), ToSessionId: proto.Uint32(1), MsgId: proto.Uint32(6), CreateTime: proto.Uint32(1), MsgType: single, MsgData: []byte("x")}, true, false, false},
		{"message to nobody online", pb.CmdMsgData, &pb.IMMsgData{FromUserId: proto.Uint32(1), ToSessionId: proto.Uint32(99), MsgId: proto.Uint32(1), CreateTime: proto.Uint32(1), MsgType: single, MsgData: []byte("x")}, false, false, false},
		{"group message", pb.CmdMsgData, &pb.IMMsgData{FromUserId: proto.Uint32(1), ToSessionId: proto.Uint32(1000), MsgId: proto.Uint32(1), CreateTime: proto.Uint32(1), MsgType: pb.MsgType_MSG_TYPE_GROUP_TEXT.Enum(), MsgData: []byte("g")}, true, true, false},
		{"p2p 1→2", pb.CmdSwitchP2pCmd, &pb.IMP2PCmdMsg{FromUserId: proto.Uint32(1), ToUserId: proto.Uint32(2), CmdMsgData: proto.String("typing")}, true, false, false},
		{"read notify of user 3", pb.CmdMsgReadNotify, &pb.IMMsgDataReadNotify{UserId: proto.Uint32(3), SessionId: proto.Uint32(1), MsgId: proto.Uint32(1), SessionType: pb.SessionType_SESSION_TYPE_SINGLE.Enum()}, false, true, false},
		{"kick user 2", pb.CmdOtherServerKickUser, &pb.IMServerKickUser{UserId: proto.Uint32(2), ClientType: pb.ClientType_CLIENT_TYPE_WINDOWS.Enum(), Reason: proto.Uint32(1)}, true, false, false},
		{"group change 2 removed, 3 member", pb.CmdGroupChangeMemberNotify, &pb.IMGroupChangeMemberNotify{UserId: proto.Uint32(1), ChangeType: pb.GroupModifyType_GROUP_MODIFY_TYPE_DEL.Enum(), GroupId: proto.Uint32(7), CurUserIdList: []uint32{1, 3}, ChgUserIdList: []uint32{2}}, true, true, false},
		{"file notify to 3", pb.CmdFileNotify, &pb.IMFileNotify{FromUserId: proto.Uint32(1), ToUserId: proto.Uint32(3), FileName: proto.String("f"), FileSize: proto.Uint32(1), TaskId: proto.String("t"), TransMode: pb.TransferFileType_FILE_TYPE_ONLINE.Enum(), OfflineReady: proto.Uint32(0)}, false, true, false},
		{"remove session of user 2", pb.CmdBuddyListRemoveSessionNotify, &pb.IMRemoveSessionNotify{UserId: proto.Uint32(2), SessionType: pb.SessionType_SESSION_TYPE_SINGLE.Enum(), SessionId: proto.Uint32(1)}, true, false, false},
		{"sign info to every link", pb.CmdBuddyListSignInfoChangedNotify, &pb.IMSignInfoChangedNotify{ChangedUserId: proto.Uint32(1), SignInfo: proto.String("hello")}, true, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sent := a.send(tc.cmd, 4242, tc.msg)
			marker := a.send(pb.CmdMsgReadNotify, 1, &pb.IMMsgDataReadNotify{UserId: proto.Uint32(3), SessionId: proto.Uint32(2), MsgId: proto.Uint32(9), SessionType: pb.SessionType_SESSION_TYPE_SINGLE.Enum()})
			bMarker := a.send(pb.CmdMsgReadNotify, 2, &pb.IMMsgDataReadNotify{UserId: proto.Uint32(2), SessionId: proto.Uint32(2), MsgId: proto.Uint32(9), SessionType: pb.SessionType_SESSION_TYPE_SINGLE.Enum()})
			check := func(l *msgLink, want bool, m []byte) {
				t.Helper()
				if want {
					if got := l.next(); !bytes.Equal(got, sent) {
						t.Fatalf("relayed frame differs:\n got % x\nwant % x", got, sent)
					}
				}
				if got := l.next(); !bytes.Equal(got, m) {
					t.Fatalf("expected the marker, got %s", pb.CommandName(wire.ParseHeader(got).CommandID))
				}
			}
			check(b, tc.toB, bMarker)
			check(c, tc.toC, marker)
			if tc.sender {
				if got := a.next(); !bytes.Equal(got, sent) {
					t.Fatalf("sender did not get its frame back")
				}
			}
		})
	}
	syncLinks(a)
}

func TestBadFramesKeepTheLink(t *testing.T) {
	svc, addr := startRoute(t)
	a := dialLink(t, addr)
	// A status update lacking its required client type, and an unknown command.
	a.sendRaw(frameOf(t, pb.CmdOtherUserStatusUpdate, "08011001"))
	a.sendRaw(frameOf(t, 0x0103, ""))
	syncLinks(a)
	st := svc.Status()
	if st.Counters["bad_bodies"] != 1 || st.Counters["unknown_commands"] != 1 || st.Counters["online_users"] != 0 {
		t.Fatalf("counters = %v", st.Counters)
	}
	if len(svc.Sockets()) < 2 || len(svc.Timers()) != 1 {
		t.Fatalf("sockets %v timers %v", svc.Sockets(), svc.Timers())
	}
}

// TestFramingErrorCloses: a length under 16 closes the link.
func TestFramingErrorCloses(t *testing.T) {
	_, addr := startRoute(t)
	a := dialLink(t, addr)
	a.sendRaw([]byte{0, 0, 0, 4, 0, 1, 0, 0, 0, 7, 7, 1, 0, 0, 0, 0})
	_ = a.c.SetReadDeadline(time.Now().Add(waitLong))
	buf := make([]byte, 64)
	for {
		_, err := a.c.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("link not closed")
			}
			return
		}
	}
}

// TestGroupMessageSkipsEmptyLinks: a group message goes once to every other
// link that holds a user, and not to a link without users (an httpmsg link,
// an empty msg server), including one whose last user left.
func TestGroupMessageSkipsEmptyLinks(t *testing.T) {
	_, addr := startRoute(t)
	a, b, d := dialLink(t, addr), dialLink(t, addr), dialLink(t, addr)
	a.send(pb.CmdOtherUserStatusUpdate, 0, status(1, statusOnline, pb.ClientType_CLIENT_TYPE_ANDROID))
	b.send(pb.CmdOtherUserStatusUpdate, 0, status(2, statusOnline, pb.ClientType_CLIENT_TYPE_ANDROID))
	syncLinks(a, b, d)
	group := func(id uint32) *pb.IMMsgData {
		return &pb.IMMsgData{FromUserId: proto.Uint32(1), ToSessionId: proto.Uint32(1000), MsgId: proto.Uint32(id), CreateTime: proto.Uint32(1),
			MsgType: pb.MsgType_MSG_TYPE_GROUP_TEXT.Enum(), MsgData: []byte("g")}
	}
	tests := []struct {
		name  string
		setup func()
		toD   bool
	}{
		{"empty link skipped", func() {}, false},
		{"link with a user reached", func() {
			d.send(pb.CmdOtherUserStatusUpdate, 0, status(4, statusOnline, pb.ClientType_CLIENT_TYPE_ANDROID))
		}, true},
		{"link whose last user left skipped", func() {
			d.send(pb.CmdOtherUserStatusUpdate, 0, status(4, statusOffline, pb.ClientType_CLIENT_TYPE_ANDROID))
		}, false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup()
			syncLinks(d)
			sent := a.send(pb.CmdMsgData, 0, group(uint32(i+1)))
			marker := a.send(pb.CmdBuddyListSignInfoChangedNotify, 0, &pb.IMSignInfoChangedNotify{ChangedUserId: proto.Uint32(1), SignInfo: proto.String(tc.name)})
			if got := b.next(); !bytes.Equal(got, sent) {
				t.Fatalf("b: got %s, want the group message", pb.CommandName(wire.ParseHeader(got).CommandID))
			}
			if tc.toD {
				if got := d.next(); !bytes.Equal(got, sent) {
					t.Fatalf("d: got %s, want the group message", pb.CommandName(wire.ParseHeader(got).CommandID))
				}
			}
			for _, l := range []*msgLink{b, d, a} {
				if got := l.next(); !bytes.Equal(got, marker) {
					t.Fatalf("got %s, want the marker", pb.CommandName(wire.ParseHeader(got).CommandID))
				}
			}
		})
	}
}
