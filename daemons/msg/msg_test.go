package msg

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"net"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"teamtalk/appliance/config"
	"teamtalk/daemons"
	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// env is one msg service with fake db, route and login peers.
type env struct {
	svc              *Service
	addr             string
	db, route, login *fakePeer
}

func startEnv(t *testing.T, tweak func(c *config.Config)) *env {
	t.Helper()
	e := &env{db: fakeDB(t), route: fakeRoute(t), login: newFakePeer(t, nil)}
	cfg := config.Default()
	cfg.Netloop.Loops = 2
	cfg.Link.ReconnectMin = config.Duration(50 * time.Millisecond)
	cfg.Link.ReconnectMax = config.Duration(200 * time.Millisecond)
	cfg.Msg.Listen = "127.0.0.1:0"
	cfg.Msg.DBProxy = []string{e.db.addr()}
	cfg.Msg.Route = []string{e.route.addr()}
	cfg.Msg.Login = []string{e.login.addr()}
	cfg.Msg.File = nil
	cfg.Msg.Push = ""
	if tweak != nil {
		tweak(cfg)
	}
	s, err := New(daemons.Deps{
		Name: "msg", Kind: config.Msg, Config: cfg,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Addrs:  &daemons.AddressBook{}, Fail: func(err error) { t.Errorf("service failed: %v", err) },
	})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = s.(*Service)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- e.svc.Run(ctx, func() { close(ready) }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready within 10s")
	}
	e.addr = e.svc.Status().Listen["listen"]
	return e
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimSpace(p)))
	return len(p), nil
}

func (e *env) counter(name string) uint64 { return e.svc.Status().Counters[name] }

