package appliance

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"teamtalk/appliance/appliancetest"
	"teamtalk/appliance/config"
	"teamtalk/appliance/ctlapi"
	"teamtalk/daemons"
	"teamtalk/netloop"
	"teamtalk/state"
	"teamtalk/state/boltstore"
	"teamtalk/wire"
)

// netService is a service on a real netloop Group that echoes frames and
// implements NetStatser, standing in for a TeamTalk service at scrape time.
type netService struct {
	d daemons.Deps
	g *netloop.Group
}

func (s *netService) Name() string { return s.d.Name }

func (s *netService) Run(ctx context.Context, ready func()) error {
	g, err := netloop.New(netloop.Options{Owner: s.d.Name, Loops: 1})
	if err != nil {
		return err
	}
	if err := g.Start(); err != nil {
		return err
	}
	ln, err := g.Listen(s.d.ListenAddr("listen", s.d.Config.Push.Listen), echoHandler{}, netloop.ListenOptions{})
	if err != nil {
		g.Stop(context.Background())
		return err
	}
	s.d.Publish("listen", ln.Addr().String())
	s.g = g
	ready()
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return g.Stop(sctx)
}

func (s *netService) Status() ctlapi.ServiceStatus {
	return ctlapi.ServiceStatus{Counters: map[string]uint64{
		ctlapi.CounterOnline: 2, ctlapi.CounterLogins: 5, ctlapi.CounterMsgs: 7, "msgs_delivered": 6, "msgs_persisted": 4,
		"bytes_in": 1 << 40, // NetStats wins over Status for netloop families
	}}
}

func (s *netService) NetStats() netloop.Stats { return s.g.Stats() }

type echoHandler struct{}

func (echoHandler) OnOpen(*netloop.Conn)                  {}
func (echoHandler) OnFrame(c *netloop.Conn, frame []byte) { c.Write(append([]byte(nil), frame...)) }
func (echoHandler) OnClose(*netloop.Conn, error)          {}

