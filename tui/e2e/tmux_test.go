package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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

// bins holds teamtalkd and ttctl, built once by TestMain.
var bins string

func TestMain(m *testing.M) {
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") == "true" {
			fmt.Fprintln(os.Stderr, "tui/e2e: tmux is required under CI=true (apt-get install tmux)")
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, "tui/e2e: tmux not installed; skipping the console's end-to-end check")
		os.Exit(0)
	}
	testproc.Main(m, &bins, []string{"teamtalk/cmd/teamtalkd", "teamtalk/cmd/ttctl"})
}

// daemon is one running teamtalkd.
type daemon struct {
	cmd    *exec.Cmd
	logs   *testproc.Buffer
	exited chan error
}

// startDaemon runs teamtalkd on dir with every listener on port 0 and fast
// link and restart timers, and waits until it is ready.
func startDaemon(t *testing.T, dir, sock string) *daemon {
	t.Helper()
	sets := []string{
		"login.http_listen=127.0.0.1:0", "login.client_listen=127.0.0.1:0", "login.msgserver_listen=127.0.0.1:0",
		"msg.listen=127.0.0.1:0", "route.listen=127.0.0.1:0", "dbproxy.listen=127.0.0.1:0",
		"file.client_listen=127.0.0.1:0", "file.msg_listen=127.0.0.1:0", "msfs.listen=127.0.0.1:0",
		"httpmsg.listen=127.0.0.1:0", "push.listen=127.0.0.1:0", "metrics.listen=127.0.0.1:0",
		`msg.dbproxy=["dbproxy"]`, `msg.route=["route"]`, `msg.login=["login"]`, `msg.file=["file"]`, "msg.push=push",
		`httpmsg.dbproxy=["dbproxy"]`, `httpmsg.route=["route"]`,
		"link.heartbeat=200ms", "link.timeout=2s", "link.reconnect_min=50ms", "link.reconnect_max=400ms",
		"supervisor.stop_timeout=5s", "supervisor.restart_backoff_min=20ms", "supervisor.restart_backoff_max=200ms",
	}
	args := []string{"-data", dir, "-socket", sock}
	for _, s := range sets {
		args = append(args, "-set", s)
	}
	d := &daemon{logs: &testproc.Buffer{}, exited: make(chan error, 1)}
	d.cmd = exec.Command(filepath.Join(bins, "teamtalkd"), args...)
	d.cmd.Stdout, d.cmd.Stderr = d.logs, d.logs
	d.cmd.Env = append(os.Environ(), "NOTIFY_SOCKET=")
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.exited <- d.cmd.Wait() }()
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		err := <-d.exited
		d.exited <- err
		if t.Failed() {
			t.Logf("teamtalkd logs:\n%s", d.logs.String())
		}
	})
	ctl := &ctlclient.Client{Socket: sock}
	eventually(t, 20*time.Second, "teamtalkd ready", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		st, err := ctl.Status(ctx)
		return err == nil && st.Ready
	})
	return d
}

// stop sends SIGTERM and waits for the exit.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.exited:
		d.exited <- err
	case <-time.After(20 * time.Second):
		t.Fatal("teamtalkd did not exit after SIGTERM")
	}
}

// seed creates user alice (password 123456) in a fresh im.db.
func seed(t *testing.T, dir string) {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(dir, "im.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	dep, err := st.CreateDepart(ctx, state.NewDepart{Name: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateUser(ctx, state.NewUser{Name: "alice", Password: "123456", Nick: "Alice", DepartID: dep.ID}); err != nil {
		t.Fatal(err)
	}
}

// pane is a tmux server of its own with one session running the console.
type pane struct {
	t    *testing.T
	sock string
}

func (p *pane) tmux(args ...string) (string, error) {
	out, err := exec.Command("tmux", append([]string{"-S", p.sock, "-f", "/dev/null"}, args...)...).CombinedOutput()
	return string(out), err
}

// send types keys into the console (tmux key names or literal text).
func (p *pane) send(keys ...string) {
	p.t.Helper()
	for _, k := range keys {
		if out, err := p.tmux("send-keys", "-t", "tt", k); err != nil {
			p.t.Fatalf("send-keys %q: %v %s", k, err, out)
		}
	}
}

func (p *pane) capture() string {
	out, _ := p.tmux("capture-pane", "-p", "-t", "tt")
	return out
}