// waitCounter waits (generously) until a counter reaches at least n.
func (e *env) waitCounter(t *testing.T, name string, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.counter(name) < n {
		if time.Now().After(deadline) {
			t.Fatalf("counter %s = %d, want >= %d", name, e.counter(name), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRegistersWithPeers(t *testing.T) {
	e := startEnv(t, nil)
	info := e.login.waitFor(pb.CmdOtherMsgServInfo, nil).m.(*pb.IMMsgServInfo)
	_, port, _ := splitPort(e.addr)
	if info.GetIp1() != "127.0.0.1" || info.GetIp2() != "127.0.0.1" || info.GetPort() != port ||
		info.GetMaxConnCnt() != 100000 || info.GetCurConnCnt() != 0 {
		t.Fatalf("IMMsgServInfo = %v (listen %s)", info, e.addr)
	}
	if rs := e.route.waitFor(pb.CmdOtherRoleSet, nil).m.(*pb.IMRoleSet); rs.GetMaster() != 1 {
		t.Fatalf("IMRoleSet = %v", rs)
	}
	e.route.waitFor(pb.CmdOtherOnlineUserInfo, nil)
}

func splitPort(addr string) (string, uint32, error) {
	i := bytes.LastIndexByte([]byte(addr), ':')
	var p uint32
	for _, c := range addr[i+1:] {
		p = p*10 + uint32(c-'0')
	}
	return addr[:i], p, nil
}

func TestLogin(t *testing.T) {
	e := startEnv(t, nil)
	tests := []struct {
		name     string
		user, pw string
		wantCode pb.ResultType
		wantText string
		wantID   uint32
	}{
		{"good password", "alice", "pw", pb.ResultType_REFUSE_REASON_NONE, "成功", 1},
		{"bad password", "alice", "nope", pb.ResultType_REFUSE_REASON_DB_VALIDATE_FAILED, "用户名/密码错误", 0},
		{"unknown user", "mallory", "pw", pb.ResultType_REFUSE_REASON_DB_VALIDATE_FAILED, "用户名/密码错误", 0},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dialClient(t, e.addr)
			seq := uint16(0x4000 + i)
			res := c.login(tc.user, tc.pw, pb.ClientType_CLIENT_TYPE_WINDOWS, seq)
			if res.GetResultCode() != tc.wantCode || res.GetResultString() != tc.wantText {
				t.Fatalf("result %v %q, want %v %q", res.GetResultCode(), res.GetResultString(), tc.wantCode, tc.wantText)
			}
			if d := time.Since(time.Unix(int64(res.GetServerTime()), 0)); d < -time.Minute || d > time.Minute {
				t.Fatalf("server_time %d is off", res.GetServerTime())
			}
			if tc.wantCode != 0 {
				c.expectClosed()
				return
			}
			if res.GetUserInfo().GetUserId() != tc.wantID || res.GetOnlineStatus() != pb.UserStatType_USER_STATUS_ONLINE {
				t.Fatalf("reply %v", res)
			}
			cnt := e.login.waitFor(pb.CmdOtherUserCntUpdate, nil).m.(*pb.IMUserCntUpdate)
			if cnt.GetUserAction() != 1 || cnt.GetUserId() != tc.wantID {
				t.Fatalf("IMUserCntUpdate %v", cnt)
			}
			up := e.route.waitFor(pb.CmdOtherUserStatusUpdate, nil).m.(*pb.IMUserStatusUpdate)
			if up.GetUserStatus() != 1 || up.GetUserId() != tc.wantID || up.GetClientType() != pb.ClientType_CLIENT_TYPE_WINDOWS {
				t.Fatalf("IMUserStatusUpdate %v", up)
			}
			c.c.Close()
			e.login.waitFor(pb.CmdOtherUserCntUpdate, func(m proto.Message) bool { return m.(*pb.IMUserCntUpdate).GetUserAction() == 2 })
			e.route.waitFor(pb.CmdOtherUserStatusUpdate, func(m proto.Message) bool { return m.(*pb.IMUserStatusUpdate).GetUserStatus() == 2 })
		})
	}
}

func TestCommandBeforeLoginCloses(t *testing.T) {
	e := startEnv(t, nil)
	c := dialClient(t, e.addr)
	c.send(pb.CmdMsgTimeRequest, 1, &pb.IMClientTimeReq{})
	c.expectClosed()
	if e.counter("unauthenticated") < 1 {
		t.Fatal("unauthenticated counter not raised")
	}
}

func TestHeartbeatEcho(t *testing.T) {
	e := startEnv(t, nil)
	odd := []byte{0, 0, 0, 16, 0, 6, 0, 3, 0, 7, 7, 1, 0xab, 0xcd, 0, 0x30}
	tests := []struct {
		name  string
		login bool
	}{
		{"before login", false},
		{"after login", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dialClient(t, e.addr)
			if tc.login {
				c.login("bob", "pw", pb.ClientType_CLIENT_TYPE_ANDROID, 9)
			}
			if _, err := c.c.Write(odd); err != nil {
				t.Fatal(err)
			}
			g := c.expect(pb.CmdOtherHeartbeat)
			if !bytes.Equal(g.raw, odd) {
				t.Fatalf("echo % x, want % x", g.raw, odd)
			}
		})
	}
}

func sendText(c *tclient, seq uint16, from, to uint32, typ pb.MsgType, text string) {
	c.send(pb.CmdMsgData, seq, &pb.IMMsgData{
		FromUserId: proto.Uint32(from), ToSessionId: proto.Uint32(to), MsgId: proto.Uint32(0),
		CreateTime: proto.Uint32(1), MsgType: typ.Enum(), MsgData: []byte(text),
	})
}

func TestP2PMessageAckDeliverySync(t *testing.T) {
	e := startEnv(t, nil)
	alicePC := dialClient(t, e.addr)
	alicePC.login("alice", "pw", pb.ClientType_CLIENT_TYPE_WINDOWS, 1)
	alicePhone := dialClient(t, e.addr)
	alicePhone.login("alice", "pw", pb.ClientType_CLIENT_TYPE_IOS, 1)
	bob := dialClient(t, e.addr)
	bob.login("bob", "pw", pb.ClientType_CLIENT_TYPE_MAC, 1)

	// The client lies about its from id: the session's user is used.
	sendText(alicePC, 777, 99, 2, pb.MsgType_MSG_TYPE_SINGLE_TEXT, "hello")
	ack := alicePC.expect(pb.CmdMsgDataAck)
	a := ack.m.(*pb.IMMsgDataAck)
	if ack.h.Seq != 777 || a.GetUserId() != 1 || a.GetSessionId() != 2 || a.GetMsgId() != 1 ||
		a.GetSessionType() != pb.SessionType_SESSION_TYPE_SINGLE {
		t.Fatalf("ack seq %d %v", ack.h.Seq, a)
	}
	for _, tc := range []struct {
		name string
		c    *tclient
	}{{"receiver", bob}, {"sender's other device", alicePhone}} {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.c.expect(pb.CmdMsgData)
			m := g.m.(*pb.IMMsgData)
			if g.h.Seq != 0 || m.GetFromUserId() != 1 || m.GetToSessionId() != 2 || m.GetMsgId() != 1 ||
				string(m.GetMsgData()) != "hello" || m.AttachData != nil {
				t.Fatalf("delivery seq %d %v", g.h.Seq, m)
			}
		})
	}
	r := e.route.waitFor(pb.CmdMsgData, nil)
	if m := r.m.(*pb.IMMsgData); m.GetMsgId() != 1 || r.h.Seq != 777 || len(m.GetAttachData()) != 12 {
		t.Fatalf("route got seq %d %v", r.h.Seq, m)
	}
	// A message to oneself is dropped; the next one still flows.
	sendText(alicePC, 778, 1, 1, pb.MsgType_MSG_TYPE_SINGLE_TEXT, "me")
	sendText(alicePC, 779, 1, 2, pb.MsgType_MSG_TYPE_SINGLE_TEXT, "again")
	if g := alicePC.expect(pb.CmdMsgDataAck); g.h.Seq != 779 || g.m.(*pb.IMMsgDataAck).GetMsgId() != 2 {
		t.Fatalf("second ack seq %d %v", g.h.Seq, g.m)
	}
	e.waitCounter(t, "msg_acks", 2)
	e.waitCounter(t, ctlapiMsgs, 2)
}

