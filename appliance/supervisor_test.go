package appliance

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"teamtalk/appliance/appliancetest"
	"teamtalk/appliance/config"
	"teamtalk/appliance/ctlapi"
	"teamtalk/state/records"
)

type harness struct {
	sup    *Supervisor
	fakes  *appliancetest.Fakes
	cancel context.CancelFunc
	done   chan error
	ready  chan struct{}
}

func newHarness(t *testing.T, fakes *appliancetest.Fakes, mod func(o *Options)) *harness {
	t.Helper()
	dir := t.TempDir()
	rec, err := records.Open(filepath.Join(dir, "appliance.db"), records.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rec.Close() })
	opts := Options{
		Config:  appliancetest.Config(dir),
		Table:   fakes.Table(),
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Records: rec,
	}
	if mod != nil {
		mod(&opts)
	}
	sup, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{sup: sup, fakes: fakes, done: make(chan error, 1), ready: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- sup.Run(ctx, func() { close(h.ready) }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(10 * time.Second):
			t.Error("supervisor did not stop")
		}
	})
	return h
}

func (h *harness) waitReady(t *testing.T) {
	t.Helper()
	select {
	case <-h.ready:
	case err := <-h.done:
		t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}
}

func (h *harness) stop(t *testing.T) error {
	t.Helper()
	h.cancel()
	select {
	case err := <-h.done:
		h.done <- err // for Cleanup
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
		return nil
	}
}

// eventually polls cond until it holds or a generous timeout passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func echo(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "ping\n" {
		t.Fatalf("echo from %s: %q, %v", addr, line, err)
	}
}

func TestStartOrderAndReverseStop(t *testing.T) {
	fakes := &appliancetest.Fakes{}
	h := newHarness(t, fakes, nil)
	h.waitReady(t)
	for _, st := range h.sup.Services() {
		if st.State != ctlapi.StateRunning || st.Listen == nil {
			t.Errorf("%s: %+v", st.Name, st)
		}
		echo(t, h.fakes.Live(st.Name).Addr())
	}
	if err := h.stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}
	var want []string
	names := config.ServiceNames()
	for _, n := range names {
		want = append(want, "start "+n)
	}
	for i := len(names) - 1; i >= 0; i-- {
		want = append(want, "stop "+names[i])
	}
	if got := fakes.Log(); !slices.Equal(got, want) {
		t.Fatalf("order:\n got %v\nwant %v", got, want)
	}
	st := h.sup.Status()
	if !st.Ready || len(st.Addresses) != 8 {
		t.Errorf("status: %+v", st)
	}
}

func TestFailureBeforeReady(t *testing.T) {
	tests := []struct {
		name     string
		behavior appliancetest.Behavior
		fails    string
		wantErr  string
	}{
		{name: "run error", behavior: appliancetest.Behavior{StartErr: errors.New("boom")}, fails: "login", wantErr: "login failed to start: boom"},
		{name: "constructor error", behavior: appliancetest.Behavior{CtorErr: errors.New("bad cfg")}, fails: "msfs", wantErr: "msfs failed to start: build: bad cfg"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fakes := &appliancetest.Fakes{}
			fakes.Set(tc.fails, tc.behavior)
			h := newHarness(t, fakes, nil)
			var err error
			select {
			case err = <-h.done:
				h.done <- err
			case <-h.ready:
				t.Fatal("became ready")
			case <-time.After(10 * time.Second):
				t.Fatal("no result")
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			// Those started before it were stopped in reverse; none after it started.
			var started []string
			for _, n := range config.ServiceNames() {
				if n == tc.fails {
					break
				}
				started = append(started, n)
			}
			var want []string
			for _, n := range started {
				want = append(want, "start "+n)
			}
			if tc.behavior.StartErr != nil {
				want = append(want, "start "+tc.fails, "stop "+tc.fails)
			}
			for i := len(started) - 1; i >= 0; i-- {
				want = append(want, "stop "+started[i])
			}
			if got := fakes.Log(); !slices.Equal(got, want) {
				t.Fatalf("log:\n got %v\nwant %v", got, want)
			}
		})
	}
}

func TestPanicRestartsOnlyThatService(t *testing.T) {
	fakes := &appliancetest.Fakes{}
	h := newHarness(t, fakes, nil)
	h.waitReady(t)
	routeAddr := fakes.Live("route").Addr()
	fakes.Live("msg").Panic("test hook panic")
	eventually(t, "msg restarted", func() bool { return fakes.Runs("msg") == 2 && h.sup.unitState("msg") == ctlapi.StateRunning })
	echo(t, routeAddr) // the others kept serving, on the same port
	echo(t, fakes.Live("msg").Addr())
	if fakes.Runs("route") != 1 {
		t.Errorf("route ran %d times", fakes.Runs("route"))
	}
	var st ctlapi.ServiceStatus
	for _, s := range h.sup.Services() {
		if s.Name == "msg" {
			st = s
		}
	}
	if st.Restarts != 1 || !strings.Contains(st.LastError, "test hook panic") {
		t.Errorf("msg status: %+v", st)
	}
	evs, _ := h.sup.Events(0, 0)
	var kinds []string
	for _, e := range evs {
		if e.Service == "msg" {
			kinds = append(kinds, string(e.Kind))
		}
	}
	if !slices.Equal(kinds, []string{"started", "failed", "restarted", "started"}) {
		t.Errorf("msg events: %v", kinds)
	}
}

