package e2e

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"teamtalk/client"
	"teamtalk/wire/pb"
)

const (
	android = pb.ClientType_CLIENT_TYPE_ANDROID
	ios     = pb.ClientType_CLIENT_TYPE_IOS
	windows = pb.ClientType_CLIENT_TYPE_WINDOWS
	mac     = pb.ClientType_CLIENT_TYPE_MAC
)

// backend is where an appliance keeps its IM store and how the test users
// get into it.
type backend struct {
	// args are A's extra teamtalkd arguments (the store's -set flags).
	args []string
	// preseed fills A's data dir before it starts (bolt: im.db); nil for none.
	preseed func(t *testing.T, dir string, extra int)
	// postseed creates the users through A's control API once it runs; nil
	// for none.
	postseed func(t *testing.T, a *appliance, extra int)
}

// boltBackend is the default: im.db in A's data dir, seeded before start.
func boltBackend() backend { return backend{preseed: seed} }

// twoHosts starts appliance A with every service and appliance B with only
// msg, pointed at A's dbproxy, route and login: the multi-host layout on
// one box. Users are alice (1), bob (2), carol (3).
func twoHosts(t *testing.T) (a, b *appliance) {
	t.Helper()
	return twoHostsOn(t, boltBackend())
}

// twoHostsOn is twoHosts with A's IM store on be.
func twoHostsOn(t *testing.T, be backend) (a, b *appliance) {
	t.Helper()
	dirA := t.TempDir()
	if be.preseed != nil {
		be.preseed(t, dirA, 0)
	}
	a = start(t, "A", dirA, be.args...)
	if be.postseed != nil {
		be.postseed(t, a, 0)
	}
	return a, startMsgOnly(t, "B", a)
}

func TestEndToEnd(t *testing.T) {
	endToEnd(t, boltBackend())
}