const ctlapiMsgs = "msgs_total"

func TestGroupMessageFanout(t *testing.T) {
	e := startEnv(t, nil)
	alice := dialClient(t, e.addr)
	alice.login("alice", "pw", pb.ClientType_CLIENT_TYPE_WINDOWS, 1)
	bob := dialClient(t, e.addr)
	bob.login("bob", "pw", pb.ClientType_CLIENT_TYPE_WINDOWS, 1)
	carol := dialClient(t, e.addr)
	carol.login("carol", "pw", pb.ClientType_CLIENT_TYPE_ANDROID, 1)
	sendText(alice, 5, 1, 100, pb.MsgType_MSG_TYPE_GROUP_TEXT, "hi all")
	ack := alice.expect(pb.CmdMsgDataAck).m.(*pb.IMMsgDataAck)
	if ack.GetSessionId() != 100 || ack.GetSessionType() != pb.SessionType_SESSION_TYPE_GROUP || ack.GetMsgId() != 1 {
		t.Fatalf("ack %v", ack)
	}
	for _, c := range []*tclient{bob, carol} {
		g := c.expect(pb.CmdMsgData)
		if m := g.m.(*pb.IMMsgData); g.h.Seq != 0 || m.GetToSessionId() != 100 || m.GetFromUserId() != 1 || m.AttachData != nil {
			t.Fatalf("group delivery %v", m)
		}
	}
}

func TestDuplicateLoginKickByFamily(t *testing.T) {
	e := startEnv(t, nil)
	win := dialClient(t, e.addr)
	win.login("alice", "pw", pb.ClientType_CLIENT_TYPE_WINDOWS, 1)
	phone := dialClient(t, e.addr)
	phone.login("alice", "pw", pb.ClientType_CLIENT_TYPE_ANDROID, 1)
	mac := dialClient(t, e.addr) // same family as Windows: kicks it
	mac.login("alice", "pw", pb.ClientType_CLIENT_TYPE_MAC, 1)

	k := win.expect(pb.CmdLoginKickUser)
	if m := k.m.(*pb.IMKickUser); k.h.Seq != 0 || m.GetUserId() != 1 || m.GetKickReason() != pb.KickReasonType_KICK_REASON_DUPLICATE_USER {
		t.Fatalf("kick %v", m)
	}
	win.expectClosed()
	sk := e.route.waitFor(pb.CmdOtherServerKickUser, func(m proto.Message) bool {
		return m.(*pb.IMServerKickUser).GetClientType() == pb.ClientType_CLIENT_TYPE_MAC
	}).m.(*pb.IMServerKickUser)
	if sk.GetUserId() != 1 || sk.GetReason() != 1 {
		t.Fatalf("server kick %v", sk)
	}
	// The phone (other family) and the Mac still work.
	for _, c := range []*tclient{phone, mac} {
		c.send(pb.CmdMsgTimeRequest, 42, &pb.IMClientTimeReq{})
		if g := c.expect(pb.CmdMsgTimeResponse); g.h.Seq != 42 {
			t.Fatalf("time reply seq %d", g.h.Seq)
		}
	}
	if n := e.counter("kicks"); n != 1 {
		t.Fatalf("kicks = %d", n)
	}
	// A kick relayed by route from another msg server (mobile family).
	f, _ := wire.Marshal(wire.NewHeader(pb.CmdOtherServerKickUser, 0), &pb.IMServerKickUser{
		UserId: proto.Uint32(1), ClientType: pb.ClientType_CLIENT_TYPE_IOS.Enum(), Reason: proto.Uint32(1),
	})
	e.route.mu.Lock()
	rc := e.route.conns[len(e.route.conns)-1]
	e.route.mu.Unlock()
	rc.Write(f)
	phone.expect(pb.CmdLoginKickUser)
	phone.expectClosed()
}