func TestRestartWithBackoff(t *testing.T) {
	fakes := &appliancetest.Fakes{}
	h := newHarness(t, fakes, nil)
	h.waitReady(t)
	// The next three runs fail at start; the fourth comes up.
	fakes.Set("route", appliancetest.Behavior{StartErr: errors.New("flaky"), FailRuns: 3})
	fakes.Live("route").Panic("first failure")
	eventually(t, "route back", func() bool { return fakes.Runs("route") == 5 && h.sup.unitState("route") == ctlapi.StateRunning })
	var st ctlapi.ServiceStatus
	for _, s := range h.sup.Services() {
		if s.Name == "route" {
			st = s
		}
	}
	if st.Restarts != 4 {
		t.Errorf("restarts = %d", st.Restarts)
	}
}

func TestBackoffGrowsAndCaps(t *testing.T) {
	// Drive the backoff arithmetic through a failing unit and read the waits
	// from the event times: each must be at least the expected backoff.
	fakes := &appliancetest.Fakes{}
	h := newHarness(t, fakes, func(o *Options) {
		o.Config.Supervisor.RestartBackoffMin = config.Duration(20 * time.Millisecond)
		o.Config.Supervisor.RestartBackoffMax = config.Duration(60 * time.Millisecond)
	})
	h.waitReady(t)
	fakes.Set("push", appliancetest.Behavior{StartErr: errors.New("down"), FailRuns: 4})
	fakes.Live("push").Panic("go")
	eventually(t, "push back", func() bool { return h.sup.unitState("push") == ctlapi.StateRunning && fakes.Runs("push") == 6 })
	evs, _ := h.sup.Events(0, 0)
	var failed, restarted []time.Time
	for _, e := range evs {
		if e.Service != "push" {
			continue
		}
		switch e.Kind {
		case ctlapi.EventFailed:
			failed = append(failed, e.Time)
		case ctlapi.EventRestarted:
			restarted = append(restarted, e.Time)
		}
	}
	want := []time.Duration{20, 40, 60, 60, 60}
	if len(failed) != 5 || len(restarted) != 5 {
		t.Fatalf("failed %d, restarted %d", len(failed), len(restarted))
	}
	for i, w := range want {
		if got := restarted[i].Sub(failed[i]); got < w*time.Millisecond {
			t.Errorf("wait %d = %v, want >= %dms", i, got, w)
		}
	}
}

func TestOperatorRestart(t *testing.T) {
	fakes := &appliancetest.Fakes{}
	h := newHarness(t, fakes, nil)
	h.waitReady(t)
	tests := []struct {
		name, svc string
		status    int
	}{
		{name: "running service", svc: "file"},
		{name: "unknown service", svc: "nope", status: 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.sup.Restart(tc.svc)
			var ce *ctlapi.Error
			if tc.status != 0 {
				if !errors.As(err, &ce) || ce.Status != tc.status {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, "restarted", func() bool { return fakes.Runs(tc.svc) == 2 && h.sup.unitState(tc.svc) == ctlapi.StateRunning })
		})
	}
}

func TestDrainWithLiveConnections(t *testing.T) {
	fakes := &appliancetest.Fakes{}
	h := newHarness(t, fakes, nil)
	h.waitReady(t)
	c, err := net.Dial("tcp", fakes.Live("msg").Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := h.stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("client connection still open after stop")
	}
}

func TestStopTimeoutBound(t *testing.T) {
	fakes := &appliancetest.Fakes{}
	fakes.Set("route", appliancetest.Behavior{NeverDone: true})
	h := newHarness(t, fakes, func(o *Options) {
		o.Config.Supervisor.StopTimeout = config.Duration(200 * time.Millisecond)
	})
	h.waitReady(t)
	err := h.stop(t)
	if err == nil || !strings.Contains(err.Error(), "route did not stop") {
		t.Fatalf("err = %v", err)
	}
}

func TestUnavailableServiceWarns(t *testing.T) {
	fakes := &appliancetest.Fakes{}
	h := newHarness(t, fakes, func(o *Options) { o.Table = fakes.Table("route", "msg") })
	h.waitReady(t)
	states := map[string]ctlapi.State{}
	for _, s := range h.sup.Status().Services {
		states[s.Name] = s.State
	}
	if states["route"] != ctlapi.StateRunning || states["login"] != ctlapi.StateUnavailable {
		t.Fatalf("states: %v", states)
	}
	if _, err := h.sup.Restart("login"); err == nil {
		t.Fatal("restart of an unavailable service accepted")
	}
}

