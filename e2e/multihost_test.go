package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"teamtalk/client"
	"teamtalk/wire/pb"
)

// hostArgs binds every listener of an instance to ip (a loopback address of
// its own, standing in for a host) on kernel-chosen ports, and has its msg
// server advertise ip to clients.
func hostArgs(ip string) []string {
	var args []string
	for _, k := range []string{
		"login.http_listen", "login.client_listen", "login.msgserver_listen", "msg.listen", "route.listen",
		"dbproxy.listen", "file.client_listen", "file.msg_listen", "msfs.listen", "httpmsg.listen",
		"push.listen", "metrics.listen",
	} {
		args = append(args, "-set", k+"="+ip+":0")
	}
	return append(args, "-set", "msg.advertise_ip1="+ip, "-set", "msg.advertise_ip2="+ip,
		"-set", "msg.file=[]", "-set", "msg.push=")
}

// peerArgs points an instance's msg at the route and login of a, and at
// the given dbproxy.
func peerArgs(a *appliance, dbproxy string) []string {
	return []string{
		"-set", fmt.Sprintf(`msg.dbproxy=["%s"]`, dbproxy),
		"-set", fmt.Sprintf(`msg.route=["%s"]`, a.addr("route.listen")),
		"-set", fmt.Sprintf(`msg.login=["%s"]`, a.addr("login.msgserver_listen")),
	}
}

// ttctlOn runs the ttctl binary against a's control socket.
func ttctlOn(t *testing.T, a *appliance, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(filepath.Join(bins, "ttctl"), append([]string{"-socket", filepath.Join(a.dir, "teamtalkd.sock")}, args...)...).CombinedOutput()
	return string(out), err
}

// TestMultiHost runs the multi-host layout of the README on one box, each
// "host" on a loopback address of its own, all on one MariaDB database:
//
//	A 127.0.0.2: login, route, dbproxy, msg  (the database's schema by -init-db)
//	B 127.0.0.3: msg only, using A's dbproxy, route and login
//	C 127.0.0.4: msg and a dbproxy of its own on the same database
//
// Clients on the three msg servers chat; every message lands in MariaDB
// once, with one id sequence per pair however many dbproxies allocate it.
func TestMultiHost(t *testing.T) {
	dsn := mysqlDatabase(t)
	store := storeArgs(dsn, false)
	if code, out := teamtalkd(t, append(append([]string{"-data", t.TempDir()}, store...), "-init-db")...); code != 0 {
		t.Fatalf("teamtalkd -init-db: exit %d\n%s", code, out)
	}
	args := append(hostArgs("127.0.0.2"), store...)
	a := start(t, "A", "", append(args, "-set", `services=["login","route","dbproxy","msg"]`)...)
	for _, cmd := range [][]string{
		{"depart", "add", "dev"},
		{"user", "add", "alice", "-password", "123456", "-depart", "dev"},
		{"user", "add", "bob", "-password", "123456", "-depart", "dev"},
		{"user", "add", "carol", "-password", "123456", "-depart", "dev"},
	} {
		if out, err := ttctlOn(t, a, cmd...); err != nil {
			t.Fatalf("ttctl %v on A: %v\n%s", cmd, err, out)
		}
	}
	b := start(t, "B", "", append(append(hostArgs("127.0.0.3"), peerArgs(a, a.addr("dbproxy.listen"))...),
		"-set", `services=["msg"]`)...)
	c := start(t, "C", "", append(append(append(hostArgs("127.0.0.4"), store...), peerArgs(a, "dbproxy")...),
		"-set", `services=["msg","dbproxy"]`)...)

	for _, h := range []struct {
		a  *appliance
		ip string
	}{{a, "127.0.0.2"}, {b, "127.0.0.3"}, {c, "127.0.0.4"}} {
		if got := h.a.addr("msg.listen"); !strings.HasPrefix(got, h.ip+":") {
			t.Fatalf("%s: msg listens on %s, want %s", h.a.name, got, h.ip)
		}
	}
	if out, err := ttctlOn(t, b, "user", "list"); err == nil || !strings.Contains(out, "dbproxy runs on another host") {
		t.Fatalf("ttctl user list on B (no store): %v\n%s", err, out)
	}
	if out, err := ttctlOn(t, c, "user", "list"); err != nil || !strings.Contains(out, "carol") {
		t.Fatalf("ttctl user list on C (same database): %v\n%s", err, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	eventually(t, 10*time.Second, "three msg servers registered with A's login", func() bool {
		ms, err := a.ctl.MsgServers(ctx)
		return err == nil && len(ms) == 3
	})
	info, err := client.Resolve(ctx, "http://"+a.addr("login.http_listen")+"/msg_server")
	if err != nil {
		t.Fatal(err)
	}
	switch info.Addr() {
	case a.addr("msg.listen"), b.addr("msg.listen"), c.addr("msg.listen"):
	default:
		t.Fatalf("login handed out %s", info.Addr())
	}

	alice := login(t, a.addr("msg.listen"), "alice", android)
	bob := login(t, b.addr("msg.listen"), "bob", android)
	carol := login(t, c.addr("msg.listen"), "carol", android)

	// converse alternates sends between x and y and checks delivery and
	// that the pair's ids rise by one whoever's dbproxy allocated them.
	converse := func(x, y *user, n int) {
		t.Helper()
		var last uint32
		for i := range n {
			from, to := x, y
			if i%2 == 1 {
				from, to = y, x
			}
			text := fmt.Sprintf("%s to %s #%d", from.name, to.name, i)
			id, err := from.SendText(ctx, to.UserID(), text)
			if err != nil {
				t.Fatalf("%s: send: %v", text, err)
			}
			if last != 0 && id != last+1 {
				t.Fatalf("%s: id %d after %d", text, id, last)
			}
			last = id
			if m, got := to.message(from.UserID()); got != text || m.GetMsgId() != id {
				t.Fatalf("%s got %q id %d, want %q id %d", to.name, got, m.GetMsgId(), text, id)
			}
		}
	}
	t.Run("A and B (B stores through A's dbproxy)", func(t *testing.T) { converse(alice, bob, 10) })
	t.Run("A and C (each stores through its own dbproxy)", func(t *testing.T) { converse(alice, carol, 10) })
	t.Run("B and C", func(t *testing.T) { converse(bob, carol, 10) })

	t.Run("history from either dbproxy", func(t *testing.T) {
		for _, u := range []*user{alice, carol} {
			hist, err := u.MsgList(ctx, pb.SessionType_SESSION_TYPE_SINGLE, map[string]uint32{"alice": carol.UserID(), "carol": alice.UserID()}[u.name], 0, 50)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(hist.GetMsgList()); n != 10 {
				t.Fatalf("%s sees %d messages with the other, want 10", u.name, n)
			}
		}
	})

	t.Run("every message stored once in MariaDB", func(t *testing.T) {
		db, err := sql.Open("mysql", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var parts []string
		for i := range 8 {
			parts = append(parts, fmt.Sprintf("SELECT relateId, msgId FROM IMMessage_%d", i))
		}
		var total, distinct int
		q := "SELECT COUNT(*), COUNT(DISTINCT relateId, msgId) FROM (" + strings.Join(parts, " UNION ALL ") + ") m"
		if err := db.QueryRowContext(ctx, q).Scan(&total, &distinct); err != nil {
			t.Fatal(err)
		}
		if total != 30 || distinct != 30 {
			t.Fatalf("IMMessage_*: %d rows, %d distinct (pair, id); want 30", total, distinct)
		}
	})
}