func TestReadAckNotifiesOtherDevice(t *testing.T) {
	e := startEnv(t, nil)
	pc := dialClient(t, e.addr)
	pc.login("bob", "pw", pb.ClientType_CLIENT_TYPE_WINDOWS, 1)
	phone := dialClient(t, e.addr)
	phone.login("bob", "pw", pb.ClientType_CLIENT_TYPE_IOS, 1)
	pc.send(pb.CmdMsgReadAck, 3, &pb.IMMsgDataReadAck{
		UserId: proto.Uint32(77), SessionId: proto.Uint32(1), MsgId: proto.Uint32(5),
		SessionType: pb.SessionType_SESSION_TYPE_SINGLE.Enum(),
	})
	g := phone.expect(pb.CmdMsgReadNotify)
	n := g.m.(*pb.IMMsgDataReadNotify)
	if g.h.Seq != 0 || n.GetUserId() != 2 || n.GetSessionId() != 1 || n.GetMsgId() != 5 {
		t.Fatalf("read notify %v", n)
	}
	if m := e.db.waitFor(pb.CmdMsgReadAck, nil).m.(*pb.IMMsgDataReadAck); m.GetUserId() != 2 {
		t.Fatalf("db got %v", m)
	}
	if m := e.route.waitFor(pb.CmdMsgReadNotify, nil).m.(*pb.IMMsgDataReadNotify); m.GetUserId() != 2 {
		t.Fatalf("route got %v", m)
	}
}

func TestRateLimit(t *testing.T) {
	e := startEnv(t, func(c *config.Config) { c.Msg.MaxMsgsPerSecond = 2 })
	a := dialClient(t, e.addr)
	a.login("alice", "pw", pb.ClientType_CLIENT_TYPE_WINDOWS, 1)
	// Ten messages in one write: they land in at most two one-second
	// windows, so at most four pass.
	var batch []byte
	for i := range 10 {
		f, _ := wire.Marshal(wire.NewHeader(pb.CmdMsgData, uint16(100+i)), &pb.IMMsgData{
			FromUserId: proto.Uint32(1), ToSessionId: proto.Uint32(2), MsgId: proto.Uint32(0), CreateTime: proto.Uint32(0),
			MsgType: pb.MsgType_MSG_TYPE_SINGLE_TEXT.Enum(), MsgData: []byte("x"),
		})
		batch = append(batch, f...)
	}
	a.c.Write(batch)
	e.waitCounter(t, "msgs_rate_limited", 6)
	a.send(pb.CmdMsgTimeRequest, 9, &pb.IMClientTimeReq{}) // the connection stays usable
	a.expect(pb.CmdMsgTimeResponse)
	if n := e.counter(ctlapiMsgs); n > 4 || n < 2 {
		t.Fatalf("accepted %d messages, want 2..4", n)
	}
}

func TestMalformedBodyKeepsConnection(t *testing.T) {
	e := startEnv(t, nil)
	a := dialClient(t, e.addr)
	a.login("alice", "pw", pb.ClientType_CLIENT_TYPE_WINDOWS, 1)
	tests := []struct {
		name string
		cmd  uint16
		body []byte
	}{
		{"garbage", pb.CmdMsgData, []byte{0xff, 0xff, 0xff}},
		{"missing required", pb.CmdMsgData, []byte{0x08, 0x01}},
		{"undeclared enum", pb.CmdMsgReadAck, []byte{0x08, 0x01, 0x10, 0x02, 0x18, 0x03, 0x20, 0x09}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.counter("bad_bodies")
			a.c.Write(wire.AppendFrame(nil, wire.NewHeader(tc.cmd, 1), tc.body))
			e.waitCounter(t, "bad_bodies", before+1)
			seq := uint16(50 + i)
			a.send(pb.CmdMsgTimeRequest, seq, &pb.IMClientTimeReq{})
			if g := a.expect(pb.CmdMsgTimeResponse); g.h.Seq != seq {
				t.Fatalf("seq %d", g.h.Seq)
			}
		})
	}
}

