package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"teamtalk/appliance/ctlapi"
	"teamtalk/client"
	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// rawConn is a raw TCP connection to one of the appliance's frame ports,
// with a reader goroutine that splits what the server sends into frames.
type rawConn struct {
	t       *testing.T
	c       net.Conn
	frames  chan []byte // closed when the server closes (or the read fails)
	done    chan struct{}
	readErr error // why frames was closed; read after it is
}

func dialRaw(t *testing.T, addr string, max int) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	r := &rawConn{t: t, c: c, frames: make(chan []byte, 64), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		defer close(r.frames)
		d := wire.NewDecoder(max)
		for {
			for {
				f, err := d.Next()
				if err != nil {
					r.readErr = err
					return
				}
				if f == nil {
					break
				}
				r.frames <- bytes.Clone(f)
			}
			if _, err := d.Fill(c); err != nil {
				r.readErr = err
				return
			}
		}
	}()
	t.Cleanup(r.close)
	return r
}

func (r *rawConn) close() {
	r.c.Close()
	for range r.frames {
	}
	<-r.done
}

func (r *rawConn) send(b []byte) {
	r.t.Helper()
	if _, err := r.c.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

func (r *rawConn) sendMsg(cmd, seq uint16, m proto.Message) {
	r.t.Helper()
	body, err := proto.MarshalOptions{AllowPartial: true}.Marshal(m)
	if err != nil {
		r.t.Fatal(err)
	}
	r.send(wire.AppendFrame(nil, wire.NewHeader(cmd, seq), body))
}

// next returns the next frame for which match holds, failing on anything
// else except the heartbeats server links send on their own.
func (r *rawConn) next(what string, match func(h wire.Header) bool) []byte {
	r.t.Helper()
	tm := time.NewTimer(10 * time.Second)
	defer tm.Stop()
	for {
		select {
		case f, ok := <-r.frames:
			if !ok {
				r.t.Fatalf("connection closed (%v) waiting for %s", r.readErr, what)
			}
			h := wire.ParseHeader(f)
			if match(h) {
				return f
			}
			if h.CommandID != cmdHeartbeat {
				r.t.Fatalf("unexpected %s waiting for %s", pb.CommandName(h.CommandID), what)
			}
		case <-tm.C:
			r.t.Fatalf("no %s within 10 s", what)
		}
	}
}

// closedByServer requires the server to close the connection within 10 s,
// having sent nothing but heartbeats (and the allowed commands) first.
func (r *rawConn) closedByServer(allowed ...uint16) {
	r.t.Helper()
	tm := time.NewTimer(10 * time.Second)
	defer tm.Stop()
	for {
		select {
		case f, ok := <-r.frames:
			if !ok {
				if errors.Is(r.readErr, wire.ErrShortLength) || errors.Is(r.readErr, wire.ErrFrameTooLarge) {
					r.t.Fatalf("the server sent a malformed frame: %v", r.readErr)
				}
				return
			}
			h := wire.ParseHeader(f)
			if h.CommandID != cmdHeartbeat && !contains(allowed, h.CommandID) {
				r.t.Fatalf("got %s, want the connection closed", pb.CommandName(h.CommandID))
			}
		case <-tm.C:
			r.t.Fatal("the server did not close the connection within 10 s")
		}
	}
}

func contains(s []uint16, v uint16) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// quiet requires that nothing but heartbeats arrives and the connection
// stays open for d.
func (r *rawConn) quiet(d time.Duration) {
	r.t.Helper()
	tm := time.NewTimer(d)
	defer tm.Stop()
	for {
		select {
		case f, ok := <-r.frames:
			if !ok {
				r.t.Fatalf("connection closed: %v", r.readErr)
			}
			if h := wire.ParseHeader(f); h.CommandID != cmdHeartbeat {
				r.t.Fatalf("unexpected %s", pb.CommandName(h.CommandID))
			}
		case <-tm.C:
			return
		}
	}
}

const (
	cmdHeartbeat = uint16(pb.OtherCmdID_CID_OTHER_HEARTBEAT)
	cmdLoginReq  = uint16(pb.LoginCmdID_CID_LOGIN_REQ_USERLOGIN)
	cmdLoginRes  = uint16(pb.LoginCmdID_CID_LOGIN_RES_USERLOGIN)
	cmdMsgData   = uint16(pb.MessageCmdID_CID_MSG_DATA)
	cmdAllUser   = uint16(pb.BuddyListCmdID_CID_BUDDY_LIST_ALL_USER_REQUEST)
	cmdUnknown   = uint16(0x7777)
	cmdUnknown2  = uint16(0x03ff) // in SID_MSG's range, but no command
)

// heartbeatEcho sends a heartbeat with odd header values and requires it
// back byte for byte: proof that the connection is alive and served.
func (r *rawConn) heartbeatEcho(seq uint16) {
	r.t.Helper()
	hb := wire.AppendFrame(nil, wire.Header{Version: 6, ServiceID: 7, CommandID: cmdHeartbeat, Seq: seq, Reserved: 0x30}, nil)
	r.send(hb)
	got := r.next("heartbeat echo", func(h wire.Header) bool { return h.CommandID == cmdHeartbeat && h.Seq == seq })
	if !bytes.Equal(got, hb) {
		r.t.Fatalf("heartbeat echo %x, sent %x", got, hb)
	}
}

// login sends a login request from a phone (so no PC presence notifies
// arrive on the connection) and returns the reply.
func (r *rawConn) login(name, plain string, seq uint16) *pb.IMLoginRes {
	r.t.Helper()
	r.sendMsg(cmdLoginReq, seq, &pb.IMLoginReq{
		UserName: proto.String(name), Password: proto.String(client.PasswordHash(plain)),
		OnlineStatus: pb.UserStatType_USER_STATUS_ONLINE.Enum(), ClientType: android.Enum(),
		ClientVersion: proto.String("badinput"),
	})
	f := r.next("login reply", func(h wire.Header) bool { return h.CommandID == cmdLoginRes && h.Seq == seq })
	var res pb.IMLoginRes
	if err := wire.Unmarshal(f[wire.HeaderLen:], &res); err != nil {
		r.t.Fatalf("login reply: %v", err)
	}
	return &res
}

// header returns a bare 16-byte header with the given length field.
func header(length uint32, cmd uint16) []byte {
	b := make([]byte, wire.HeaderLen)
	wire.Header{Length: length, Version: 1, ServiceID: pb.ServiceOf(cmd), CommandID: cmd}.Put(b)
	return b
}

func randomBytes(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// msgCounter reads one of msg's counters from the control API.
func msgCounter(t *testing.T, a *appliance, name string) uint64 {
	t.Helper()
	return serviceCounter(t, a, "msg", name)
}

// chat has two logged-in clients exchange one message each way: the
// service keeps serving everyone else.
func chat(t *testing.T, from, to *client.Client, text string) {
	t.Helper()
	ctx, cancel := ctx10()
	defer cancel()
	for _, p := range [][2]*client.Client{{from, to}, {to, from}} {
		id, err := p[0].SendText(ctx, p[1].UserID(), text)
		if err != nil {
			t.Fatalf("%s: send from %d: %v", text, p[0].UserID(), err)
		}
		for got := false; !got; {
			select {
			case ev, ok := <-p[1].Events():
				if !ok {
					t.Fatalf("%s: events of %d closed: %v", text, p[1].UserID(), p[1].Err())
				}
				m, ok := ev.(*client.MessageEvent)
				if !ok {
					continue
				}
				if m.Msg.GetFromUserId() != p[0].UserID() {
					t.Fatalf("%s: message from %d, want only %d", text, m.Msg.GetFromUserId(), p[0].UserID())
				}
				s, err := p[1].Text(m.Msg)
				if err != nil || s != text || m.Msg.GetMsgId() != id {
					t.Fatalf("%s: got %q (id %d, %v), want id %d", text, s, m.Msg.GetMsgId(), err, id)
				}
				got = true
			case <-ctx.Done():
				t.Fatalf("%s: %d did not get the message", text, p[1].UserID())
			}
		}
	}
}

// TestBadInput throws hostile and broken input at every frame port and at
// login's HTTP endpoint of one running appliance, each case on its own raw
// connection, while alice and bob keep chatting before and after every
// case. Afterwards every service is still running, never restarted.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	seed(t, dir, 0)
	a := start(t, "badinput", dir)
	msgAddr := a.addr("msg.listen")
	alice := login(t, msgAddr, "alice", android)
	bob := login(t, msgAddr, "bob", windows)

	validMsg := func(to uint32) *pb.IMMsgData {
		return &pb.IMMsgData{
			FromUserId: proto.Uint32(3), ToSessionId: proto.Uint32(to), MsgId: proto.Uint32(0),
			CreateTime: proto.Uint32(uint32(time.Now().Unix())), MsgType: pb.MsgType_MSG_TYPE_SINGLE_TEXT.Enum(),
			MsgData: []byte("should never arrive"),
		}
	}
	// loggedIn logs carol in on r (she is the hostile client).
	loggedIn := func(t *testing.T, r *rawConn) {
		t.Helper()
		if res := r.login("carol", "123456", 100); res.GetResultCode() != pb.ResultType_REFUSE_REASON_NONE {
			t.Fatalf("carol login: %v %q", res.GetResultCode(), res.GetResultString())
		}
	}

	msgCases := []struct {
		name    string
		counter string // msg's counter that must grow ("" = none)
		run     func(t *testing.T, r *rawConn)
	}{
		{"wrong password: result 6 then closed", "login_failures", func(t *testing.T, r *rawConn) {
			res := r.login("alice", "wrong", 9)
			if res.GetResultCode() != pb.ResultType_REFUSE_REASON_DB_VALIDATE_FAILED || res.UserInfo != nil {
				t.Fatalf("wrong password: %v %q %v", res.GetResultCode(), res.GetResultString(), res.UserInfo)
			}
			r.closedByServer()
		}},
		{"message before login: closed", "unauthenticated", func(t *testing.T, r *rawConn) {
			r.sendMsg(cmdMsgData, 1, validMsg(1))
			r.closedByServer()
		}},
		{"heartbeat then request before login: echoed, then closed", "unauthenticated", func(t *testing.T, r *rawConn) {
			r.heartbeatEcho(77)
			r.sendMsg(cmdAllUser, 2, &pb.IMAllUserReq{UserId: proto.Uint32(1), LatestUpdateTime: proto.Uint32(0)})
			r.closedByServer()
		}},
		// msg counts an unknown command with the undecodable bodies (wire.DecodeBody
		// has no type for it).
		{"unknown command ids after login: dropped, connection stays", "bad_bodies", func(t *testing.T, r *rawConn) {
			loggedIn(t, r)
			r.send(wire.AppendFrame(nil, wire.NewHeader(cmdUnknown, 3), []byte{0x08, 0x01}))
			r.send(wire.AppendFrame(nil, wire.NewHeader(cmdUnknown2, 4), nil))
			r.heartbeatEcho(5)
		}},
		{"garbage body after login: dropped, connection stays", "bad_bodies", func(t *testing.T, r *rawConn) {
			loggedIn(t, r)
			r.send(wire.AppendFrame(nil, wire.NewHeader(cmdMsgData, 6), []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0x0a, 0x80}))
			r.heartbeatEcho(7)
		}},
		{"missing required field after login: dropped, connection stays", "bad_bodies", func(t *testing.T, r *rawConn) {
			loggedIn(t, r)
			m := validMsg(1)
			m.MsgData = nil
			r.sendMsg(cmdMsgData, 8, m)
			r.heartbeatEcho(9)
		}},
		{"undeclared enum value after login: dropped, connection stays", "bad_bodies", func(t *testing.T, r *rawConn) {
			loggedIn(t, r)
			m := validMsg(1)
			m.MsgType = pb.MsgType(99).Enum()
			r.sendMsg(cmdMsgData, 10, m)
			r.heartbeatEcho(11)
		}},
		{"oversize length: closed", "frame_errors", func(t *testing.T, r *rawConn) {
			r.send(header(wire.MaxClientFrame+1, cmdMsgData))
			r.closedByServer()
		}},
		{"oversize length after login: closed", "frame_errors", func(t *testing.T, r *rawConn) {
			loggedIn(t, r)
			r.send(header(0xffffffff, cmdMsgData))
			r.closedByServer()
		}},
		{"length 15: closed", "frame_errors", func(t *testing.T, r *rawConn) {
			r.send(append(header(15, cmdHeartbeat), make([]byte, 16)...))
			r.closedByServer()
		}},
		{"length 0: closed", "frame_errors", func(t *testing.T, r *rawConn) {
			r.send(header(0, cmdHeartbeat))
			r.closedByServer()
		}},
		{"truncated frame then close: nothing answered", "", func(t *testing.T, r *rawConn) {
			loggedIn(t, r)
			f := wire.AppendFrame(nil, wire.NewHeader(cmdHeartbeat, 12), make([]byte, 64))
			r.send(f[:40])
			r.quiet(300 * time.Millisecond)
		}},
		{"random bytes: closed", "", func(t *testing.T, r *rawConn) {
			r.send(randomBytes(1, 64<<10))
			r.closedByServer()
		}},
	}
	cycle := 0
	check := func(t *testing.T) {
		t.Helper()
		cycle++
		chat(t, alice.Client, bob.Client, fmt.Sprintf("still chatting %d", cycle))
	}
	check(t)
	for _, tc := range msgCases {
		t.Run("msg/"+tc.name, func(t *testing.T) {
			var before uint64
			if tc.counter != "" {
				before = msgCounter(t, a, tc.counter)
			}
			r := dialRaw(t, msgAddr, wire.MaxClientFrame)
			tc.run(t, r)
			r.close()
			if tc.counter != "" {
				eventually(t, 5*time.Second, "msg counter "+tc.counter+" to grow", func() bool {
					return msgCounter(t, a, tc.counter) > before
				})
			}
			// The hostile connection is gone from msg's registry: only
			// alice's and bob's remain.
			eventually(t, 5*time.Second, "msg online_conns back to 2", func() bool {
				return msgCounter(t, a, "online_conns") == 2
			})
			check(t)
		})
	}

	// No malformed or unauthenticated message was stored: alice has no
	// history with carol.
	t.Run("msg/nothing of the above was stored", func(t *testing.T) {
		ctx, cancel := ctx10()
		defer cancel()
		hist, err := alice.MsgList(ctx, pb.SessionType_SESSION_TYPE_SINGLE, 3, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(hist.GetMsgList()); n != 0 {
			t.Fatalf("alice has %d messages from carol: %v", n, hist.GetMsgList())
		}
	})

	serverCases := []struct {
		name string
		run  func(t *testing.T, r *rawConn, cmd uint16)
	}{
		{"oversize length: closed", func(t *testing.T, r *rawConn, _ uint16) {
			r.send(header(wire.MaxServerFrame+1, cmdHeartbeat))
			r.closedByServer()
		}},
		{"length 15: closed", func(t *testing.T, r *rawConn, _ uint16) {
			r.send(append(header(15, cmdHeartbeat), make([]byte, 16)...))
			r.closedByServer()
		}},
		{"length 0: closed", func(t *testing.T, r *rawConn, _ uint16) {
			r.send(header(0, cmdHeartbeat))
			r.closedByServer()
		}},
		{"unknown command id: dropped, link stays", func(t *testing.T, r *rawConn, _ uint16) {
			r.send(wire.AppendFrame(nil, wire.NewHeader(cmdUnknown, 1), []byte{0x08, 0x01}))
			// The link's own heartbeat (200 ms idle in tests) proves it is
			// still served.
			r.next("the server's heartbeat", func(h wire.Header) bool { return h.CommandID == cmdHeartbeat })
			r.quiet(300 * time.Millisecond)
		}},
		{"garbage body of a known command: dropped, link stays", func(t *testing.T, r *rawConn, cmd uint16) {
			r.send(wire.AppendFrame(nil, wire.NewHeader(cmd, 2), []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0x0a, 0x80}))
			r.next("the server's heartbeat", func(h wire.Header) bool { return h.CommandID == cmdHeartbeat })
			r.quiet(300 * time.Millisecond)
		}},
		{"truncated frame then close", func(t *testing.T, r *rawConn, cmd uint16) {
			f := wire.AppendFrame(nil, wire.NewHeader(cmd, 3), make([]byte, 64))
			r.send(f[:40])
			r.quiet(300 * time.Millisecond)
		}},
		{"random bytes: closed", func(t *testing.T, r *rawConn, _ uint16) {
			r.send(randomBytes(2, 64<<10))
			r.closedByServer()
		}},
	}
	ports := []struct {
		key string
		cmd uint16 // a command the port serves, for garbage bodies
	}{
		{"route.listen", uint16(pb.OtherCmdID_CID_OTHER_USER_STATUS_UPDATE)},
		{"dbproxy.listen", uint16(pb.OtherCmdID_CID_OTHER_VALIDATE_REQ)},
		{"login.msgserver_listen", uint16(pb.OtherCmdID_CID_OTHER_MSG_SERV_INFO)},
	}
	for _, p := range ports {
		addr := a.addr(p.key)
		for _, tc := range serverCases {
			t.Run(p.key+"/"+tc.name, func(t *testing.T) {
				r := dialRaw(t, addr, wire.MaxServerFrame)
				tc.run(t, r, p.cmd)
				r.close()
				check(t)
			})
		}
	}

	httpAddr := a.addr("login.http_listen")
	httpCases := []struct {
		name, request string
	}{
		{"huge request line", "GET /msg_server?" + strings.Repeat("a", 2048) + " HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"huge headers", "GET /msg_server HTTP/1.1\r\nHost: x\r\nX-Pad: " + strings.Repeat("b", 3000) + "\r\n\r\n"},
		{"path not starting with /msg_server", "GET /admin HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"root path", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
	}
	for _, tc := range httpCases {
		t.Run("login.http/"+tc.name+": closed, no answer", func(t *testing.T) {
			c, err := net.DialTimeout("tcp", httpAddr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, tc.request); err != nil {
				t.Fatalf("write: %v", err)
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(c)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("connection not closed within 10 s (read %q)", got)
			}
			// EOF, or a reset when the server closed with our bytes unread.
			if len(got) != 0 {
				t.Fatalf("answered %q, want the connection closed with no answer", got)
			}
			check(t)
		})
	}
	t.Run("login.http/a proper request is still answered", func(t *testing.T) {
		ctx, cancel := ctx10()
		defer cancel()
		info, err := client.Resolve(ctx, "http://"+httpAddr+"/msg_server")
		if err != nil {
			t.Fatal(err)
		}
		if info.Addr() != msgAddr {
			t.Fatalf("login handed out %s, want %s", info.Addr(), msgAddr)
		}
	})

	t.Run("every service still running, never restarted", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st, err := a.ctl.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		running := map[string]bool{}
		for _, s := range st.Services {
			if s.State == ctlapi.StateUnavailable {
				continue // named by services=["all"] but not built into this binary
			}
			if s.State != ctlapi.StateRunning || s.Restarts != 0 || s.LastError != "" {
				t.Errorf("service %s: %s, %d restarts, last error %q", s.Name, s.State, s.Restarts, s.LastError)
			}
			running[s.Kind] = true
		}
		for _, k := range []string{"msg", "route", "dbproxy", "login"} {
			if !running[k] {
				t.Errorf("service %s not running: %+v", k, st.Services)
			}
		}
	})
}
