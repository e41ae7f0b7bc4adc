package client

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// recvEvent returns the next event, failing the test after 5 s.
func recvEvent(t *testing.T, c *Client) Event {
	t.Helper()
	select {
	case ev, ok := <-c.Events():
		if !ok {
			t.Fatalf("events closed: %v", c.Err())
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
		return nil
	}
}

// eventOf returns the next event, which must have type E.
func eventOf[E Event](t *testing.T, c *Client) E {
	t.Helper()
	ev := recvEvent(t, c)
	e, ok := ev.(E)
	if !ok {
		t.Fatalf("event %T (%s), want %T", ev, pb.CommandName(ev.Header().CommandID), *new(E))
	}
	return e
}

// sameFrame checks that the client sent exactly the recorded request (the
// seq included: the client counts from the recorded first seq).
func sameFrame(t *testing.T, fc *fakeConn, want vecFrame) {
	t.Helper()
	_, got := fc.expect(want.h.CommandID, true)
	if !bytes.Equal(got, want.frame()) {
		t.Errorf("client sent\n%x\nrecorded (line %d)\n%x", got, want.line, want.frame())
	}
}

// TestPlayback replays the sessions of real clients recorded in
// vectors/port_8000.txt: the client must send the recorded request frames
// byte for byte and understand every recorded answer.
func TestPlayback(t *testing.T) {
	all := loadClientVectors(t)
	tests := []struct {
		name   string
		stream int
		run    func(t *testing.T, ctx context.Context, c *Client, fc *fakeConn, steps []step)
	}{
		{"alice logs in, lists users, sends, lists sessions and history", 27, func(t *testing.T, ctx context.Context, c *Client, fc *fakeConn, steps []step) {
			res, err := c.Login(ctx, "alice", "123456")
			if err != nil {
				t.Fatal(err)
			}
			sameFrame(t, fc, steps[0].req)
			u := res.User
			if u.GetUserId() != 1 || u.GetUserNickName() != "Alice" || u.GetEmail() != "alice@example.com" || u.GetSignInfo() != "hi from alice" || c.UserID() != 1 {
				t.Errorf("user = %v", u)
			}
			if res.Text != "成功" || res.OnlineStatus != pb.UserStatType_USER_STATUS_ONLINE || res.ServerTime.Year() < 2020 {
				t.Errorf("login result = %+v", res)
			}
			st := eventOf[*StatusEvent](t, c)
			if s := st.Notify.GetUserStat(); s.GetUserId() != 1 || s.GetStatus() != pb.UserStatType_USER_STATUS_ONLINE || st.Header().Seq != 0 {
				t.Errorf("status notify = %v", st.Notify)
			}

			users, err := c.AllUsers(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			sameFrame(t, fc, steps[1].req)
			var names []string
			for _, u := range users.GetUserList() {
				names = append(names, u.GetUserDomain())
			}
			if len(names) != 3 || names[0] != "alice" || names[1] != "bob" || names[2] != "carol" || users.GetLatestUpdateTime() == 0 {
				t.Errorf("all users = %v (latest %d)", names, users.GetLatestUpdateTime())
			}

			for i, wantID := range []uint32{1, 2, 1} {
				var m pb.IMMsgData
				if err := wire.Unmarshal(steps[2+i].req.body, &m); err != nil {
					t.Fatal(err)
				}
				id, err := c.SendMsg(ctx, &m)
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				sameFrame(t, fc, steps[2+i].req)
				if id != wantID {
					t.Errorf("message %d: id %d, want %d", i, id, wantID)
				}
			}

			sessions, err := c.RecentSessions(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			sameFrame(t, fc, steps[5].req)
			if l := sessions.GetContactSessionList(); len(l) != 2 || l[0].GetSessionId() != 3 || l[1].GetSessionId() != 2 || string(l[1].GetLatestMsgData()) != "plain hello" {
				t.Errorf("sessions = %v", l)
			}

			hist, err := c.MsgList(ctx, pb.SessionType_SESSION_TYPE_SINGLE, 2, 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			sameFrame(t, fc, steps[6].req)
			l := hist.GetMsgList()
			if len(l) != 2 || l[0].GetMsgId() != 2 || l[1].GetMsgId() != 1 {
				t.Fatalf("history = %v", l)
			}
			if text, err := c.Cipher().Decrypt(l[1].GetMsgData()); err != nil || string(text) != "hello bob from alice" {
				t.Errorf("history message 1 = %q, %v", text, err)
			}
		}},
		{"bob receives, acks, reads unread and sessions", 25, func(t *testing.T, ctx context.Context, c *Client, fc *fakeConn, steps []step) {
			if _, err := c.Login(ctx, "bob", "123456"); err != nil {
				t.Fatal(err)
			}
			sameFrame(t, fc, steps[0].req)
			for _, want := range []uint32{2, 1} {
				st := eventOf[*StatusEvent](t, c)
				if st.Notify.GetUserStat().GetUserId() != want {
					t.Errorf("status notify for %d, want %d", st.Notify.GetUserStat().GetUserId(), want)
				}
			}
			for i, want := range []string{"hello bob from alice", "plain hello"} {
				me := eventOf[*MessageEvent](t, c)
				m := me.Msg
				if m.GetFromUserId() != 1 || m.GetToSessionId() != 2 || m.GetMsgId() != uint32(i+1) || me.Header().Seq != 0 {
					t.Errorf("message %d = %v", i, m)
				}
				text, err := c.Text(m)
				if i == 0 && (err != nil || text != want) {
					t.Errorf("message %d text = %q, %v; want %q", i, text, err, want)
				}
				if i == 1 && string(m.GetMsgData()) != want {
					t.Errorf("message %d data = %q", i, m.GetMsgData())
				}
				// The client acknowledged the delivery by itself.
				h, f := fc.expect(uint16(pb.MessageCmdID_CID_MSG_DATA_ACK), true)
				var ack pb.IMMsgDataAck
				if err := wire.Unmarshal(f[wire.HeaderLen:], &ack); err != nil {
					t.Fatal(err)
				}
				if h.Seq != 0 || ack.GetUserId() != 2 || ack.GetSessionId() != 1 || ack.GetMsgId() != m.GetMsgId() || ack.GetSessionType() != pb.SessionType_SESSION_TYPE_SINGLE {
					t.Errorf("delivery ack seq %d = %v", h.Seq, &ack)
				}
				if err := c.ReadAck(pb.SessionType_SESSION_TYPE_SINGLE, 1, m.GetMsgId()); err != nil {
					t.Fatal(err)
				}
				_, f = fc.expect(uint16(pb.MessageCmdID_CID_MSG_READ_ACK), true)
				var ra pb.IMMsgDataReadAck
				if err := wire.Unmarshal(f[wire.HeaderLen:], &ra); err != nil {
					t.Fatal(err)
				}
				if ra.GetUserId() != 2 || ra.GetSessionId() != 1 || ra.GetMsgId() != m.GetMsgId() {
					t.Errorf("read ack = %v", &ra)
				}
			}
			unread, err := c.Unread(ctx)
			if err != nil {
				t.Fatal(err)
			}
			sameFrame(t, fc, steps[3].req)
			if l := unread.GetUnreadinfoList(); unread.GetTotalCnt() != 2 || len(l) != 1 || l[0].GetSessionId() != 1 || l[0].GetUnreadCnt() != 2 || l[0].GetLatestMsgId() != 2 {
				t.Errorf("unread = %v", unread)
			}
			sessions, err := c.RecentSessions(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			sameFrame(t, fc, steps[4].req)
			if l := sessions.GetContactSessionList(); len(l) != 1 || l[0].GetSessionId() != 1 {
				t.Errorf("sessions = %v", l)
			}
			st := eventOf[*StatusEvent](t, c)
			if s := st.Notify.GetUserStat(); s.GetUserId() != 1 || s.GetStatus() != pb.UserStatType_USER_STATUS_OFFLINE {
				t.Errorf("status notify = %v", s)
			}
			if got := c.Stats().DeliveryAcks; got != 2 {
				t.Errorf("DeliveryAcks = %d, want 2", got)
			}
		}},
		{"carol logs in and finds her offline message", 31, func(t *testing.T, ctx context.Context, c *Client, fc *fakeConn, steps []step) {
			if _, err := c.LoginHash(ctx, "carol", "secret"); err != nil {
				t.Fatal(err)
			}
			sameFrame(t, fc, steps[0].req)
			eventOf[*StatusEvent](t, c)
			unread, err := c.Unread(ctx)
			if err != nil {
				t.Fatal(err)
			}
			sameFrame(t, fc, steps[1].req)
			if unread.GetTotalCnt() != 1 {
				t.Errorf("unread = %v", unread)
			}
			hist, err := c.MsgList(ctx, pb.SessionType_SESSION_TYPE_SINGLE, 1, 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			sameFrame(t, fc, steps[2].req)
			if l := hist.GetMsgList(); len(l) != 1 || l[0].GetFromSessionId() != 1 {
				t.Fatalf("history = %v", l)
			}
			if text, err := c.Cipher().Decrypt(hist.GetMsgList()[0].GetMsgData()); err != nil || string(text) != "offline msg for carol" {
				t.Errorf("text = %q, %v", text, err)
			}
		}},
		{"wrong password is a LoginError", 29, func(t *testing.T, ctx context.Context, c *Client, fc *fakeConn, steps []step) {
			_, err := c.LoginHash(ctx, "carol", "wrongpass")
			sameFrame(t, fc, steps[0].req)
			var le *LoginError
			if !errors.As(err, &le) || le.Code != pb.ResultType_REFUSE_REASON_DB_VALIDATE_FAILED || le.Text != "用户名/密码错误" {
				t.Fatalf("err = %v, want LoginError 6", err)
			}
			if c.UserID() != 0 {
				t.Errorf("UserID = %d after a refused login", c.UserID())
			}
		}},
		{"unknown user is a LoginError", 33, func(t *testing.T, ctx context.Context, c *Client, fc *fakeConn, steps []step) {
			_, err := c.LoginHash(ctx, "nosuchuser", "x")
			sameFrame(t, fc, steps[0].req)
			var le *LoginError
			if !errors.As(err, &le) || le.Code != pb.ResultType_REFUSE_REASON_DB_VALIDATE_FAILED {
				t.Fatalf("err = %v, want LoginError 6", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps := sessionScript(t, all, tt.stream)
			srv := newFakeServer(t, playback(t, steps))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := Dial(ctx, srv.addr(), Options{
				ClientType:    pb.ClientType_CLIENT_TYPE_WINDOWS, // what the capture's client sent
				ClientVersion: "1.0",
				SeqStart:      steps[0].req.h.Seq,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			fc := srv.next()
			tt.run(t, ctx, c, fc, steps)
		})
	}
}