func TestTwoMsgInstances(t *testing.T) {
	fakes := &appliancetest.Fakes{}
	h := newHarness(t, fakes, func(o *Options) {
		o.Instances = []Instance{{Name: "route", Kind: "route"}, {Name: "msg", Kind: "msg"}, {Name: "msg2", Kind: "msg"}}
	})
	h.waitReady(t)
	a, b := fakes.Live("msg").Addr(), fakes.Live("msg2").Addr()
	if a == b || a == "" {
		t.Fatalf("addresses %q %q", a, b)
	}
	if got, _ := h.sup.Addrs().Lookup("msg2.listen"); got != b {
		t.Fatalf("address book msg2.listen = %q", got)
	}
}

func TestKickAndListers(t *testing.T) {
	fakes := &appliancetest.Fakes{}
	h := newHarness(t, fakes, func(o *Options) { o.Table = fakes.Table("route") })
	h.waitReady(t)
	tests := []struct {
		name   string
		user   string
		status int
	}{
		{name: "not numeric", user: "alice", status: 400},
		{name: "no msg service", user: "7", status: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.sup.Kick(context.Background(), ctlapi.KickRequest{User: tc.user})
			var ce *ctlapi.Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v", err)
			}
			if tc.status != 0 && ce.Status != tc.status {
				t.Fatalf("status = %d", ce.Status)
			}
		})
	}
	socks, _ := h.sup.Sockets()
	if len(socks) != 1 || socks[0].Kind != "listen" {
		t.Fatalf("sockets = %+v", socks)
	}
}

func TestReload(t *testing.T) {
	fakes := &appliancetest.Fakes{}
	var lv slog.LevelVar
	h := newHarness(t, fakes, func(o *Options) { o.LogLevel = &lv; o.Table = fakes.Table("route") })
	h.waitReady(t)
	next := *h.sup.config()
	next.Log.Level = "debug"
	next.Route.Listen = "127.0.0.1:1"
	applied, restart := h.sup.Reload(&next)
	if !slices.Equal(applied, []string{"log.level"}) || !slices.Equal(restart, []string{"route.listen"}) || lv.Level() != slog.LevelDebug {
		t.Fatalf("applied %v restart %v level %v", applied, restart, lv.Level())
	}
	if h.sup.config().Route.Listen != "127.0.0.1:0" {
		t.Fatal("a restart-only key changed the running config")
	}
}

// TestReloadReachesRestartedRuns: a live key applied by SIGHUP stays applied
// when the service restarts later (it is built from its instance's config).
func TestReloadReachesRestartedRuns(t *testing.T) {
	fakes := &appliancetest.Fakes{}
	h := newHarness(t, fakes, func(o *Options) {
		own := *o.Config
		own.Msg.MaxConns = 777 // an instance with its own config keeps it
		o.Instances = []Instance{{Name: "route", Kind: "route"}, {Name: "msg", Kind: "msg"}, {Name: "msg2", Kind: "msg", Config: &own}}
	})
	h.waitReady(t)
	next := *h.sup.config()
	next.Msg.MaxMsgsPerSecond = 7
	next.Route.Listen = "127.0.0.1:1"
	if applied, _ := h.sup.Reload(&next); !slices.Equal(applied, []string{"msg.max_msgs_per_second"}) {
		t.Fatalf("applied %v", applied)
	}
	for _, name := range []string{"msg", "msg2"} {
		if _, err := h.sup.Restart(name); err != nil {
			t.Fatal(err)
		}
		eventually(t, name+" restarted", func() bool {
			return fakes.Runs(name) == 2 && h.sup.unitState(name) == ctlapi.StateRunning
		})
		cfg := fakes.Live(name).Config()
		if cfg.Msg.MaxMsgsPerSecond != 7 {
			t.Errorf("%s restarted with msg.max_msgs_per_second = %d, want the reloaded 7", name, cfg.Msg.MaxMsgsPerSecond)
		}
		if cfg.Route.Listen != "127.0.0.1:0" {
			t.Errorf("%s restarted with a restart-only key changed: route.listen = %s", name, cfg.Route.Listen)
		}
	}
	if got := fakes.Live("msg2").Config().Msg.MaxConns; got != 777 {
		t.Errorf("msg2 lost its own config: max_conns = %d", got)
	}
}

func TestSampleHistory(t *testing.T) {
	fakes := &appliancetest.Fakes{}
	h := newHarness(t, fakes, func(o *Options) { o.Table = fakes.Table("msg") })
	h.waitReady(t)
	echo(t, fakes.Live("msg").Addr())
	prev := map[string][2]uint64{}
	s := h.sup.collect(prev, 1)
	if s.MsgsPerSec != 1 {
		t.Fatalf("sample = %+v", s)
	}
	if s2 := h.sup.collect(prev, 1); s2.MsgsPerSec != 0 {
		t.Fatalf("second sample = %+v", s2)
	}
}
