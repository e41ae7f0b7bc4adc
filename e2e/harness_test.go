package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"teamtalk/appliance/ctlapi"
	"teamtalk/appliance/ctlclient"
	"teamtalk/client"
	"teamtalk/internal/testproc"
	"teamtalk/state"
	"teamtalk/state/boltstore"
	"teamtalk/wire/pb"
)

// bins holds teamtalkd and ttctl, built once per test run by TestMain.
var bins string

func TestMain(m *testing.M) {
	testproc.Main(m, &bins, []string{"teamtalk/cmd/teamtalkd", "teamtalk/cmd/ttctl"}, stopMariaDB)
}

// appliance is one running teamtalkd process.
type appliance struct {
	t      *testing.T
	name   string
	dir    string
	ctl    *ctlclient.Client
	cmd    *exec.Cmd
	logs   *testproc.Buffer
	exited chan error
	status ctlapi.Status
}

// fastArgs are the -set flags every test instance gets: every listener on a
// kernel-chosen loopback port, peers by service reference, sub-second link
// timers so reconnects happen within a test's patience.
func fastArgs() []string {
	sets := []string{
		"login.http_listen=127.0.0.1:0", "login.client_listen=127.0.0.1:0", "login.msgserver_listen=127.0.0.1:0",
		"msg.listen=127.0.0.1:0", "route.listen=127.0.0.1:0", "dbproxy.listen=127.0.0.1:0",
		"file.client_listen=127.0.0.1:0", "file.msg_listen=127.0.0.1:0", "msfs.listen=127.0.0.1:0",
		"httpmsg.listen=127.0.0.1:0", "push.listen=127.0.0.1:0", "metrics.listen=127.0.0.1:0",
		`msg.dbproxy=["dbproxy"]`, `msg.route=["route"]`, `msg.login=["login"]`, `msg.file=["file"]`, "msg.push=push",
		`httpmsg.dbproxy=["dbproxy"]`, `httpmsg.route=["route"]`,
		"msg.max_msgs_per_second=0", "file.advertise=[]",
		"link.heartbeat=200ms", "link.timeout=2s", "link.reconnect_min=50ms", "link.reconnect_max=400ms",
		"supervisor.stop_timeout=5s", "supervisor.restart_backoff_min=20ms", "supervisor.restart_backoff_max=200ms",
	}
	var args []string
	for _, s := range sets {
		args = append(args, "-set", s)
	}
	return args
}

// seed writes the capture's directory data (vectors/README.md) into a fresh
// im.db in dir: department 1 "dev", users alice, bob, carol (password
// 123456), and extra users user1..userN.
func seed(t *testing.T, dir string, extra int) {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(dir, "im.db"), boltstore.Options{})
	if err != nil {
		t.Fatalf("seed: open store: %v", err)
	}
	defer st.Close()
	ctx := context.Background()
	d, err := st.CreateDepart(ctx, state.NewDepart{Name: "dev"})
	if err != nil {
		t.Fatalf("seed: depart: %v", err)
	}
	names := []string{"alice", "bob", "carol"}
	for i := 1; i <= extra; i++ {
		names = append(names, fmt.Sprintf("user%d", i))
	}
	for _, n := range names {
		if _, err := st.CreateUser(ctx, state.NewUser{Name: n, Password: "123456", Nick: strings.ToUpper(n[:1]) + n[1:], DepartID: d.ID, SignInfo: "hi from " + n}); err != nil {
			t.Fatalf("seed: user %s: %v", n, err)
		}
	}
}

// start runs teamtalkd with the fast test settings plus args, in dir (a
// fresh temp dir when empty), and waits until it reports ready.
func start(t *testing.T, name, dir string, args ...string) *appliance {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	a := &appliance{t: t, name: name, dir: dir, logs: &testproc.Buffer{}, exited: make(chan error, 1)}
	sock := filepath.Join(dir, "teamtalkd.sock")
	a.ctl = &ctlclient.Client{Socket: sock}
	full := append([]string{"-data", dir, "-socket", sock}, fastArgs()...)
	full = append(full, args...)
	a.cmd = exec.Command(filepath.Join(bins, "teamtalkd"), full...)
	a.cmd.Stderr = a.logs
	a.cmd.Stdout = a.logs
	a.cmd.Env = append(os.Environ(), "NOTIFY_SOCKET=")
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.exited <- a.cmd.Wait() }()
	t.Cleanup(a.kill)
	a.waitReady()
	return a
}

