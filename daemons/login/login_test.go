package login

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
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

type running struct {
	svc  *Service
	http string
	msg  string
	cli  string
}

func startLogin(t *testing.T) running {
	t.Helper()
	return startLoginWith(t, nil, &daemons.AddressBook{})
}

// startLoginWith starts login with the test settings changed by mod, on the
// address book book (where other services may have published addresses).
func startLoginWith(t *testing.T, mod func(*config.Config), book *daemons.AddressBook) running {
	t.Helper()
	cfg := config.Default()
	cfg.Login.HTTPListen = "127.0.0.1:0"
	cfg.Login.MsgServerListen = "127.0.0.1:0"
	cfg.Login.ClientListen = "127.0.0.1:0"
	cfg.Login.MsfsURL = "http://127.0.0.1:8700/"
	cfg.Login.DiscoveryURL = "http://127.0.0.1/api/discovery"
	cfg.Link.Heartbeat = config.Duration(time.Second)
	cfg.Link.Timeout = config.Duration(10 * time.Second)
	if mod != nil {
		mod(cfg)
	}
	d := daemons.Deps{Name: "login", Kind: config.Login, Config: cfg, Logger: slog.New(slog.DiscardHandler), Addrs: book}
	svc, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	servicetest.Start(t, svc)
	r := running{svc: svc.(*Service)}
	var ok1, ok2, ok3 bool
	r.http, ok1 = d.Addrs.Lookup("login.http_listen")
	r.msg, ok2 = d.Addrs.Lookup("login.msgserver_listen")
	r.cli, ok3 = d.Addrs.Lookup("login.client_listen")
	if !ok1 || !ok2 || !ok3 {
		t.Fatalf("addresses not published: %v", d.Addrs.All())
	}
	return r
}

// fakeMsg is a msg server's link to login.
type fakeMsg struct {
	t *testing.T
	c net.Conn
}

func dialMsg(t *testing.T, addr string) *fakeMsg {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &fakeMsg{t: t, c: c}
}

func (m *fakeMsg) sendRaw(f []byte) {
	m.t.Helper()
	if _, err := m.c.Write(f); err != nil {
		m.t.Fatal(err)
	}
}

func (m *fakeMsg) register(ip1, ip2 string, port, cur, max uint32) {
	m.t.Helper()
	f, err := wire.Marshal(wire.NewHeader(pb.CmdOtherMsgServInfo, 0), &pb.IMMsgServInfo{
		Ip1: proto.String(ip1), Ip2: proto.String(ip2), Port: proto.Uint32(port),
		MaxConnCnt: proto.Uint32(max), CurConnCnt: proto.Uint32(cur), HostName: proto.String("host-" + ip1)})
	if err != nil {
		m.t.Fatal(err)
	}
	m.sendRaw(f)
}

func (m *fakeMsg) count(action uint32) {
	m.t.Helper()
	f, err := wire.Marshal(wire.NewHeader(pb.CmdOtherUserCntUpdate, 0), &pb.IMUserCntUpdate{UserAction: proto.Uint32(action), UserId: proto.Uint32(1)})
	if err != nil {
		m.t.Fatal(err)
	}
	m.sendRaw(f)
}

// get sends a raw HTTP request and returns everything the server wrote
// before closing.
func get(t *testing.T, addr, req string) []byte {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(waitLong))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("read: %v", err)
	}
	return b
}

func getMsgServer(t *testing.T, addr string) []byte {
	return get(t, addr, "GET /msg_server HTTP/1.1\r\nHost: x\r\n\r\n")
}

// TestHTTPGolden registers a msg server with the captured IMMsgServInfo
// frame and compares the HTTP answer with the captured bytes.
func TestHTTPGolden(t *testing.T) {
	want, err := os.ReadFile("../../../shared/vectors/http_login_msg_server.txt")
	if err != nil {
		t.Fatalf("vector: %v", err)
	}
	r := startLogin(t)
	m := dialMsg(t, r.msg)
	body, _ := hex.DecodeString("0a093132372e302e302e3112093132372e302e302e3118c03e20a08d0628003202766d")
	m.sendRaw(wire.AppendFrame(nil, wire.NewHeader(pb.CmdOtherMsgServInfo, 0), body))
	servicetest.Eventually(t, "registration", func() bool { return r.svc.reg.Len() == 1 })

	for _, req := range []string{
		"GET /msg_server HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/8\r\nAccept: */*\r\n\r\n",
		"POST /msg_server?client=win HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
		"GET /msg_server/anything HTTP/1.0\r\n\r\n",
	} {
		if got := get(t, r.http, req); !bytes.Equal(got, want) {
			t.Fatalf("request %q:\n got %q\nwant %q", req, got, want)
		}
	}
	ms := r.svc.MsgServers()
	if len(ms) != 1 || ms[0].Addr != "127.0.0.1:8000" || ms[0].MaxConns != 100000 || ms[0].Hostname != "vm" || ms[0].Login != "login" || ms[0].Registered.IsZero() {
		t.Fatalf("MsgServers = %+v", ms)
	}
}

