package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"teamtalk/appliance/ctlapi"
	"teamtalk/client"
	"teamtalk/wire/pb"
)

// loginFrom logs in from a chosen loopback source address (any 127.x.y.z
// works on Linux), so tests can play many remote hosts.
func loginFrom(addr, local, name, password string) (*client.Client, error) {
	return loginWith(addr, name, password, client.Options{ClientType: android, LocalAddr: local, EventBuffer: 64})
}

// TestSecurity runs one appliance at debug log level with small login
// limits and checks: failed logins are limited per name (dbproxy) and per
// source address (msg) with the reference's result 6; a forged from_user_id
// is replaced by the session's user; the control socket is 0660; fault
// injection is off unless configured; and at the end, nothing in the whole
// log holds a password (plain or md5) or a message body (plain or
// encrypted).
func TestSecurity(t *testing.T) {
	dir := t.TempDir()
	seed(t, dir, 0)
	a := start(t, "sec", dir, "-set", "log.level=debug",
		"-set", "msg.login_fail_per_ip=3", "-set", "dbproxy.login_fail_limit=4")
	addr := a.addr("msg.listen")
	ctx, cancel := ctx10()
	defer cancel()

	const secret = "Zq8-secret-Pa55word"
	if _, err := a.ctl.AddUser(ctx, ctlapi.UserAdd{Name: "dave", Password: secret, Depart: "dev"}); err != nil {
		t.Fatalf("add dave: %v", err)
	}
	var wrong []string // every password tried, for the log check

	t.Run("per-address limit", func(t *testing.T) {
		// Three wrong passwords from 127.0.0.20, each for another name.
		for i, name := range []string{"alice", "bob", "carol"} {
			pw := fmt.Sprintf("guess-%d-for-%s", i, name)
			wrong = append(wrong, pw)
			if _, err := loginFrom(addr, "127.0.0.20", name, pw); loginRefusal(err) != pb.ResultType_REFUSE_REASON_DB_VALIDATE_FAILED {
				t.Fatalf("wrong password %d: %v, want result 6", i, err)
			}
		}
		// Now even dave's right password is refused from that address...
		if _, err := loginFrom(addr, "127.0.0.20", "dave", secret); loginRefusal(err) != pb.ResultType_REFUSE_REASON_DB_VALIDATE_FAILED {
			t.Fatalf("right password from a blocked address: %v, want result 6", err)
		}
		// ...but not from another one.
		c, err := loginFrom(addr, "127.0.0.21", "dave", secret)
		if err != nil {
			t.Fatalf("dave from another address: %v", err)
		}
		c.Close()
		st := msgStatus(t, a)
		if st.Counters["logins_blocked_ip"] != 1 {
			t.Errorf("logins_blocked_ip = %d, want 1", st.Counters["logins_blocked_ip"])
		}
	})

	t.Run("per-name limit", func(t *testing.T) {
		// Four wrong passwords for carol, each from a fresh address, so
		// only dbproxy's per-name limit can stop the fifth.
		for i := 0; i < 4; i++ {
			pw := fmt.Sprintf("carol-guess-%d", i)
			wrong = append(wrong, pw)
			if _, err := loginFrom(addr, fmt.Sprintf("127.0.1.%d", i+1), "carol", pw); loginRefusal(err) != pb.ResultType_REFUSE_REASON_DB_VALIDATE_FAILED {
				t.Fatalf("wrong password %d: %v, want result 6", i, err)
			}
		}
		if _, err := loginFrom(addr, "127.0.1.9", "carol", "123456"); loginRefusal(err) != pb.ResultType_REFUSE_REASON_DB_VALIDATE_FAILED {
			t.Fatalf("carol's right password past the name's limit: %v, want result 6", err)
		}
		c, err := loginFrom(addr, "127.0.1.9", "bob", "123456")
		if err != nil {
			t.Fatalf("bob from the same address: %v", err)
		}
		c.Close()
	})

	const body = "body-that-must-never-be-logged-7f3a"
	t.Run("from_user_id comes from the session", func(t *testing.T) {
		dave, err := loginFrom(addr, "127.0.0.30", "dave", secret)
		if err != nil {
			t.Fatal(err)
		}
		defer dave.Close()
		bob := login(t, addr, "bob", windows)
		alice := login(t, addr, "alice", android)
		m := dave.NewTextMsg(bob.UserID(), body, false)
		m.FromUserId = proto.Uint32(alice.UserID()) // forged: dave claims to be alice
		id, err := dave.SendMsg(ctx, m)
		if err != nil {
			t.Fatalf("send: %v", err)
		}
		got, text := bob.message(dave.UserID())
		if got.GetMsgId() != id || text != body {
			t.Fatalf("bob got id %d %q, want %d %q", got.GetMsgId(), text, id, body)
		}
		// The stored copy names dave too: it is in dave's session with bob,
		// and alice has no session with bob.
		hist, err := bob.MsgList(ctx, pb.SessionType_SESSION_TYPE_SINGLE, dave.UserID(), 0, 10)
		if err != nil || len(hist.GetMsgList()) != 1 || hist.GetMsgList()[0].GetFromSessionId() != dave.UserID() {
			t.Fatalf("bob's history with dave: %v %v", hist, err)
		}
		hist, err = bob.MsgList(ctx, pb.SessionType_SESSION_TYPE_SINGLE, alice.UserID(), 0, 10)
		if err != nil || len(hist.GetMsgList()) != 0 {
			t.Fatalf("bob's history with alice must be empty: %v %v", hist, err)
		}
		alice.none("message claiming to be from alice", 200*time.Millisecond, func(ev client.Event) bool {
			_, ok := ev.(*client.MessageEvent)
			return ok
		})
	})

	t.Run("control socket is 0660", func(t *testing.T) {
		fi, err := os.Stat(a.ctl.SocketPath())
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o660 {
			t.Fatalf("control socket mode %v, want a socket with 0660", fi.Mode())
		}
	})

	t.Run("fault injection off by default", func(t *testing.T) {
		_, err := a.ctl.Panic(ctx, "route")
		var ce *ctlapi.Error
		if !errors.As(err, &ce) || ce.Status != http.StatusForbidden {
			t.Fatalf("panic without supervisor.test_hooks: %v, want 403", err)
		}
		if n := a.restarts("route"); n != 0 {
			t.Fatalf("route restarted %d times", n)
		}
	})

	t.Run("no password or message body in the logs", func(t *testing.T) {
		a.stop()
		logs := a.logs.String()
		if !strings.Contains(logs, "level=DEBUG") {
			t.Fatalf("the run did not log at debug level; the check would prove nothing:\n%s", logs)
		}
		cipher, err := client.NewCipher(client.DefaultKey)
		if err != nil {
			t.Fatal(err)
		}
		forbidden := map[string]string{
			"message body":           body,
			"encrypted message body": string(cipher.Encrypt([]byte(body))),
		}
		for _, pw := range append(wrong, secret, "123456") {
			forbidden["password "+pw] = pw
			forbidden["md5 of password "+pw] = client.PasswordHash(pw)
		}
		for what, s := range forbidden {
			if strings.Contains(logs, s) {
				t.Errorf("the logs hold a %s (%q)", what, s)
			}
		}
	})
}

// msgStatus returns the status of the msg service of a.
func msgStatus(t *testing.T, a *appliance) ctlapi.ServiceStatus {
	t.Helper()
	return serviceStatus(t, a, "msg")
}
