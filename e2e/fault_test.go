package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"teamtalk/appliance/ctlapi"
	"teamtalk/client"
	"teamtalk/wire/pb"
)

// freeAddr returns a loopback address with a port that was free a moment
// ago: a service that is stopped and started again in another process must
// come back at the same address its peers dial.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// only returns the -set flags that run just the named services, with the
// peer lists of msg pointing at explicit addresses (or nothing).
func only(services string, sets ...string) []string {
	args := []string{"-set", "services=" + services, "-set", "msg.file=[]", "-set", "msg.push="}
	for _, s := range sets {
		args = append(args, "-set", s)
	}
	return args
}

// sigkill kills a's process and waits for it.
func (a *appliance) sigkill() {
	a.t.Helper()
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		a.t.Fatal(err)
	}
	err := <-a.exited
	a.exited <- err
}

func loginRefusal(err error) pb.ResultType {
	var le *client.LoginError
	if errors.As(err, &le) {
		return le.Code
	}
	return 0
}

// TestFaultDBProxy kills the dbproxy process (another host, in effect) under
// p2p load: msg refuses new logins with REFUSE_REASON_NO_DB_SERVER and acks
// nothing it could not store; when dbproxy is back at its address, msg's
// link reconnects by itself (no restart of msg), sends are acked again, and
// every acked message, before and after the outage, is in the history.
func TestFaultDBProxy(t *testing.T) {
	dbDir := t.TempDir()
	pairs := senderPairs(2)
	seed(t, dbDir, 2*len(pairs))
	dbAddr := freeAddr(t)
	dbArgs := only(`["dbproxy"]`, "dbproxy.listen="+dbAddr)
	db := start(t, "db", dbDir, dbArgs...)
	front := start(t, "front", "", only(`["login","msg","route"]`, fmt.Sprintf(`msg.dbproxy=["%s"]`, dbAddr))...)
	addr := front.addr("msg.listen")

	log := newAckLog()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := startLoad(ctx, t, addr, pairs, "db", log, 2*time.Second)
	eventually(t, 10*time.Second, "acks before the outage", func() bool { return log.count() >= 50 })

	db.sigkill()
	eventually(t, 10*time.Second, "logins refused with NO_DB_SERVER", func() bool {
		c, err := tryLogin(addr, "alice", "123456", android)
		if err == nil {
			c.Close()
			return false
		}
		return loginRefusal(err) == pb.ResultType_REFUSE_REASON_NO_DB_SERVER
	})
	during := log.count()
	time.Sleep(500 * time.Millisecond)
	if n := log.count(); n != during {
		t.Fatalf("%d messages acked while no dbproxy was running", n-during)
	}

	db = start(t, "db-again", dbDir, dbArgs...)
	eventually(t, 15*time.Second, "acks after dbproxy is back", func() bool { return log.count() >= during+50 })
	if c, err := tryLogin(addr, "alice", "123456", android); err != nil {
		t.Fatalf("login after dbproxy is back: %v", err)
	} else {
		c.Close()
	}
	cancel()
	sent, unacked, _ := l.wait()
	if n := front.restarts("msg"); n != 0 {
		t.Fatalf("msg restarted %d times; it must recover by reconnecting", n)
	}
	checked := checkHistory(t, addr, pairs, log)
	t.Logf("dbproxy outage: %d sends, %d acked and all in history, %d unacked (outage and stop)", sent, checked, unacked)
}

