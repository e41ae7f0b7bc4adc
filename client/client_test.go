package client

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// dialFake starts a fake server with handle and connects a client to it.
func dialFake(t *testing.T, handle func(fc *fakeConn, h wire.Header, body []byte), opt Options) (*Client, *fakeConn) {
	t.Helper()
	srv := newFakeServer(t, handle)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, srv.addr(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, srv.next()
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestOutOfOrderReplies: replies are matched by seq and command, whatever
// their order, and a message carrying a pending seq (route's quirk) is an
// event, not a reply.
func TestOutOfOrderReplies(t *testing.T) {
	const n = 8
	var mu sync.Mutex
	var held []wire.Header
	c, _ := dialFake(t, func(fc *fakeConn, h wire.Header, body []byte) {
		if h.CommandID != uint16(pb.MessageCmdID_CID_MSG_TIME_REQUEST) {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		held = append(held, h)
		if len(held) < n {
			return
		}
		// A relayed message with the first request's seq comes first.
		fc.write(uint16(pb.MessageCmdID_CID_MSG_DATA), held[0].Seq, &pb.IMMsgData{
			FromUserId: proto.Uint32(7), ToSessionId: proto.Uint32(8), MsgId: proto.Uint32(9), CreateTime: proto.Uint32(1),
			MsgType: pb.MsgType_MSG_TYPE_SINGLE_TEXT.Enum(), MsgData: []byte("x"),
		})
		for i := len(held) - 1; i >= 0; i-- { // newest first
			fc.write(uint16(pb.MessageCmdID_CID_MSG_TIME_RESPONSE), held[i].Seq, &pb.IMClientTimeRsp{ServerTime: proto.Uint32(1000 + uint32(held[i].Seq))})
		}
	}, Options{SeqStart: 65530}) // and the seq wraps past 0
	ctx := testCtx(t)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, h, msg, err := c.requestWithHeader(ctx)
			if err != nil {
				errs <- err
				return
			}
			if got, want := msg.GetServerTime(), 1000+uint32(h.Seq); got != want || h.Seq == 0 {
				errs <- errors.New("reply of another request")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	me := eventOf[*MessageEvent](t, c)
	if me.Msg.GetMsgId() != 9 {
		t.Errorf("message = %v", me.Msg)
	}
	if p := c.Stats().Pending; p != 0 {
		t.Errorf("%d pending after all replies", p)
	}
}

// requestWithHeader is ServerTime returning the reply's header (test only).
func (c *Client) requestWithHeader(ctx context.Context) (uint16, wire.Header, *pb.IMClientTimeRsp, error) {
	h, msg, err := c.roundTrip(ctx, uint16(pb.MessageCmdID_CID_MSG_TIME_REQUEST), &pb.IMClientTimeReq{}, uint16(pb.MessageCmdID_CID_MSG_TIME_RESPONSE), false)
	if err != nil {
		return 0, h, nil, err
	}
	return h.Seq, h, msg.(*pb.IMClientTimeRsp), nil
}

// TestEvents: every unsolicited PDU becomes its typed event; bodies that do
// not decode are counted and dropped, the connection stays up.
func TestEvents(t *testing.T) {
	u := proto.Uint32
	tests := []struct {
		name  string
		cmd   pb.BuddyListCmdID // 0: use raw
		raw   uint16
		body  proto.Message
		check func(t *testing.T, ev Event)
	}{
		{"message", 0, uint16(pb.MessageCmdID_CID_MSG_DATA), &pb.IMMsgData{FromUserId: u(2), ToSessionId: u(1), MsgId: u(5), CreateTime: u(1), MsgType: pb.MsgType_MSG_TYPE_SINGLE_AUDIO.Enum(), MsgData: []byte{0, 0, 0, 1, 9}}, func(t *testing.T, ev Event) {
			if e, ok := ev.(*MessageEvent); !ok || e.Msg.GetMsgId() != 5 {
				t.Errorf("%T %v", ev, ev.Body())
			}
		}},
		{"read notify", 0, uint16(pb.MessageCmdID_CID_MSG_READ_NOTIFY), &pb.IMMsgDataReadNotify{UserId: u(1), SessionId: u(2), MsgId: u(3), SessionType: pb.SessionType_SESSION_TYPE_SINGLE.Enum()}, func(t *testing.T, ev Event) {
			if e, ok := ev.(*ReadNotifyEvent); !ok || e.Notify.GetMsgId() != 3 {
				t.Errorf("%T", ev)
			}
		}},
		{"status", pb.BuddyListCmdID_CID_BUDDY_LIST_STATUS_NOTIFY, 0, &pb.IMUserStatNotify{UserStat: &pb.UserStat{UserId: u(4), Status: pb.UserStatType_USER_STATUS_OFFLINE.Enum()}}, func(t *testing.T, ev Event) {
			if e, ok := ev.(*StatusEvent); !ok || e.Notify.GetUserStat().GetUserId() != 4 {
				t.Errorf("%T", ev)
			}
		}},
		{"kick", 0, uint16(pb.LoginCmdID_CID_LOGIN_KICK_USER), &pb.IMKickUser{UserId: u(1), KickReason: pb.KickReasonType_KICK_REASON_MOBILE_KICK.Enum()}, func(t *testing.T, ev Event) {
			if e, ok := ev.(*KickEvent); !ok || e.Kick.GetKickReason() != pb.KickReasonType_KICK_REASON_MOBILE_KICK {
				t.Errorf("%T", ev)
			}
		}},
		{"pc login status", pb.BuddyListCmdID_CID_BUDDY_LIST_PC_LOGIN_STATUS_NOTIFY, 0, &pb.IMPCLoginStatusNotify{UserId: u(1), LoginStat: pb.UserStatType_USER_STATUS_ONLINE.Enum()}, func(t *testing.T, ev Event) {
			if _, ok := ev.(*PCLoginStatusEvent); !ok {
				t.Errorf("%T", ev)
			}
		}},
		{"sign info", pb.BuddyListCmdID_CID_BUDDY_LIST_SIGN_INFO_CHANGED_NOTIFY, 0, &pb.IMSignInfoChangedNotify{ChangedUserId: u(2), SignInfo: proto.String("busy")}, func(t *testing.T, ev Event) {
			if e, ok := ev.(*SignInfoChangedEvent); !ok || e.Notify.GetSignInfo() != "busy" {
				t.Errorf("%T", ev)
			}
		}},
		{"avatar", pb.BuddyListCmdID_CID_BUDDY_LIST_AVATAR_CHANGED_NOTIFY, 0, &pb.IMAvatarChangedNotify{ChangedUserId: u(2), AvatarUrl: proto.String("http://a")}, func(t *testing.T, ev Event) {
			if _, ok := ev.(*AvatarChangedEvent); !ok {
				t.Errorf("%T", ev)
			}
		}},
		{"remove session", pb.BuddyListCmdID_CID_BUDDY_LIST_REMOVE_SESSION_NOTIFY, 0, &pb.IMRemoveSessionNotify{UserId: u(1), SessionType: pb.SessionType_SESSION_TYPE_SINGLE.Enum(), SessionId: u(2)}, func(t *testing.T, ev Event) {
			if e, ok := ev.(*RemoveSessionEvent); !ok || e.Notify.GetSessionId() != 2 {
				t.Errorf("%T", ev)
			}
		}},
		{"group change", 0, uint16(pb.GroupCmdID_CID_GROUP_CHANGE_MEMBER_NOTIFY), &pb.IMGroupChangeMemberNotify{UserId: u(1), ChangeType: pb.GroupModifyType_GROUP_MODIFY_TYPE_ADD.Enum(), GroupId: u(9), CurUserIdList: []uint32{1, 2}, ChgUserIdList: []uint32{2}}, func(t *testing.T, ev Event) {
			if e, ok := ev.(*GroupChangeEvent); !ok || e.Notify.GetGroupId() != 9 {
				t.Errorf("%T", ev)
			}
		}},
		{"p2p", 0, uint16(pb.SwitchServiceCmdID_CID_SWITCH_P2P_CMD), &pb.IMP2PCmdMsg{FromUserId: u(2), ToUserId: u(1), CmdMsgData: proto.String("typing")}, func(t *testing.T, ev Event) {
			if e, ok := ev.(*P2PCmdEvent); !ok || e.Cmd.GetCmdMsgData() != "typing" {
				t.Errorf("%T", ev)
			}
		}},
		{"file notify", 0, uint16(pb.FileCmdID_CID_FILE_NOTIFY), &pb.IMFileNotify{FromUserId: u(2), ToUserId: u(1), FileName: proto.String("a.txt"), FileSize: u(3), TaskId: proto.String("t"), TransMode: pb.TransferFileType_FILE_TYPE_ONLINE.Enum(), OfflineReady: u(0)}, func(t *testing.T, ev Event) {
			if e, ok := ev.(*FileNotifyEvent); !ok || e.Notify.GetFileName() != "a.txt" {
				t.Errorf("%T", ev)
			}
		}},
		{"unmatched reply", 0, uint16(pb.MessageCmdID_CID_MSG_TIME_RESPONSE), &pb.IMClientTimeRsp{ServerTime: u(5)}, func(t *testing.T, ev Event) {
			if e, ok := ev.(*OtherEvent); !ok || e.Msg.(*pb.IMClientTimeRsp).GetServerTime() != 5 {
				t.Errorf("%T", ev)
			}
		}},
	}
	c, fc := dialFake(t, nil, Options{NoDeliveryAck: true})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := tt.raw
			if tt.cmd != 0 {
				cmd = uint16(tt.cmd)
			}
			// A broken body first: dropped and counted, nothing emitted.
			bad := c.Stats().BadBodies
			fc.writeFrame(wire.AppendFrame(nil, wire.NewHeader(cmd, 0), []byte{0xff}))
			fc.write(cmd, 0, tt.body)
			ev := recvEvent(t, c)
			if ev.Header().CommandID != cmd {
				t.Fatalf("event for %s, want %s", pb.CommandName(ev.Header().CommandID), pb.CommandName(cmd))
			}
			tt.check(t, ev)
			if got := c.Stats().BadBodies; got != bad+1 {
				t.Errorf("BadBodies = %d, want %d", got, bad+1)
			}
		})
	}
	// An unknown command is dropped too; the client still answers.
	fc.writeFrame(wire.AppendFrame(nil, wire.Header{CommandID: 0x0999}, nil))
	fc.write(uint16(pb.MessageCmdID_CID_MSG_TIME_RESPONSE), 0, &pb.IMClientTimeRsp{ServerTime: proto.Uint32(6)})
	if e, ok := recvEvent(t, c).(*OtherEvent); !ok || e.Msg.(*pb.IMClientTimeRsp).GetServerTime() != 6 {
		t.Errorf("after an unknown command: %T", e)
	}
}

// TestHandlerAndAsync: events go to the Handler; SendMsgAsync callbacks get
// their own acks, in any order, and time out when no ack comes.
func TestHandlerAndAsync(t *testing.T) {
	evs := make(chan Event, 64) // more than the events sent: a Handler must not block
	c, _ := dialFake(t, func(fc *fakeConn, h wire.Header, body []byte) {
		if h.CommandID != uint16(pb.MessageCmdID_CID_MSG_DATA) {
			return
		}
		var m pb.IMMsgData
		if err := wire.Unmarshal(body, &m); err != nil {
			t.Error(err)
			return
		}
		if string(m.GetMsgData()) == "drop me" {
			return // as a server does over the rate limit: no ack
		}
		fc.write(uint16(pb.MessageCmdID_CID_MSG_DATA_ACK), h.Seq, &pb.IMMsgDataAck{UserId: m.FromUserId, SessionId: m.ToSessionId,
			MsgId: proto.Uint32(m.GetCreateTime()), SessionType: pb.SessionType_SESSION_TYPE_SINGLE.Enum()})
		fc.write(uint16(pb.BuddyListCmdID_CID_BUDDY_LIST_STATUS_NOTIFY), 0, &pb.IMUserStatNotify{UserStat: &pb.UserStat{UserId: proto.Uint32(1), Status: pb.UserStatType_USER_STATUS_ONLINE.Enum()}})
	}, Options{Handler: func(ev Event) { evs <- ev }})
	if c.Events() != nil {
		t.Error("Events() is not nil with a Handler")
	}
	const n = 50
	type res struct {
		want uint32
		ack  *pb.IMMsgDataAck
		err  error
	}
	results := make(chan res, n+1)
	for i := range n {
		m := c.NewTextMsg(2, "hi", false)
		m.CreateTime = proto.Uint32(uint32(1000 + i)) // the fake server acks it as the msg id
		want := uint32(1000 + i)
		if err := c.SendMsgAsync(m, 0, func(ack *pb.IMMsgDataAck, err error) { results <- res{want, ack, err} }); err != nil {
			t.Fatal(err)
		}
	}
	drop := c.NewTextMsg(2, "", false)
	drop.MsgData = []byte("drop me")
	start := time.Now()
	if err := c.SendMsgAsync(drop, 50*time.Millisecond, func(ack *pb.IMMsgDataAck, err error) { results <- res{0, ack, err} }); err != nil {
		t.Fatal(err)
	}
	for range n + 1 {
		select {
		case r := <-results:
			switch {
			case r.want == 0:
				if !errors.Is(r.err, ErrTimeout) {
					t.Errorf("unacked message: %v, want ErrTimeout", r.err)
				}
				if time.Since(start) < 50*time.Millisecond {
					t.Error("timed out before its timeout")
				}
			case r.err != nil:
				t.Errorf("message %d: %v", r.want, r.err)
			case r.ack.GetMsgId() != r.want:
				t.Errorf("message %d got the ack of %d", r.want, r.ack.GetMsgId())
			}
		case <-time.After(10 * time.Second):
			t.Fatal("callbacks missing")
		}
	}
	for range n {
		select {
		case ev := <-evs:
			if _, ok := ev.(*StatusEvent); !ok {
				t.Errorf("handler got %T", ev)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("handler events missing")
		}
	}
	if p := c.Stats().Pending; p != 0 {
		t.Errorf("%d pending", p)
	}
}

// TestHeartbeat: interval heartbeats are echoed and counted, Ping waits for
// the echo, and a server that stays silent closes the client.
func TestHeartbeat(t *testing.T) {
	tests := []struct {
		name    string
		echo    bool
		wantErr error
	}{
		{"echoed", true, nil},
		{"silent server", false, ErrHeartbeatTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			handle := echoHeartbeats
			if !tt.echo {
				handle = nil
			}
			c, fc := dialFake(t, handle, Options{Heartbeat: 20 * time.Millisecond, HeartbeatTimeout: 200 * time.Millisecond, Version: 6, Reserved: 0x30})
			for range 3 {
				h, f := fc.expect(uint16(pb.OtherCmdID_CID_OTHER_HEARTBEAT), false)
				if len(f) != wire.HeaderLen || h.ServiceID != uint16(pb.ServiceID_SID_OTHER) || h.Version != 6 || h.Reserved != 0x30 {
					t.Errorf("heartbeat %+v (%d bytes)", h, len(f))
				}
			}
			if tt.wantErr == nil {
				if err := c.Ping(testCtx(t)); err != nil {
					t.Fatal(err)
				}
				time.Sleep(300 * time.Millisecond) // past the timeout: echoes keep it alive
				if err := c.Err(); err != nil {
					t.Fatalf("client stopped: %v", err)
				}
				if s := c.Stats(); s.HeartbeatEchoes < 3 || s.HeartbeatsSent < s.HeartbeatEchoes {
					t.Errorf("stats %+v", s)
				}
				return
			}
			select {
			case _, ok := <-c.Events():
				if ok {
					t.Fatal("unexpected event")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("silent server did not time out")
			}
			if err := c.Err(); !errors.Is(err, tt.wantErr) || !errors.Is(err, ErrClosed) {
				t.Errorf("Err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// TestCloseAndCancel: pending calls fail with ErrClosed on Close and on the
// server closing, a cancelled context ends only its own call, a late reply
// to it becomes an event, and Close is idempotent.
func TestCloseAndCancel(t *testing.T) {
	t.Run("close fails pending calls", func(t *testing.T) {
		c, fc := dialFake(t, nil, Options{})
		errc := make(chan error, 1)
		go func() {
			_, err := c.UsersInfo(testCtx(t), []uint32{1})
			errc <- err
		}()
		fc.expect(uint16(pb.BuddyListCmdID_CID_BUDDY_LIST_USER_INFO_REQUEST), false)
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; !errors.Is(err, ErrClosed) {
			t.Errorf("pending call: %v, want ErrClosed", err)
		}
		if err := c.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if _, ok := <-c.Events(); ok {
			t.Error("events not closed")
		}
		if _, err := c.ServerTime(testCtx(t)); !errors.Is(err, ErrClosed) {
			t.Errorf("call after Close: %v", err)
		}
		if err := c.ReadAck(pb.SessionType_SESSION_TYPE_SINGLE, 1, 1); err == nil {
			t.Error("send after Close succeeded")
		}
	})
	t.Run("server closes", func(t *testing.T) {
		c, fc := dialFake(t, nil, Options{})
		errc := make(chan error, 1)
		go func() {
			_, err := c.Unread(testCtx(t))
			errc <- err
		}()
		fc.expect(uint16(pb.MessageCmdID_CID_MSG_UNREAD_CNT_REQUEST), false)
		fc.conn.Close()
		if err := <-errc; !errors.Is(err, ErrClosed) {
			t.Errorf("pending call: %v, want ErrClosed", err)
		}
		<-c.Done()
		if c.Err() == nil {
			t.Error("Err is nil after the server closed")
		}
	})
	t.Run("context cancel", func(t *testing.T) {
		c, fc := dialFake(t, nil, Options{})
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := c.ServerTime(ctx)
			errc <- err
		}()
		h, _ := fc.expect(uint16(pb.MessageCmdID_CID_MSG_TIME_REQUEST), false)
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled call: %v", err)
		}
		// The late reply is an event; the next call is answered normally.
		fc.write(uint16(pb.MessageCmdID_CID_MSG_TIME_RESPONSE), h.Seq, &pb.IMClientTimeRsp{ServerTime: proto.Uint32(1)})
		if _, ok := recvEvent(t, c).(*OtherEvent); !ok {
			t.Error("late reply is not an OtherEvent")
		}
		dctx, dcancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer dcancel()
		if _, err := c.ServerTime(dctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("unanswered call: %v, want DeadlineExceeded", err)
		}
		fc.expect(uint16(pb.MessageCmdID_CID_MSG_TIME_REQUEST), false) // the unanswered one
		go func() {
			h, _ := fc.expect(uint16(pb.MessageCmdID_CID_MSG_TIME_REQUEST), false)
			fc.write(uint16(pb.MessageCmdID_CID_MSG_TIME_RESPONSE), h.Seq, &pb.IMClientTimeRsp{ServerTime: proto.Uint32(1700000000)})
		}()
		if tm, err := c.ServerTime(testCtx(t)); err != nil || tm.Unix() != 1700000000 {
			t.Errorf("ServerTime = %v, %v", tm, err)
		}
		done, dcancel2 := context.WithCancel(context.Background())
		dcancel2()
		if _, err := c.ServerTime(done); !errors.Is(err, context.Canceled) {
			t.Errorf("call with a done context: %v", err)
		}
	})
}

// TestDialOptions: the local address is bound, odd header fields are
// written, and a dial to a closed port fails.
func TestDialOptions(t *testing.T) {
	srv := newFakeServer(t, nil)
	c, err := Dial(testCtx(t), srv.addr(), Options{LocalAddr: "127.0.0.2"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fc := srv.next()
	if ip := fc.conn.RemoteAddr().(*net.TCPAddr).IP.String(); ip != "127.0.0.2" {
		t.Errorf("server sees %s, want 127.0.0.2", ip)
	}
	if _, err := Dial(testCtx(t), srv.addr(), Options{LocalAddr: "no such host:x"}); err == nil {
		t.Error("bad local address accepted")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := Dial(testCtx(t), addr, Options{}); err == nil {
		t.Error("dial to a closed port succeeded")
	}
}

// TestCalls checks the request each call sends and how it reads the reply,
// against a server that answers from a table.
func TestCalls(t *testing.T) {
	u := proto.Uint32
	single := pb.SessionType_SESSION_TYPE_SINGLE.Enum()
	replies := map[uint16]func(req proto.Message) (uint16, proto.Message){
		0x0206: func(proto.Message) (uint16, proto.Message) {
			return 0x0207, &pb.IMRemoveSessionRsp{UserId: u(1), ResultCode: u(1), SessionType: single, SessionId: u(2)}
		},
		0x020a: func(r proto.Message) (uint16, proto.Message) {
			var l []*pb.UserStat
			for _, id := range r.(*pb.IMUsersStatReq).GetUserIdList() {
				l = append(l, &pb.UserStat{UserId: u(id), Status: pb.UserStatType_USER_STATUS_OFFLINE.Enum()})
			}
			return 0x020b, &pb.IMUsersStatRsp{UserId: u(1), UserStatList: l}
		},
		0x0108: func(proto.Message) (uint16, proto.Message) { return 0x0109, nil }, // the reference's empty body
		0x010e: func(proto.Message) (uint16, proto.Message) {
			return 0x010f, &pb.IMQueryPushShieldRsp{UserId: u(1), ResultCode: u(0), ShieldStatus: u(1)}
		},
		0x0405: func(r proto.Message) (uint16, proto.Message) {
			q := r.(*pb.IMGroupCreateReq)
			return 0x0406, &pb.IMGroupCreateRsp{UserId: u(1), ResultCode: u(0), GroupId: u(77), GroupName: q.GroupName, UserIdList: q.MemberIdList}
		},
		0x030b: func(proto.Message) (uint16, proto.Message) {
			return 0x030c, &pb.IMGetLatestMsgIdRsp{UserId: u(1), SessionType: single, SessionId: u(2), LatestMsgId: u(42)}
		},
	}
	reqs := make(chan proto.Message, 16)
	c, _ := dialFake(t, func(fc *fakeConn, h wire.Header, body []byte) {
		f, ok := replies[h.CommandID]
		if !ok {
			return
		}
		req, err := wire.DecodeBody(h.CommandID, body)
		if err != nil {
			t.Errorf("client sent a bad %s: %v", pb.CommandName(h.CommandID), err)
			return
		}
		reqs <- req
		cmd, rsp := f(req)
		fc.write(cmd, h.Seq, rsp)
	}, Options{})
	ctx := testCtx(t)
	tests := []struct {
		name string
		run  func() error
		req  func(proto.Message) bool
	}{
		{"remove session refused", func() error {
			err := c.RemoveSession(ctx, pb.SessionType_SESSION_TYPE_SINGLE, 2)
			var re *ResultError
			if !errors.As(err, &re) || re.Code != 1 || re.Cmd != 0x0207 {
				return errors.New("want ResultError 1, got " + errString(err))
			}
			return nil
		}, func(m proto.Message) bool { return m.(*pb.IMRemoveSessionReq).GetSessionId() == 2 }},
		{"users stat", func() error {
			l, err := c.UsersStat(ctx, []uint32{3, 4})
			if err != nil || len(l) != 2 || l[1].GetUserId() != 4 {
				return errors.New("bad stat list " + errString(err))
			}
			return nil
		}, func(m proto.Message) bool { return len(m.(*pb.IMUsersStatReq).GetUserIdList()) == 2 }},
		{"device token with the empty reply", func() error { return c.DeviceToken(ctx, "tok") },
			func(m proto.Message) bool {
				r := m.(*pb.IMDeviceTokenReq)
				return r.GetDeviceToken() == "tok" && r.GetClientType() == pb.ClientType_CLIENT_TYPE_ANDROID
			}},
		{"query push shield", func() error {
			s, err := c.QueryPushShield(ctx)
			if err != nil || s != 1 {
				return errors.New("bad shield " + errString(err))
			}
			return nil
		}, func(proto.Message) bool { return true }},
		{"create group is temporary", func() error {
			rsp, err := c.CreateGroup(ctx, "team", "", []uint32{1, 2})
			if err != nil || rsp.GetGroupId() != 77 {
				return errors.New("bad create " + errString(err))
			}
			return nil
		}, func(m proto.Message) bool {
			r := m.(*pb.IMGroupCreateReq)
			return r.GetGroupType() == pb.GroupType_GROUP_TYPE_TMP && r.GetGroupName() == "team"
		}},
		{"latest msg id", func() error {
			id, err := c.LatestMsgID(ctx, pb.SessionType_SESSION_TYPE_SINGLE, 2)
			if err != nil || id != 42 {
				return errors.New("bad id " + errString(err))
			}
			return nil
		}, func(m proto.Message) bool { return m.(*pb.IMGetLatestMsgIdReq).GetSessionId() == 2 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(); err != nil {
				t.Fatal(err)
			}
			select {
			case req := <-reqs:
				if !tt.req(req) {
					t.Errorf("request = %v", req)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no request seen")
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