func TestFramingErrorsClose(t *testing.T) {
	e := startEnv(t, nil)
	tests := []struct {
		name   string
		length uint32
	}{
		{"over the client limit", wire.MaxClientFrame + 1},
		{"under the header", 15},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dialClient(t, e.addr)
			c.login("carol", "pw", pb.ClientType_CLIENT_TYPE_WINDOWS, 1)
			h := make([]byte, 16)
			wire.NewHeader(pb.CmdMsgData, 1).Put(h)
			binary.BigEndian.PutUint32(h, tc.length)
			c.c.Write(h)
			c.expectClosed()
		})
	}
}

func TestForwardedRequestRoundTrip(t *testing.T) {
	e := startEnv(t, nil)
	a := dialClient(t, e.addr)
	a.login("alice", "pw", pb.ClientType_CLIENT_TYPE_WINDOWS, 1)
	a.send(pb.CmdMsgUnreadCntRequest, 0xff03, &pb.IMUnreadMsgCntReq{UserId: proto.Uint32(55)})
	q := e.db.waitFor(pb.CmdMsgUnreadCntRequest, nil)
	if m := q.m.(*pb.IMUnreadMsgCntReq); m.GetUserId() != 1 || len(m.GetAttachData()) != 12 || q.h.Seq != 0xff03 {
		t.Fatalf("db got seq %x %v", q.h.Seq, m)
	}
	g := a.expect(pb.CmdMsgUnreadCntResponse)
	if m := g.m.(*pb.IMUnreadMsgCntRsp); g.h.Seq != 0xff03 || m.GetUserId() != 1 || m.AttachData != nil {
		t.Fatalf("reply seq %x %v", g.h.Seq, m)
	}
	// Users status goes to route and comes back.
	a.send(pb.CmdBuddyListUsersStatusRequest, 12, &pb.IMUsersStatReq{UserId: proto.Uint32(0), UserIdList: []uint32{2, 3}})
	st := a.expect(pb.CmdBuddyListUsersStatusResponse)
	if m := st.m.(*pb.IMUsersStatRsp); st.h.Seq != 12 || len(m.GetUserStatList()) != 2 || m.AttachData != nil {
		t.Fatalf("users stat %v", m)
	}
}

func TestLoginRefusedWithoutRoute(t *testing.T) {
	e := startEnv(t, func(c *config.Config) {
		c.Link.ReconnectMin = config.Duration(time.Hour)
		c.Link.ReconnectMax = config.Duration(time.Hour)
	})
	e.route.ln.Close()
	e.route.dropConns()
	deadline := time.Now().Add(10 * time.Second)
	for len(e.svc.run.Load().route.Usable()) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("route link still up")
		}
		time.Sleep(5 * time.Millisecond)
	}
	c := dialClient(t, e.addr)
	res := c.login("alice", "pw", pb.ClientType_CLIENT_TYPE_WINDOWS, 3)
	if res.GetResultCode() != pb.ResultType_REFUSE_REASON_NO_ROUTE_SERVER || res.GetResultString() != "服务端异常" {
		t.Fatalf("reply %v", res)
	}
	c.expectClosed()
}

func TestTwoInstancesInOneProcess(t *testing.T) {
	e1 := startEnv(t, nil)
	e2 := startEnv(t, nil)
	if e1.addr == e2.addr {
		t.Fatal("same listen address")
	}
	a := dialClient(t, e1.addr)
	a.login("alice", "pw", pb.ClientType_CLIENT_TYPE_WINDOWS, 1)
	b := dialClient(t, e2.addr)
	b.login("alice", "pw", pb.ClientType_CLIENT_TYPE_WINDOWS, 1)
	if len(e1.svc.Online()) != 1 || len(e2.svc.Online()) != 1 {
		t.Fatalf("online %v / %v", e1.svc.Online(), e2.svc.Online())
	}
	n, err := e2.svc.Kick(context.Background(), 1, 0)
	if err != nil || n != 1 {
		t.Fatalf("Kick = %d, %v", n, err)
	}
	b.expect(pb.CmdLoginKickUser)
	b.expectClosed()
	a.send(pb.CmdMsgTimeRequest, 2, &pb.IMClientTimeReq{})
	a.expect(pb.CmdMsgTimeResponse)
}