func scrape(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestMetrics(t *testing.T) {
	fakes := &appliancetest.Fakes{}
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "im.db"), boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, name := range []string{"dev", "ops", "qa"} {
		if _, err := st.CreateDepart(context.Background(), state.NewDepart{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	h := newHarness(t, fakes, func(o *Options) {
		o.Store = st
		o.Table = fakes.Table("route", "msg")
		o.Table["push"] = func(d daemons.Deps) (daemons.Service, error) { return &netService{d: d}, nil }
	})
	h.waitReady(t)
	addr := h.sup.Status().Metrics
	if addr == "" || strings.HasSuffix(addr, ":0") {
		t.Fatalf("Status().Metrics = %q, want the bound address", addr)
	}

	// One frame through the netloop service, and one operator restart.
	pushAddr, _ := h.sup.Addrs().Lookup("push.listen")
	c, err := net.Dial("tcp", pushAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	frame := make([]byte, wire.HeaderLen+4)
	wire.Header{Length: uint32(len(frame)), Version: 1, ServiceID: 7, CommandID: 0x0701}.Put(frame)
	c.Write(frame)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, len(frame))); err != nil {
		t.Fatalf("echo: %v", err)
	}
	if _, err := h.sup.Restart("route"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		for _, s := range h.sup.Status().Services {
			if s.Name == "route" && s.Restarts == 1 && s.State == ctlapi.StateRunning {
				return true
			}
		}
		return false
	})

	code, body := scrape(t, addr, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	tests := []struct {
		name string
		line string // a whole sample line, or a family's name followed by a space or {
	}{
		{name: "service up", line: `teamtalkd_service_up{service="push"} 1`},
		{name: "unavailable service down", line: `teamtalkd_service_up{service="login"} 0`},
		{name: "restarts", line: `teamtalkd_service_restarts_total{service="route"} 1`},
		{name: "no restarts", line: `teamtalkd_service_restarts_total{service="push"} 0`},
		{name: "online", line: `teamtalkd_online_users{service="push"} 2`},
		{name: "logins", line: `teamtalkd_logins_total{service="push"} 5`},
		{name: "messages in", line: `teamtalkd_messages_in_total{service="push"} 7`},
		{name: "delivered", line: `teamtalkd_messages_delivered_total{service="push"} 6`},
		{name: "persisted", line: `teamtalkd_messages_persisted_total{service="push"} 4`},
		{name: "store commits", line: `teamtalkd_store_commits_total{backend="bolt"} 3`},
		{name: "store writes", line: `teamtalkd_store_writes_total{backend="bolt"} 3`},
		{name: "store failures", line: `teamtalkd_store_commit_failures_total{backend="bolt"} 0`},
		{name: "store commit sizes", line: `teamtalkd_store_commit_writes_bucket{backend="bolt",le="1"} 3`},
		{name: "store commit sizes count", line: `teamtalkd_store_commit_writes_count{backend="bolt"} 3`},
		{name: "store commit seconds", line: `teamtalkd_store_commit_seconds_count{backend="bolt"} 3`},
		{name: "store commit seconds +Inf", line: `teamtalkd_store_commit_seconds_bucket{backend="bolt",le="+Inf"} 3`},
		{name: "status counters", line: `teamtalkd_service_counter{counter="msgs_delivered",kind="push",service="push"} 6`},
		{name: "netloop bytes in", line: `teamtalkd_netloop_bytes_in_total{service="push"} 20`},
		{name: "netloop bytes out", line: `teamtalkd_netloop_bytes_out_total{service="push"} 20`},
		{name: "netloop frames in", line: `teamtalkd_netloop_frames_in_total{service="push"} 1`},
		{name: "netloop accepted", line: `teamtalkd_netloop_accepted_total{service="push"} 1`},
		{name: "slow reader closes", line: `teamtalkd_netloop_slow_reader_closes_total{service="push"} 0`},
		{name: "open sockets", line: `teamtalkd_netloop_sockets{service="push",state="open"} 1`},
		{name: "listeners", line: `teamtalkd_netloop_listeners{service="push"} 1`},
		{name: "timers", line: `teamtalkd_netloop_timers{service="push"} `},
		{name: "fake's sockets from SocketLister", line: `teamtalkd_netloop_listeners{service="msg"} 1`},
		{name: "fake's status counters", line: `teamtalkd_service_counter{counter="msgs_total",kind="msg",service="msg"} `},
		{name: "go runtime", line: "go_goroutines "},
		{name: "process", line: "process_resident_memory_bytes "},
		{name: "handler", line: "promhttp_metric_handler_requests_total{"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains("\n"+body, "\n"+tc.line) {
				t.Fatalf("no line %q in /metrics:\n%s", tc.line, grepMetrics(body, tc.line))
			}
		})
	}
	if code, _ := scrape(t, addr, "/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("pprof answered %d with metrics.pprof off", code)
	}
}

// grepMetrics returns the lines of body of the family line names.
func grepMetrics(body, line string) string {
	fam, _, _ := strings.Cut(line, "{")
	fam, _, _ = strings.Cut(fam, " ")
	var out []string
	for l := range strings.SplitSeq(body, "\n") {
		if strings.Contains(l, fam) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMetricsConfig(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(*config.Config)
		wantAddr  bool
		pprofCode int
	}{
		{name: "pprof on", edit: func(c *config.Config) { c.Metrics.Pprof = true }, wantAddr: true, pprofCode: http.StatusOK},
		{name: "disabled", edit: func(c *config.Config) { c.Metrics.Listen = "" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fakes := &appliancetest.Fakes{}
			h := newHarness(t, fakes, func(o *Options) { o.Table = fakes.Table("route"); tc.edit(o.Config) })
			h.waitReady(t)
			addr := h.sup.Status().Metrics
			if (addr != "") != tc.wantAddr {
				t.Fatalf("Status().Metrics = %q", addr)
			}
			if !tc.wantAddr {
				return
			}
			if code, body := scrape(t, addr, "/debug/pprof/"); code != tc.pprofCode || !strings.Contains(body, "goroutine") {
				t.Fatalf("pprof: %d\n%s", code, body)
			}
			if code, body := scrape(t, addr, "/debug/pprof/goroutine?debug=1"); code != http.StatusOK || !strings.Contains(body, "goroutine profile") {
				t.Fatalf("pprof goroutine: %d\n%.200s", code, body)
			}
		})
	}
}

func TestMetricsListenBusy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fakes := &appliancetest.Fakes{}
	h := newHarness(t, fakes, func(o *Options) { o.Table = fakes.Table("route"); o.Config.Metrics.Listen = ln.Addr().String() })
	select {
	case err := <-h.done:
		h.done <- err // for the harness's cleanup
		if err == nil || !strings.Contains(err.Error(), "metrics: listen") {
			t.Fatalf("Run = %v, want a metrics listen error", err)
		}
	case <-h.ready:
		t.Fatal("ready although the metrics address is taken")
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not fail")
	}
	if got := fakes.Log(); len(got) != 0 {
		t.Fatalf("services started: %v", got)
	}
}