func (a *appliance) waitReady() {
	a.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := a.ctl.Status(ctx)
		cancel()
		if err == nil && st.Ready {
			a.status = st
			return
		}
		select {
		case err := <-a.exited:
			a.exited <- err
			a.t.Fatalf("%s exited before ready: %v\n%s", a.name, err, a.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("%s not ready (last: %v)\n%s", a.name, err, a.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// addr is the bound address of "svc.key" (e.g. "msg.listen").
func (a *appliance) addr(key string) string {
	a.t.Helper()
	if v, ok := a.status.Addresses[key]; ok {
		return v
	}
	a.t.Fatalf("%s: no bound address %q in %v", a.name, key, a.status.Addresses)
	return ""
}

// stop sends SIGTERM and requires a clean exit.
func (a *appliance) stop() {
	a.t.Helper()
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		a.t.Fatal(err)
	}
	select {
	case err := <-a.exited:
		a.exited <- err
		if err != nil {
			a.t.Fatalf("%s: exit after SIGTERM: %v\n%s", a.name, err, a.logs.String())
		}
	case <-time.After(20 * time.Second):
		a.t.Fatalf("%s: no exit after SIGTERM\n%s", a.name, a.logs.String())
	}
}

func (a *appliance) kill() {
	select {
	case err := <-a.exited:
		a.exited <- err
		return
	default:
	}
	a.cmd.Process.Kill()
	err := <-a.exited
	a.exited <- err
	if a.t.Failed() {
		a.t.Logf("%s logs:\n%s", a.name, a.logs.String())
	}
}

// restart asks the supervisor to restart one service and waits until it is
// running again.
func (a *appliance) restart(svc string) {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	before := a.restarts(svc)
	if _, err := a.ctl.Restart(ctx, svc); err != nil {
		a.t.Fatalf("restart %s: %v", svc, err)
	}
	eventually(a.t, 15*time.Second, "service "+svc+" running again", func() bool {
		st, err := a.ctl.Status(ctx)
		if err != nil {
			return false
		}
		for _, s := range st.Services {
			if s.Name == svc {
				return s.Restarts > before && s.State == ctlapi.StateRunning
			}
		}
		return false
	})
}

func (a *appliance) restarts(svc string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := a.ctl.Status(ctx)
	if err != nil {
		a.t.Fatalf("status: %v", err)
	}
	for _, s := range st.Services {
		if s.Name == svc {
			return s.Restarts
		}
	}
	a.t.Fatalf("no service %s", svc)
	return 0
}

// eventually polls cond every 20 ms until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// user is a logged-in test client.
type user struct {
	*client.Client
	t    *testing.T
	name string
}

// login connects to a msg server and logs in.
func login(t *testing.T, addr, name string, ct pb.ClientType) *user {
	t.Helper()
	u, err := tryLogin(addr, name, "123456", ct)
	if err != nil {
		t.Fatalf("login %s at %s: %v", name, addr, err)
	}
	t.Cleanup(func() { u.Close() })
	return &user{Client: u, t: t, name: name}
}

func tryLogin(addr, name, password string, ct pb.ClientType) (*client.Client, error) {
	return loginWith(addr, name, password, client.Options{ClientType: ct, EventBuffer: 256})
}

// loginWith dials addr with o and logs in; the client is closed on failure.
func loginWith(addr, name, password string, o client.Options) (*client.Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, addr, o)
	if err != nil {
		return nil, err
	}
	if _, err := c.Login(ctx, name, password); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func ctx10() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}

// next waits for the first event for which match returns true, discarding
// others, or fails after timeout.
func (u *user) next(what string, timeout time.Duration, match func(client.Event) bool) client.Event {
	u.t.Helper()
	tm := time.NewTimer(timeout)
	defer tm.Stop()
	for {
		select {
		case ev, ok := <-u.Events():
			if !ok {
				u.t.Fatalf("%s: events closed waiting for %s: %v", u.name, what, u.Err())
			}
			if match(ev) {
				return ev
			}
		case <-tm.C:
			u.t.Fatalf("%s: no %s within %v", u.name, what, timeout)
		}
	}
}

// message waits for an incoming message from one user and returns its text.
func (u *user) message(from uint32) (*pb.IMMsgData, string) {
	u.t.Helper()
	ev := u.next(fmt.Sprintf("message from %d", from), 10*time.Second, func(ev client.Event) bool {
		m, ok := ev.(*client.MessageEvent)
		return ok && m.Msg.GetFromUserId() == from
	}).(*client.MessageEvent)
	text, err := u.Text(ev.Msg)
	if err != nil {
		u.t.Fatalf("%s: decrypt: %v", u.name, err)
	}
	return ev.Msg, text
}

// none requires that no event matching match arrives within d.
func (u *user) none(what string, d time.Duration, match func(client.Event) bool) {
	u.t.Helper()
	tm := time.NewTimer(d)
	defer tm.Stop()
	for {
		select {
		case ev, ok := <-u.Events():
			if !ok {
				return
			}
			if match(ev) {
				u.t.Fatalf("%s: unexpected %s: %+v", u.name, what, ev)
			}
		case <-tm.C:
			return
		}
	}
}

var errNoEvent = errors.New("no event")