// TestFaultRoute kills the route process between two msg servers: delivery
// between users of one msg server goes on, messages across servers are
// still stored and acked, and once route is back at its address both msg
// servers re-announce their users and cross-server delivery resumes,
// without a restart of either msg.
func TestFaultRoute(t *testing.T) {
	dirA := t.TempDir()
	seed(t, dirA, 0)
	routeAddr := freeAddr(t)
	routeArgs := only(`["route"]`, "route.listen="+routeAddr)
	rt := start(t, "route", "", routeArgs...)
	a := start(t, "A", dirA, only(`["login","msg","dbproxy"]`, fmt.Sprintf(`msg.route=["%s"]`, routeAddr))...)
	b := start(t, "B", "", only(`["msg"]`,
		fmt.Sprintf(`msg.dbproxy=["%s"]`, a.addr("dbproxy.listen")),
		fmt.Sprintf(`msg.route=["%s"]`, routeAddr),
		fmt.Sprintf(`msg.login=["%s"]`, a.addr("login.msgserver_listen")))...)
	alice := login(t, a.addr("msg.listen"), "alice", android)
	carol := login(t, a.addr("msg.listen"), "carol", android)
	bob := login(t, b.addr("msg.listen"), "bob", android)

	crossDelivered := func(what string) {
		t.Helper()
		n := 0
		eventually(t, 15*time.Second, what, func() bool {
			n++
			ctx, cancel := ctx10()
			defer cancel()
			text := fmt.Sprintf("%s %d", what, n)
			if _, err := alice.SendText(ctx, bob.UserID(), text); err != nil {
				return false
			}
			tm := time.After(time.Second)
			for {
				select {
				case ev := <-bob.Events():
					if m, ok := ev.(*client.MessageEvent); ok {
						if got, _ := bob.Text(m.Msg); got == text {
							return true
						}
					}
				case <-tm:
					return false
				}
			}
		})
	}
	crossDelivered("cross before")

	rt.sigkill()
	ctx, cancel := ctx10()
	defer cancel()
	for i := 0; i < 5; i++ {
		text := fmt.Sprintf("local while route is down %d", i)
		if _, err := alice.SendText(ctx, carol.UserID(), text); err != nil {
			t.Fatalf("local send %d without route: %v", i, err)
		}
		if _, got := carol.message(alice.UserID()); got != text {
			t.Fatalf("carol got %q, want %q", got, text)
		}
	}
	stored, err := bob.SendText(ctx, alice.UserID(), "stored while route is down")
	if err != nil {
		t.Fatalf("cross-server send without route must still be stored and acked: %v", err)
	}

	rt = start(t, "route-again", "", routeArgs...)
	crossDelivered("cross after")
	hist, err := alice.MsgList(ctx, pb.SessionType_SESSION_TYPE_SINGLE, bob.UserID(), stored, 1)
	if err != nil || len(hist.GetMsgList()) != 1 || hist.GetMsgList()[0].GetMsgId() != stored {
		t.Fatalf("message %d sent during the outage not in alice's history: %v %v", stored, hist, err)
	}
	for _, x := range []*appliance{a, b} {
		if n := x.restarts("msg"); n != 0 {
			t.Fatalf("%s: msg restarted %d times", x.name, n)
		}
	}
}

// TestFaultLogin kills the login process: logged-in users keep chatting,
// and when login is back at its address msg registers with it again by
// itself.
func TestFaultLogin(t *testing.T) {
	dir := t.TempDir()
	seed(t, dir, 0)
	loginAddr := freeAddr(t)
	loginArgs := only(`["login"]`, "login.msgserver_listen="+loginAddr)
	lg := start(t, "login", "", loginArgs...)
	m := start(t, "M", dir, only(`["msg","route","dbproxy"]`, fmt.Sprintf(`msg.login=["%s"]`, loginAddr))...)
	addr := m.addr("msg.listen")
	alice := login(t, addr, "alice", android)
	bob := login(t, addr, "bob", windows)

	lg.sigkill()
	ctx, cancel := ctx10()
	defer cancel()
	for i := 0; i < 10; i++ {
		text := fmt.Sprintf("no login server %d", i)
		if _, err := alice.SendText(ctx, bob.UserID(), text); err != nil {
			t.Fatalf("send %d without login: %v", i, err)
		}
		if _, got := bob.message(alice.UserID()); got != text {
			t.Fatalf("bob got %q, want %q", got, text)
		}
	}
	lg = start(t, "login-again", "", loginArgs...)
	eventually(t, 15*time.Second, "msg registered with login again", func() bool {
		ms, err := lg.ctl.MsgServers(ctx)
		return err == nil && len(ms) == 1
	})
	if n := m.restarts("msg"); n != 0 {
		t.Fatalf("msg restarted %d times", n)
	}
}

