package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"teamtalk/client"
	"teamtalk/internal/testproc"
	"teamtalk/wire"
	"teamtalk/wire/pb"
)

func TestParseLine(t *testing.T) {
	tests := []struct {
		name, line, verb, arg, text string
	}{
		{"blank", "   ", "", "", ""},
		{"send", "@bob hello there", "send", "bob", "hello there"},
		{"send with spaces", "  @bob   hi  ", "send", "bob", "hi"},
		{"send nothing", "@bob", "send", "bob", ""},
		{"history", "/history bob", "/history", "bob", ""},
		{"quit", "/quit", "/quit", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, a, x := parseLine(tt.line)
			if v != tt.verb || a != tt.arg || x != tt.text {
				t.Errorf("parseLine(%q) = %q %q %q", tt.line, v, a, x)
			}
		})
	}
}

// fakeMsgServer answers the few commands ttchat uses, as alice (1) with bob
// (2) in the directory, and pushes one message from bob after login.
func fakeMsgServer(t *testing.T) (addr string, sent chan *pb.IMMsgData) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sent = make(chan *pb.IMMsgData, 4)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	ciph, err := client.NewCipher(client.DefaultKey)
	if err != nil {
		t.Fatal(err)
	}
	user := func(id uint32, name string) *pb.UserInfo {
		s, z := "", uint32(0)
		return &pb.UserInfo{UserId: &id, UserGender: &z, UserNickName: proto.String(strings.ToUpper(name)), AvatarUrl: &s,
			DepartmentId: &z, Email: &s, UserRealName: &name, UserTel: &s, UserDomain: &name, Status: &z}
	}
	u := proto.Uint32
	wg.Add(1)
	go func() {
		defer wg.Done()
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		mu.Lock()
		conns = append(conns, conn)
		mu.Unlock()
		defer conn.Close()
		write := func(cmd, seq uint16, m proto.Message) {
			f, err := wire.Marshal(wire.NewHeader(cmd, seq), m)
			if err == nil {
				conn.Write(f)
			}
		}
		dec := wire.NewDecoder(0)
		for {
			_, rerr := dec.Fill(conn)
			for {
				f, err := dec.Next()
				if err != nil || f == nil {
					break
				}
				h, msg, err := wire.DecodeFrame(f)
				if err != nil {
					continue
				}
				switch m := msg.(type) {
				case *pb.IMLoginReq:
					write(0x0104, h.Seq, &pb.IMLoginRes{ServerTime: u(1700000000), ResultCode: pb.ResultType_REFUSE_REASON_NONE.Enum(),
						ResultString: proto.String("成功"), UserInfo: user(1, "alice")})
				case *pb.IMAllUserReq:
					write(0x0209, h.Seq, &pb.IMAllUserRsp{UserId: u(1), LatestUpdateTime: u(1), UserList: []*pb.UserInfo{user(1, "alice"), user(2, "bob")}})
					write(0x0301, 0, &pb.IMMsgData{FromUserId: u(2), ToSessionId: u(1), MsgId: u(1), CreateTime: u(1700000000),
						MsgType: pb.MsgType_MSG_TYPE_SINGLE_TEXT.Enum(), MsgData: ciph.Encrypt([]byte("hi alice"))})
				case *pb.IMMsgData:
					sent <- m
					write(0x0302, h.Seq, &pb.IMMsgDataAck{UserId: u(1), SessionId: m.ToSessionId, MsgId: u(2), SessionType: pb.SessionType_SESSION_TYPE_SINGLE.Enum()})
				case *pb.IMUnreadMsgCntReq:
					write(0x0308, h.Seq, &pb.IMUnreadMsgCntRsp{UserId: u(1), TotalCnt: u(1), UnreadinfoList: []*pb.UnreadInfo{{SessionId: u(2),
						SessionType: pb.SessionType_SESSION_TYPE_SINGLE.Enum(), UnreadCnt: u(1), LatestMsgId: u(1), LatestMsgData: ciph.Encrypt([]byte("hi alice")),
						LatestMsgType: pb.MsgType_MSG_TYPE_SINGLE_TEXT.Enum(), LatestMsgFromUserId: u(2)}}})
				case *pb.IMGetMsgListReq:
					write(0x030a, h.Seq, &pb.IMGetMsgListRsp{UserId: u(1), SessionType: m.SessionType, SessionId: m.SessionId, MsgIdBegin: u(0), MsgList: []*pb.MsgInfo{
						{MsgId: u(2), FromSessionId: u(1), CreateTime: u(1700000060), MsgType: pb.MsgType_MSG_TYPE_SINGLE_TEXT.Enum(), MsgData: ciph.Encrypt([]byte("hello bob"))},
						{MsgId: u(1), FromSessionId: u(2), CreateTime: u(1700000000), MsgType: pb.MsgType_MSG_TYPE_SINGLE_TEXT.Enum(), MsgData: ciph.Encrypt([]byte("hi alice"))},
					}})
				case *pb.IMLogoutReq:
					write(0x0106, h.Seq, &pb.IMLogoutRsp{ResultCode: u(0)})
					return
				}
			}
			if rerr != nil {
				return
			}
		}
	}()
	return ln.Addr().String(), sent
}

// TestChat runs ttchat against a fake login endpoint and msg server.
func TestChat(t *testing.T) {
	addr, sent := fakeMsgServer(t)
	host, port, _ := net.SplitHostPort(addr)
	login := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "{\n   \"backupIP\" : \"%s\",\n   \"code\" : 0,\n   \"msg\" : \"\",\n   \"port\" : \"%s\",\n   \"priorIP\" : \"%s\"\n}\n", host, port, host)
	}))
	defer login.Close()

	// Input arrives line by line, after the pushed message is shown.
	inR, inW := net.Pipe()
	var stdout, stderr testproc.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"-login", login.URL + "/msg_server", "-user", "alice", "-password", "123456"}, inR, &stdout, &stderr)
	}()
	waitFor := func(s string) {
		t.Helper()
		for !strings.Contains(stdout.String(), s) {
			select {
			case <-ctx.Done():
				t.Fatalf("output has no %q:\n%s\nstderr: %s", s, stdout.String(), stderr.String())
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	waitFor("[bob] hi alice")
	for _, step := range []struct{ line, want string }{
		{"@bob hello bob", "-> bob (#2)"},
		{"/unread", "bob: 1, last from bob: hi alice"},
		{"/history bob", "alice: hello bob"},
		{"@nobody hi", `! no user "nobody"`},
		{"/quit", ""},
	} {
		if _, err := fmt.Fprintln(inW, step.line); err != nil {
			t.Fatal(err)
		}
		if step.want != "" {
			waitFor(step.want)
		}
	}
	m := <-sent
	if m.GetToSessionId() != 2 || string(m.GetMsgData()) == "hello bob" {
		t.Errorf("sent %v (text must be encrypted)", m)
	}
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("exit %d, stderr %s", c, stderr.String())
		}
	case <-ctx.Done():
		t.Fatal("ttchat did not quit")
	}
	inW.Close()
	inR.Close()
}