func TestHTTPErrorsAndRefusals(t *testing.T) {
	r := startLogin(t)
	errBody := func(code int, msg string) []byte {
		b := fmt.Sprintf("{\n   \"code\" : %d,\n   \"msg\" : \"%s\"\n}\n", code, msg)
		return []byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nConnection:close\r\nContent-Length:%d\r\nContent-Type:text/html;charset=utf-8\r\n\r\n%s", len(b), b))
	}
	if got, want := getMsgServer(t, r.http), errBody(1, "没有msg_server"); !bytes.Equal(got, want) {
		t.Fatalf("no msg server:\n got %q\nwant %q", got, want)
	}
	m := dialMsg(t, r.msg)
	m.register("10.0.0.1", "10.0.0.2", 8000, 2, 2)
	servicetest.Eventually(t, "registration", func() bool { return r.svc.reg.Len() == 1 })
	if got, want := getMsgServer(t, r.http), errBody(2, "负载过高"); !bytes.Equal(got, want) {
		t.Fatalf("full:\n got %q\nwant %q", got, want)
	}

	tests := []struct {
		name string
		req  string
	}{
		{"other path", "GET /login HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"root", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"over 1024 bytes", "GET /msg_server HTTP/1.1\r\nHost: x\r\nX-Pad: " + strings.Repeat("a", 1100) + "\r\n\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := get(t, r.http, tc.req); len(got) != 0 {
				t.Fatalf("answered %q, want the connection closed unanswered", got)
			}
		})
	}
	if c := r.svc.Status().Counters; c["http_refused"] != 2 || c["http_errors"] != 2 {
		t.Fatalf("counters = %v", c)
	}
}

// TestPick registers several msg servers and follows the least-loaded pick
// through count updates, a full server, a replacing registration and a
// closed link.
func TestPick(t *testing.T) {
	r := startLogin(t)
	a, b, c := dialMsg(t, r.msg), dialMsg(t, r.msg), dialMsg(t, r.msg)
	a.register("10.0.0.1", "20.0.0.1", 8001, 5, 100)
	servicetest.Eventually(t, "a", func() bool { return r.svc.reg.Len() == 1 })
	b.register("10.0.0.2", "20.0.0.2", 8002, 3, 100)
	servicetest.Eventually(t, "b", func() bool { return r.svc.reg.Len() == 2 })
	c.register("10.0.0.3", "20.0.0.3", 8003, 0, 0) // full: max 0
	servicetest.Eventually(t, "c", func() bool { return r.svc.reg.Len() == 3 })

	pick := func() string {
		t.Helper()
		got := getMsgServer(t, r.http)
		i := bytes.Index(got, []byte(`"port" : "`))
		if i < 0 {
			t.Fatalf("no port in %q", got)
		}
		return string(got[i+10 : i+14])
	}
	steps := []struct {
		name   string
		action func()
		want   string
	}{
		{"fewest connections", func() {}, "8002"},
		{"b gains two: tie goes to the earliest", func() { b.count(1); b.count(1) }, "8001"},
		{"a gains one", func() { a.count(1) }, "8002"},
		{"b loses three", func() { b.count(2); b.count(2); b.count(2) }, "8002"},
		{"b re-registers with 50: replaced, not added", func() { b.register("10.0.0.2", "20.0.0.2", 8002, 50, 100) }, "8001"},
		{"a's link closes", func() { _ = a.c.Close() }, "8002"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.action()
			// Updates travel on other connections: wait until the pick settles.
			servicetest.Eventually(t, "pick "+st.want, func() bool { return pick() == st.want })
		})
	}
	servicetest.Eventually(t, "a removed", func() bool { return r.svc.reg.Len() == 2 })
	if n := r.svc.Status().Counters["online_total"]; n != 50 {
		t.Fatalf("online_total = %d, want 50", n)
	}
}