// TestGracefulStopUnderLoad sends SIGTERM while p2p load runs: teamtalkd
// exits cleanly and every message acked before it stopped is in the
// history after a restart.
func TestGracefulStopUnderLoad(t *testing.T) {
	dir := t.TempDir()
	pairs := senderPairs(3)
	seed(t, dir, 2*len(pairs))
	a := start(t, "graceful", dir)
	log := newAckLog()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := startLoad(ctx, t, a.addr("msg.listen"), pairs, "term", log, 10*time.Second)
	eventually(t, 10*time.Second, "load running", func() bool { return log.count() >= 200 })
	a.stop()
	sent, unacked, _ := l.wait()
	cancel()
	b := start(t, "graceful-again", dir)
	checked := checkHistory(t, b.addr("msg.listen"), pairs, log)
	t.Logf("SIGTERM under load: %d sends, %d acked all in history, %d unacked", sent, checked, unacked)
}

// TestServicePanic makes each service of a running appliance panic through
// the opt-in control API hook (supervisor.test_hooks): the supervisor
// restarts it within a second (measured between its own failed and started
// events), no other service restarts, and two users keep chatting (their
// connections survive every panic but msg's own, after which they log in
// again).
func TestServicePanic(t *testing.T) {
	dir := t.TempDir()
	seed(t, dir, 0)
	a := start(t, "panics", dir, "-set", "supervisor.test_hooks=true", "-set", "supervisor.restart_backoff_min=100ms")
	addr := a.addr("msg.listen")
	alice := login(t, addr, "alice", android)
	bob := login(t, addr, "bob", windows)
	chat := func(what string) {
		t.Helper()
		n := 0
		// A message in flight when dbproxy panics is lost unacked: retry.
		eventually(t, 15*time.Second, what, func() bool {
			n++
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			text := fmt.Sprintf("%s %d", what, n)
			if _, err := alice.SendText(ctx, bob.UserID(), text); err != nil {
				return false
			}
			_, got := bob.message(alice.UserID())
			return got == text
		})
	}
	chat("before")
	services := []string{"login", "route", "dbproxy", "msg"}
	for _, svc := range services {
		t.Run(svc, func(t *testing.T) {
			ctx, cancel := ctx10()
			defer cancel()
			before := map[string]int{}
			for _, s := range services {
				before[s] = a.restarts(s)
			}
			evs, err := a.ctl.Events(ctx, 0, 100000)
			if err != nil {
				t.Fatal(err)
			}
			since := evs[len(evs)-1].Seq
			if _, err := a.ctl.Panic(ctx, svc); err != nil {
				t.Fatalf("panic %s: %v", svc, err)
			}
			var failed, started time.Time
			eventually(t, 10*time.Second, svc+" failed and started again", func() bool {
				evs, err := a.ctl.Events(ctx, since, 1000)
				if err != nil {
					return false
				}
				for _, e := range evs {
					if e.Service != svc || e.Seq <= since {
						continue
					}
					switch {
					case e.Kind == ctlapi.EventFailed && failed.IsZero():
						if !strings.Contains(e.Message, "panic") {
							t.Fatalf("%s failed with %q, want the panic", svc, e.Message)
						}
						failed = e.Time
					case e.Kind == ctlapi.EventStarted && !failed.IsZero():
						started = e.Time
						return true
					}
				}
				return false
			})
			if d := started.Sub(failed); d > time.Second {
				t.Errorf("%s took %v from the panic to running again, want at most 1s", svc, d)
			}
			t.Logf("%s: panic to running again in %v", svc, started.Sub(failed).Round(time.Millisecond))
			for _, s := range services {
				want := before[s]
				if s == svc {
					want++
				}
				if got := a.restarts(s); got != want {
					t.Errorf("%s restarts %d, want %d", s, got, want)
				}
			}
			if svc == "msg" {
				eventually(t, 10*time.Second, "users log in again", func() bool {
					c1, err1 := tryLogin(addr, "alice", "123456", android)
					c2, err2 := tryLogin(addr, "bob", "123456", windows)
					if err1 != nil || err2 != nil {
						if c1 != nil {
							c1.Close()
						}
						if c2 != nil {
							c2.Close()
						}
						return false
					}
					alice.Close()
					bob.Close()
					alice = &user{Client: c1, t: t, name: "alice"}
					bob = &user{Client: c2, t: t, name: "bob"}
					return true
				})
				t.Cleanup(func() { alice.Close(); bob.Close() })
			} else {
				for _, u := range []*user{alice, bob} {
					select {
					case <-u.Done():
						t.Fatalf("%s lost the connection when %s panicked: %v", u.name, svc, u.Err())
					default:
					}
				}
			}
			chat("after " + svc)
		})
	}
}