// endToEnd runs the core IM scenarios against A (every service, its store
// on be) and B (only msg, pointed at A).
func endToEnd(t *testing.T, be backend) {
	a, b := twoHostsOn(t, be)
	msgA, msgB := a.addr("msg.listen"), b.addr("msg.listen")

	t.Run("login server hands out a registered msg server", func(t *testing.T) {
		ctx, cancel := ctx10()
		defer cancel()
		url := "http://" + a.addr("login.http_listen") + "/msg_server"
		eventually(t, 10*time.Second, "both msg servers registered", func() bool {
			ms, err := a.ctl.MsgServers(ctx)
			return err == nil && len(ms) == 2
		})
		info, err := client.Resolve(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Addr(); got != msgA && got != msgB {
			t.Fatalf("login handed out %s, want %s or %s", got, msgA, msgB)
		}
		c, err := tryLogin(info.Addr(), "carol", "123456", android)
		if err != nil {
			t.Fatalf("login at the handed-out server: %v", err)
		}
		c.Close()
	})

	alice := login(t, msgA, "alice", android)
	bob := login(t, msgB, "bob", android)
	aliceID, bobID := alice.UserID(), bob.UserID()

	t.Run("messages both ways across msg servers", func(t *testing.T) {
		ctx, cancel := ctx10()
		defer cancel()
		var last uint32
		for i := 0; i < 5; i++ {
			id, err := alice.SendText(ctx, bobID, fmt.Sprintf("hello bob %d", i))
			if err != nil {
				t.Fatalf("send %d: %v", i, err)
			}
			if id <= last {
				t.Fatalf("msg id %d after %d", id, last)
			}
			last = id
			m, text := bob.message(aliceID)
			if text != fmt.Sprintf("hello bob %d", i) || m.GetMsgId() != id {
				t.Fatalf("bob got %q id %d, want id %d", text, m.GetMsgId(), id)
			}
		}
		id, err := bob.SendText(ctx, aliceID, "hi alice")
		if err != nil {
			t.Fatal(err)
		}
		if id != last+1 {
			t.Errorf("reply id %d, want %d (one id sequence per pair)", id, last+1)
		}
		if _, text := alice.message(bobID); text != "hi alice" {
			t.Fatalf("alice got %q", text)
		}
	})

	t.Run("offline message through unread and history, read ack notifies the other device", func(t *testing.T) {
		ctx, cancel := ctx10()
		defer cancel()
		id, err := alice.SendText(ctx, 3, "carol, are you there?")
		if err != nil {
			t.Fatal(err)
		}
		phone := login(t, msgB, "carol", android)
		pc := login(t, msgA, "carol", windows)
		un, err := phone.Unread(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, u := range un.GetUnreadinfoList() {
			if u.GetSessionId() == aliceID {
				found = true
				if u.GetUnreadCnt() != 1 || u.GetLatestMsgId() != id {
					t.Errorf("unread %+v, want 1 with latest id %d", u, id)
				}
			}
		}
		if !found {
			t.Fatalf("no unread entry for alice: %+v", un)
		}
		hist, err := phone.MsgList(ctx, pb.SessionType_SESSION_TYPE_SINGLE, aliceID, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist.GetMsgList()) != 1 || hist.GetMsgList()[0].GetMsgId() != id {
			t.Fatalf("history %+v", hist.GetMsgList())
		}
		if err := phone.ReadAck(pb.SessionType_SESSION_TYPE_SINGLE, aliceID, id); err != nil {
			t.Fatal(err)
		}
		pc.next("read notify", 10*time.Second, func(ev client.Event) bool {
			r, ok := ev.(*client.ReadNotifyEvent)
			return ok && r.Notify.GetSessionId() == aliceID && r.Notify.GetMsgId() == id
		})
		eventually(t, 5*time.Second, "unread cleared", func() bool {
			un, err := phone.Unread(ctx)
			if err != nil {
				return false
			}
			for _, u := range un.GetUnreadinfoList() {
				if u.GetSessionId() == aliceID && u.GetUnreadCnt() > 0 {
					return false
				}
			}
			return true
		})
	})

	t.Run("duplicate login kicks the same family only", func(t *testing.T) {
		first := login(t, msgA, "carol", ios)
		pc := login(t, msgB, "carol", mac)
		second := login(t, msgB, "carol", android)
		first.next("kick", 10*time.Second, func(ev client.Event) bool {
			_, ok := ev.(*client.KickEvent)
			return ok
		})
		pc.none("kick", 300*time.Millisecond, func(ev client.Event) bool {
			_, ok := ev.(*client.KickEvent)
			return ok
		})
		_ = second
	})

	t.Run("PC presence is broadcast to PC clients", func(t *testing.T) {
		watcher := login(t, msgA, "alice", windows)
		bobPC := login(t, msgB, "bob", windows)
		watcher.next("bob online", 10*time.Second, func(ev client.Event) bool {
			s, ok := ev.(*client.StatusEvent)
			return ok && s.Notify.GetUserStat().GetUserId() == bobID &&
				s.Notify.GetUserStat().GetStatus() == pb.UserStatType_USER_STATUS_ONLINE
		})
		bobPC.Close()
		watcher.next("bob offline", 10*time.Second, func(ev client.Event) bool {
			s, ok := ev.(*client.StatusEvent)
			return ok && s.Notify.GetUserStat().GetUserId() == bobID &&
				s.Notify.GetUserStat().GetStatus() == pb.UserStatType_USER_STATUS_OFFLINE
		})
	})

	t.Run("typing indicator is relayed", func(t *testing.T) {
		if err := alice.P2PCmd(bobID, `{"type":"typing"}`); err != nil {
			t.Fatal(err)
		}
		ev := bob.next("p2p cmd", 10*time.Second, func(ev client.Event) bool {
			_, ok := ev.(*client.P2PCmdEvent)
			return ok
		}).(*client.P2PCmdEvent)
		if ev.Cmd.GetFromUserId() != aliceID || ev.Cmd.GetCmdMsgData() != `{"type":"typing"}` {
			t.Fatalf("p2p %+v", ev.Cmd)
		}
	})

	t.Run("wrong password is refused with the reference's code", func(t *testing.T) {
		_, err := tryLogin(msgA, "alice", "wrong", android)
		var le *client.LoginError
		if !errors.As(err, &le) || le.Code != pb.ResultType_REFUSE_REASON_DB_VALIDATE_FAILED {
			t.Fatalf("wrong password: %v", err)
		}
	})

	t.Run("msg server restart and client reconnect", func(t *testing.T) {
		doomed := login(t, msgB, "carol", android)
		b.restart("msg")
		select {
		case <-doomed.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("client not disconnected by the msg restart")
		}
		var again *client.Client
		eventually(t, 15*time.Second, "login after msg restart", func() bool {
			c, err := tryLogin(msgB, "carol", "123456", android)
			if err != nil {
				return false
			}
			again = c
			return true
		})
		defer again.Close()
		ctx, cancel := ctx10()
		defer cancel()
		if _, err := again.SendText(ctx, aliceID, "back"); err != nil {
			t.Fatal(err)
		}
		if _, text := alice.message(3); text != "back" {
			t.Fatalf("alice got %q", text)
		}
	})

	t.Run("dbproxy restart mid-traffic loses no acked message", func(t *testing.T) {
		acked := sendWhile(t, a, "bob", msgA, func() { a.restart("dbproxy") })
		if len(acked) == 0 {
			t.Fatal("no message acked around the dbproxy restart")
		}
		t.Logf("%d messages acked around the dbproxy restart", len(acked))
		ctx, cancel := ctx10()
		defer cancel()
		reader := login(t, msgA, "bob", windows) // bob's first connection was on B, restarted above
		hist, err := reader.MsgList(ctx, pb.SessionType_SESSION_TYPE_SINGLE, aliceID, 0, uint32(len(acked)+50))
		if err != nil {
			t.Fatal(err)
		}
		have := map[uint32]bool{}
		for _, m := range hist.GetMsgList() {
			have[m.GetMsgId()] = true
		}
		for _, id := range acked {
			if !have[id] {
				t.Errorf("acked msg %d missing from history", id)
			}
		}
	})
}

// sendWhile has alice (a fresh connection at addr) send messages to the
// named peer in a loop while during runs, and returns the ids that were
// acked. Sends that fail (no ack while the db link is down) are expected.
func sendWhile(t *testing.T, a *appliance, peer, addr string, during func()) []uint32 {
	t.Helper()
	c, err := tryLogin(addr, "alice", "123456", ios)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stop := make(chan struct{})
	done := make(chan []uint32)
	go func() {
		var acked []uint32
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- acked
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			id, err := c.SendText(ctx, 2, fmt.Sprintf("during restart %d", i))
			cancel()
			if err == nil {
				acked = append(acked, id)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	time.Sleep(200 * time.Millisecond)
	during()
	time.Sleep(time.Second)
	close(stop)
	return <-done
}

// startMsgOnly starts a teamtalkd that runs msg alone, linked to a's
// dbproxy, route and login (no file or push), as a second msg host does.
func startMsgOnly(t *testing.T, name string, a *appliance) *appliance {
	t.Helper()
	return start(t, name, "",
		"-set", `services=["msg"]`,
		"-set", fmt.Sprintf(`msg.dbproxy=["%s"]`, a.addr("dbproxy.listen")),
		"-set", fmt.Sprintf(`msg.route=["%s"]`, a.addr("route.listen")),
		"-set", fmt.Sprintf(`msg.login=["%s"]`, a.addr("login.msgserver_listen")),
		"-set", `msg.file=[]`, "-set", "msg.push=",
	)
}