func TestClientPort(t *testing.T) {
	r := startLogin(t)
	ask := func() *pb.IMMsgServRsp {
		t.Helper()
		c, err := net.Dial("tcp", r.cli)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(waitLong))
		if _, err := c.Write(wire.AppendFrame(nil, wire.NewHeader(pb.CmdLoginReqMsgserver, 77), nil)); err != nil {
			t.Fatal(err)
		}
		all, err := io.ReadAll(c) // the server closes after answering
		if err != nil {
			t.Fatal(err)
		}
		if len(all) < wire.HeaderLen {
			t.Fatalf("short answer % x", all)
		}
		h := wire.ParseHeader(all)
		if h.CommandID != pb.CmdLoginResMsgserver || h.Seq != 77 || int(h.Length) != len(all) {
			t.Fatalf("answer header %+v (%d bytes)", h, len(all))
		}
		var rsp pb.IMMsgServRsp
		if err := wire.Unmarshal(all[wire.HeaderLen:], &rsp); err != nil {
			t.Fatal(err)
		}
		return &rsp
	}
	if rsp := ask(); rsp.GetResultCode() != pb.ResultType_REFUSE_REASON_NO_MSG_SERVER || rsp.PriorIp != nil {
		t.Fatalf("no msg server: %v", rsp)
	}
	m := dialMsg(t, r.msg)
	m.register("10.1.1.1", "10.2.2.2", 8000, 0, 10)
	servicetest.Eventually(t, "registration", func() bool { return r.svc.reg.Len() == 1 })
	rsp := ask()
	if rsp.GetResultCode() != pb.ResultType_REFUSE_REASON_NONE || rsp.GetPriorIp() != "10.1.1.1" || rsp.GetBackipIp() != "10.2.2.2" || rsp.GetPort() != 8000 {
		t.Fatalf("answer %v", rsp)
	}
}

func TestBadFramesKeepTheLink(t *testing.T) {
	r := startLogin(t)
	m := dialMsg(t, r.msg)
	m.sendRaw(wire.AppendFrame(nil, wire.NewHeader(pb.CmdOtherMsgServInfo, 0), []byte{0x0a, 0x01, 'x'})) // required fields missing
	m.sendRaw(wire.AppendFrame(nil, wire.NewHeader(0x0301, 0), nil))
	m.register("10.0.0.9", "10.0.0.9", 8000, 0, 10)
	servicetest.Eventually(t, "registration after bad frames", func() bool { return r.svc.reg.Len() == 1 })
	c := r.svc.Status().Counters
	if c["bad_bodies"] != 1 || c["unknown_commands"] != 1 {
		t.Fatalf("counters = %v", c)
	}
}

func TestAnswerFor(t *testing.T) {
	reg := NewRegistry()
	reg.Register(1, &pb.IMMsgServInfo{Ip1: proto.String("1.1.1.1"), Ip2: proto.String("2.2.2.2"), Port: proto.Uint32(8000),
		MaxConnCnt: proto.Uint32(10), CurConnCnt: proto.Uint32(0), HostName: proto.String("h")})
	tests := []struct {
		name, remote, prior, backup string
	}{
		{"ipv4 requester", "192.168.1.5:5000", "1.1.1.1", "2.2.2.2"},
		{"ipv6 requester", "[::1]:5000", "2.2.2.2", "1.1.1.1"},
		{"ipv4-mapped", "[::ffff:10.0.0.1]:5000", "1.1.1.1", "2.2.2.2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := answerFor(reg, tc.remote, "m", "d")
			if a.PriorIP != tc.prior || a.BackupIP != tc.backup || a.Port != "8000" || a.MsfsPrior != "m" || a.MsfsBackup != "m" || a.Discovery != "d" {
				t.Fatalf("answer %+v", a)
			}
		})
	}
}

// TestLastHeard: any frame on a registered link, a heartbeat included, moves
// the registration's LastHeard; only load reports move Updated.
func TestLastHeard(t *testing.T) {
	r := startLogin(t)
	m := dialMsg(t, r.msg)
	m.register("10.0.0.5", "10.0.0.5", 8000, 0, 10)
	servicetest.Eventually(t, "registration", func() bool { return r.svc.reg.Len() == 1 })
	cur := func() (updated, heard time.Time) {
		ms := r.svc.MsgServers()
		if len(ms) != 1 {
			t.Fatalf("registrations = %+v", ms)
		}
		return ms[0].Updated, ms[0].LastHeard
	}
	if u, h := cur(); u.IsZero() || !h.Equal(u) {
		t.Fatalf("after registration: updated %v, last heard %v", u, h)
	}
	steps := []struct {
		name        string
		send        func()
		movesUpdate bool
	}{
		{"heartbeat", func() { m.sendRaw(wire.AppendFrame(nil, wire.NewHeader(pb.CmdOtherHeartbeat, 0), nil)) }, false},
		{"user count", func() { m.count(1) }, true},
		{"another heartbeat", func() { m.sendRaw(wire.AppendFrame(nil, wire.NewHeader(pb.CmdOtherHeartbeat, 0), nil)) }, false},
		{"re-registration", func() { m.register("10.0.0.5", "10.0.0.5", 8000, 1, 10) }, true},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			u0, h0 := cur()
			// The clock must move past h0 for the change to show.
			for !time.Now().After(h0) {
				time.Sleep(time.Millisecond)
			}
			st.send()
			servicetest.Eventually(t, "last heard to move", func() bool { _, h := cur(); return h.After(h0) })
			u, h := cur()
			if moved := !u.Equal(u0); moved != st.movesUpdate {
				t.Fatalf("updated moved = %v, want %v (updated %v -> %v, heard %v)", moved, st.movesUpdate, u0, u, h)
			}
		})
	}
}