// wait polls the pane until it matches re.
func (p *pane) wait(what, re string) string {
	p.t.Helper()
	rx := regexp.MustCompile(re)
	var last string
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if last = p.capture(); rx.MatchString(last) {
			return last
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.t.Fatalf("the console never showed %s (/%s/); last screen:\n%s", what, re, last)
	return ""
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestConsoleInTmux(t *testing.T) {
	dir := t.TempDir()
	seed(t, dir)
	sock := filepath.Join(dir, "teamtalkd.sock")
	d := startDaemon(t, dir, sock)
	ctl := &ctlclient.Client{Socket: sock}

	// tmux's own socket goes in a short temp dir (unix socket paths are short).
	tdir, err := os.MkdirTemp("", "tt")
	if err != nil {
		t.Fatal(err)
	}
	p := &pane{t: t, sock: filepath.Join(tdir, "s")}
	t.Cleanup(func() {
		p.tmux("kill-server")
		os.RemoveAll(tdir)
	})
	cmd := fmt.Sprintf("env NO_COLOR=1 TERM=xterm-256color %s -socket %s tui", filepath.Join(bins, "ttctl"), sock)
	if out, err := p.tmux("new-session", "-d", "-s", "tt", "-x", "100", "-y", "30", cmd); err != nil {
		t.Fatalf("tmux new-session: %v %s", err, out)
	}

	// The console shows every service running.
	screen := p.wait("the services running", `(?s)live \d\d:\d\d:\d\d.*dbproxy +dbproxy +running.*route +route +running.*login +login +running.*msg +msg +running`)
	if !strings.Contains(screen, "[1 Overview]") {
		t.Fatalf("no Overview tab:\n%s", screen)
	}

	// A logged-in client shows in the online count.
	st, err := ctl.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, st.Addresses["msg.listen"], client.Options{ClientType: pb.ClientType_CLIENT_TYPE_WINDOWS})
	if err != nil {
		t.Fatalf("dial msg: %v", err)
	}
	defer c.Close()
	if _, err := c.Login(ctx, "alice", "123456"); err != nil {
		t.Fatalf("login: %v", err)
	}
	p.wait("one user online", `Online users +1 \(1 conns\)`)
	p.send("2")
	p.wait("the msg server registration", `(?s)\[2 Msg servers\].*127\.0\.0\.1:\d+ +1/\d+ .* ok `)

	// Restart msg from the console: filter to its row, r, confirm with y.
	// One key at a time, each after the console shows its effect: keys that
	// arrive in one read reach Bubble Tea as a single multi-rune key.
	p.send("1")
	p.wait("the Overview tab", `\[1 Overview\]`)
	p.send("/")
	p.wait("the filter prompt", `filter:`)
	p.send("msg")
	p.send("Enter")
	p.wait("the filtered row", `(?s)› msg +msg +running.*filter "msg"`)
	p.send("r")
	p.wait("the confirmation", `Restart service msg\? \[y/N\]`)
	p.send("y")
	p.wait("the outcome", `restart msg: `)
	eventually(t, 15*time.Second, "msg restarted", func() bool {
		st, err := ctl.Status(context.Background())
		if err != nil {
			return false
		}
		for _, s := range st.Services {
			if s.Name == "msg" {
				return s.Restarts == 1 && s.State == ctlapi.StateRunning
			}
		}
		return false
	})
	p.send("Escape") // alone: Escape and a key in one read would be Alt+key
	eventually(t, 10*time.Second, "the filter cleared", func() bool {
		return !strings.Contains(p.capture(), `filter "msg"`)
	})
	p.send("1")
	p.wait("the restart count", `msg +msg +running +\S+ +1`)
	p.send("5")
	p.wait("the restart event", `(?s)\[5 Events\].*msg +restarted`)

	// teamtalkd goes away: a clear message; it comes back: the console reconnects.
	d.stop(t)
	p.wait("the disconnect", `(?s)DISCONNECTED.*teamtalkd is not reachable`)
	startDaemon(t, dir, sock)
	p.wait("the reconnect", `live \d\d:\d\d:\d\d`)
	p.send("1")
	p.wait("the services after reconnect", `(?s)msg +msg +running`)

	// q quits, and the session (whose only program is the console) ends.
	p.send("q")
	eventually(t, 10*time.Second, "the console to exit", func() bool {
		_, err := p.tmux("has-session", "-t", "tt")
		return err != nil
	})
}