// TestFlash: the alert text of a push decrypts text messages with
// msg.aes_key (§4.5 step 3, §7.1) and gives up on text that is not the
// clients' encryption.
func TestFlash(t *testing.T) {
	svc, err := New(daemons.Deps{Name: "msg", Kind: config.Msg, Config: config.Default()})
	if err != nil {
		t.Fatal(err)
	}
	s := svc.(*Service)
	s.reg.addUser(1, &client{nick: "ann"})
	tests := []struct {
		name    string
		from    uint32
		typ     pb.MsgType
		data    string
		want    string
		wantErr bool
	}{
		{"text", 1, pb.MsgType_MSG_TYPE_SINGLE_TEXT, "nnZSBwfPCz60q69ddmfIJA==", "ann:hello", false},
		{"utf8 group text", 1, pb.MsgType_MSG_TYPE_GROUP_TEXT, "QhGXlpFjvMFUNrtl1aaPzA==", "ann:[语音]", false},
		{"whole block", 1, pb.MsgType_MSG_TYPE_SINGLE_TEXT, "BY1wZOT9JPljcE5qNjw9cQfU6OB7fpsvZh6GP3dYB9g=", "ann:0123456789abcdef", false},
		{"sender without nick", 2, pb.MsgType_MSG_TYPE_SINGLE_TEXT, "nnZSBwfPCz60q69ddmfIJA==", genericFlash, false},
		{"audio", 1, pb.MsgType_MSG_TYPE_SINGLE_AUDIO, "", "ann给您发送了一条语音消息", false},
		{"plain text is refused", 1, pb.MsgType_MSG_TYPE_SINGLE_TEXT, "plain hello", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.flash(&pb.IMMsgData{FromUserId: proto.Uint32(tc.from), MsgType: tc.typ.Enum(), MsgData: []byte(tc.data)})
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("flash = %q, %v; want %q, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// TestNewBadAESKey: msg refuses a key that is not AES-256 when built rather
// than failing every push.
func TestNewBadAESKey(t *testing.T) {
	cfg := config.Default()
	cfg.Msg.AESKey = "short"
	if _, err := New(daemons.Deps{Name: "msg", Kind: config.Msg, Config: cfg}); err == nil {
		t.Fatal("New accepted a 5-byte aes_key")
	}
}

func TestFileRequest(t *testing.T) {
	file := newFakePeer(t, func(p *fakePeer, c net.Conn, g got) {
		switch q := g.m.(type) {
		case *pb.IMFileServerIPReq:
			reply(c, g.h.Reply(pb.CmdOtherFileServerIpRsp), &pb.IMFileServerIPRsp{IpAddrList: []*pb.IpAddr{{Ip: proto.String("10.0.0.9"), Port: proto.Uint32(8600)}}})
		case *pb.IMFileTransferReq:
			reply(c, g.h.Reply(pb.CmdOtherFileTransferRsp), &pb.IMFileTransferRsp{
				ResultCode: proto.Uint32(0), FromUserId: q.FromUserId, ToUserId: q.ToUserId, FileName: q.FileName,
				FileSize: q.FileSize, TaskId: proto.String("task-1"), TransMode: q.TransMode, AttachData: q.AttachData,
			})
		}
	})
	e := startEnv(t, func(c *config.Config) { c.Msg.File = []string{file.addr()} })
	file.waitFor(pb.CmdOtherFileServerIpReq, nil)
	a := dialClient(t, e.addr)
	a.login("alice", "pw", pb.ClientType_CLIENT_TYPE_WINDOWS, 1)
	b := dialClient(t, e.addr)
	b.login("bob", "pw", pb.ClientType_CLIENT_TYPE_WINDOWS, 1)
	deadline := time.Now().Add(10 * time.Second)
	for l, _ := e.svc.pickFile(); l == nil; l, _ = e.svc.pickFile() {
		if time.Now().After(deadline) {
			t.Fatal("file link has no addresses")
		}
		time.Sleep(5 * time.Millisecond)
	}
	a.send(pb.CmdFileRequest, 31, &pb.IMFileReq{
		FromUserId: proto.Uint32(9), ToUserId: proto.Uint32(2), FileName: proto.String("f.txt"),
		FileSize: proto.Uint32(10), TransMode: pb.TransferFileType_FILE_TYPE_ONLINE.Enum(),
	})
	g := a.expect(pb.CmdFileResponse)
	r := g.m.(*pb.IMFileRsp)
	if g.h.Seq != 31 || r.GetResultCode() != 0 || r.GetTaskId() != "task-1" || r.GetFromUserId() != 1 ||
		len(r.GetIpAddrList()) != 1 || r.GetIpAddrList()[0].GetIp() != "10.0.0.9" {
		t.Fatalf("file rsp seq %d %v", g.h.Seq, r)
	}
	n := b.expect(pb.CmdFileNotify).m.(*pb.IMFileNotify)
	if n.GetTaskId() != "task-1" || n.GetFromUserId() != 1 || n.GetOfflineReady() != 0 {
		t.Fatalf("file notify %v", n)
	}
}

// TestReloadLiveSettings: Reload changes the rate limit of a running msg for
// clients already logged in, and reports a new max_conns to login at once.
func TestReloadLiveSettings(t *testing.T) {
	e := startEnv(t, func(c *config.Config) { c.Msg.MaxMsgsPerSecond = 1 })
	a := dialClient(t, e.addr)
	a.login("alice", "pw", pb.ClientType_CLIENT_TYPE_WINDOWS, 1)
	e.login.waitFor(pb.CmdOtherMsgServInfo, nil)
	burst := func(seq0 uint16) {
		var batch []byte
		for i := range 10 {
			f, _ := wire.Marshal(wire.NewHeader(pb.CmdMsgData, seq0+uint16(i)), &pb.IMMsgData{
				FromUserId: proto.Uint32(1), ToSessionId: proto.Uint32(2), MsgId: proto.Uint32(0), CreateTime: proto.Uint32(0),
				MsgType: pb.MsgType_MSG_TYPE_SINGLE_TEXT.Enum(), MsgData: []byte("x"),
			})
			batch = append(batch, f...)
		}
		a.c.Write(batch)
	}
	tests := []struct {
		name      string
		limit     int
		maxConns  int
		wantLimit func(accepted, limited uint64) bool // of one burst of ten
	}{
		{"raised", 100, 500, func(acc, lim uint64) bool { return acc == 10 && lim == 0 }},
		{"lowered", 1, 600, func(acc, lim uint64) bool { return acc <= 2 && lim >= 8 }},
		{"off", 0, 600, func(acc, lim uint64) bool { return acc == 10 && lim == 0 }},
	}
	prevConns := e.svc.d.Config.Msg.MaxConns
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := *e.svc.d.Config
			cfg.Msg.MaxMsgsPerSecond, cfg.Msg.MaxConns = tc.limit, tc.maxConns
			if err := e.svc.Reload(&cfg); err != nil {
				t.Fatal(err)
			}
			if tc.maxConns != prevConns {
				prevConns = tc.maxConns
				info := e.login.waitFor(pb.CmdOtherMsgServInfo, func(m proto.Message) bool {
					return m.(*pb.IMMsgServInfo).GetMaxConnCnt() == uint32(tc.maxConns)
				}).m.(*pb.IMMsgServInfo)
				if _, port, _ := splitPort(e.addr); info.GetPort() != port {
					t.Fatalf("IMMsgServInfo after reload = %v", info)
				}
			}
			acc0, lim0 := e.counter(ctlapiMsgs), e.counter("msgs_rate_limited")
			burst(uint16(1000 + 100*i))
			// Every message of the burst is either accepted or limited;
			// a time request behind it proves the burst was handled.
			a.send(pb.CmdMsgTimeRequest, uint16(2000+i), &pb.IMClientTimeReq{})
			a.expect(pb.CmdMsgTimeResponse)
			acc, lim := e.counter(ctlapiMsgs)-acc0, e.counter("msgs_rate_limited")-lim0
			if acc+lim != 10 || !tc.wantLimit(acc, lim) {
				t.Fatalf("limit %d: accepted %d, rate-limited %d of 10", tc.limit, acc, lim)
			}
		})
	}
}
