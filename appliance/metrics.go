package appliance

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"teamtalk/appliance/ctlapi"
	"teamtalk/daemons"
	"teamtalk/internal/httpguard"
	"teamtalk/netloop"
)

// NetStatser is implemented by services that run on netloop and expose their
// Group's statistics; /metrics reads it at scrape time. Services without it
// are described from their Status counters ("bytes_in", "frames_in", ...)
// and their SocketLister / TimerLister lists instead.
type NetStatser interface {
	NetStats() netloop.Stats
}

// registerMetrics adds the Go runtime and process collectors, the
// per-service collector and the IM store's collector (when this process
// holds the store) to the appliance's registry.
func (s *Supervisor) registerMetrics() error {
	cs := []prometheus.Collector{
		s.up, s.restarts,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newServiceCollector(s),
	}
	if s.opts.Store != nil {
		cs = append(cs, newStoreCollector(s.opts.Store))
	}
	for _, c := range cs {
		if err := s.reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				continue // the caller's registry already has it (Go, process)
			}
			return fmt.Errorf("appliance: register metrics: %w", err)
		}
	}
	for _, u := range s.units {
		s.up.WithLabelValues(u.name).Set(0)
		s.restarts.WithLabelValues(u.name)
	}
	return nil
}

// metricsServer serves /metrics (and pprof when enabled) on [metrics].listen.
type metricsServer struct {
	hs   *http.Server
	ln   net.Listener
	errc chan error
}

// startMetrics listens on [metrics].listen and serves until stopMetrics; an
// empty address disables it (nil, nil). The bound address is recorded for
// Status (ctlapi.Status.Metrics).
func (s *Supervisor) startMetrics() (*metricsServer, error) {
	cfg := s.config().Metrics
	if cfg.Listen == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("appliance: metrics: listen %s: %w", cfg.Listen, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(s.reg, promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{
		Registry:          s.reg,
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
	})))
	index := "<html><body><h1>teamtalkd</h1><p><a href=\"/metrics\">/metrics</a></p>"
	// An idle keep-alive connection is closed like one that never sends its
	// headers: a scraper reconnects, a flood of idle sockets does not pile up.
	hs := &http.Server{Handler: httpguard.Handler(mux), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 10 * time.Second, WriteTimeout: time.Minute}
	if cfg.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
		index += "<p><a href=\"/debug/pprof/\">/debug/pprof/</a></p>"
		hs.WriteTimeout = 0 // profiles and traces run as long as asked
	}
	index += "</body></html>\n"
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, index)
	})
	m := &metricsServer{hs: hs, ln: ln, errc: make(chan error, 1)}
	go func() { m.errc <- hs.Serve(ln) }()
	addr := ln.Addr().String()
	s.mu.Lock()
	s.metricsAddr = addr
	s.mu.Unlock()
	s.log.Info("metrics listening", "addr", addr, "pprof", cfg.Pprof)
	return m, nil
}

// stop shuts the server down within a second and waits for it.
func (m *metricsServer) stop() error {
	if m == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := m.hs.Shutdown(ctx); err != nil {
		m.hs.Close()
	}
	if err := <-m.errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("appliance: metrics: serve: %w", err)
	}
	return nil
}

// serviceCollector reads every running instance's Status counters and
// netloop statistics at scrape time, labelled by instance.
type serviceCollector struct {
	s *Supervisor

	counter                         *prometheus.Desc
	online, logins, msgsIn, msgsOut *prometheus.Desc
	persisted                       *prometheus.Desc
	sockets, listeners, timers      *prometheus.Desc
	net                             map[string]*prometheus.Desc // netloop counter → family
	netFromStatus                   []string                    // the Status counter keys that name netloop counters
	descs                           []*prometheus.Desc
}

func newServiceCollector(s *Supervisor) *serviceCollector {
	svc := []string{"service"}
	c := &serviceCollector{
		s: s,
		counter: prometheus.NewDesc("teamtalkd_service_counter",
			"Every counter a service reports in its status (what the console shows), by name; totals and gauges as the service defines them.",
			[]string{"service", "kind", "counter"}, nil),
		online:    prometheus.NewDesc("teamtalkd_online_users", "Users online: on this msg server, or on every msg server for route.", svc, nil),
		logins:    prometheus.NewDesc("teamtalkd_logins_total", "Successful client logins.", svc, nil),
		msgsIn:    prometheus.NewDesc("teamtalkd_messages_in_total", "Messages accepted from clients.", svc, nil),
		msgsOut:   prometheus.NewDesc("teamtalkd_messages_delivered_total", "Messages delivered to client connections.", svc, nil),
		persisted: prometheus.NewDesc("teamtalkd_messages_persisted_total", "Messages the store made durable (db answered with a message id), by the msg server that sent them.", svc, nil),
		sockets:   prometheus.NewDesc("teamtalkd_netloop_sockets", "Open sockets of the service's netloop group, by state.", []string{"service", "state"}, nil),
		listeners: prometheus.NewDesc("teamtalkd_netloop_listeners", "Listening sockets of the service's netloop group.", svc, nil),
		timers:    prometheus.NewDesc("teamtalkd_netloop_timers", "Timers of the service.", svc, nil),
		net:       map[string]*prometheus.Desc{},
	}
	for _, n := range []struct{ key, help string }{
		{"bytes_in", "Bytes read from sockets."},
		{"bytes_out", "Bytes written to sockets."},
		{"frames_in", "TeamTalk frames received."},
		{"frames_out", "TeamTalk frames sent."},
		{"accepted", "Connections accepted."},
		{"dialed", "Connections dialled."},
		{"slow_reader_closes", "Connections closed because the peer did not read (write queue over its bound)."},
		{"idle_closes", "Connections closed for idleness."},
		{"frame_errors", "Connections closed for a framing error (length under 16 or over the limit)."},
		{"panics", "Panics recovered in connection callbacks."},
		{"accept_pauses", "Times accepting paused on EMFILE/ENFILE."},
	} {
		c.net[n.key] = prometheus.NewDesc("teamtalkd_netloop_"+n.key+"_total", n.help, svc, nil)
		c.netFromStatus = append(c.netFromStatus, n.key)
	}
	c.descs = []*prometheus.Desc{c.counter, c.online, c.logins, c.msgsIn, c.msgsOut, c.persisted, c.sockets, c.listeners, c.timers}
	for _, d := range c.net {
		c.descs = append(c.descs, d)
	}
	return c
}

// netCounters names the fields of netloop.Counters as the families do.
func netCounters(n netloop.Counters) map[string]uint64 {
	return map[string]uint64{
		"bytes_in": n.BytesIn, "bytes_out": n.BytesOut, "frames_in": n.FramesIn, "frames_out": n.FramesOut,
		"accepted": n.Accepted, "dialed": n.Dialed, "slow_reader_closes": n.SlowReaderCloses,
		"idle_closes": n.IdleCloses, "frame_errors": n.FrameErrors, "panics": n.Panics, "accept_pauses": n.AcceptPauses,
	}
}

// Describe implements prometheus.Collector.
func (c *serviceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one pass over the running
// instances, calling each one's Status (and NetStats) once.
func (c *serviceCollector) Collect(ch chan<- prometheus.Metric) {
	for _, u := range c.s.units {
		c.collect(u, ch)
	}
}

// collect reports one instance; a panic in the service's methods is
// contained (Gather runs collectors on goroutines the process cannot lose).
func (c *serviceCollector) collect(u *unit, ch chan<- prometheus.Metric) {
	defer func() {
		if v := recover(); v != nil {
			u.log.Error("metrics: panic while reading the service's stats", "panic", v)
		}
	}()
	{
		st := u.status()
		svc := u.service()
		if st.State != ctlapi.StateRunning || svc == nil {
			return
		}
		name := u.name
		gauge := func(d *prometheus.Desc, v float64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{name}, labels...)...)
		}
		counter := func(d *prometheus.Desc, v uint64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), name)
		}
		for k, v := range st.Counters {
			ch <- prometheus.MustNewConstMetric(c.counter, prometheus.UntypedValue, float64(v), name, u.kind, k)
		}
		if v, ok := st.Counters[ctlapi.CounterOnline]; ok {
			gauge(c.online, float64(v))
		}
		if v, ok := st.Counters[ctlapi.CounterLogins]; ok {
			counter(c.logins, v)
		}
		if v, ok := st.Counters[ctlapi.CounterMsgs]; ok {
			counter(c.msgsIn, v)
		}
		if v, ok := st.Counters["msgs_delivered"]; ok {
			counter(c.msgsOut, v)
		}
		if v, ok := st.Counters["msgs_persisted"]; ok {
			counter(c.persisted, v)
		}
		if ns, ok := svc.(NetStatser); ok {
			n := ns.NetStats()
			gauge(c.sockets, float64(n.Total.Open), "open")
			gauge(c.sockets, float64(n.Total.Connecting), "connecting")
			gauge(c.sockets, float64(n.Total.Closing), "closing")
			gauge(c.listeners, float64(len(n.Listeners)))
			gauge(c.timers, float64(n.Timers.Count))
			for k, v := range netCounters(n.Total.Counters) {
				counter(c.net[k], v)
			}
			return
		}
		// No NetStats: what Status and the lists say.
		if l, ok := svc.(daemons.SocketLister); ok {
			open, listening := 0, 0
			for _, so := range l.Sockets() {
				if so.Kind == "listen" {
					listening++
				} else {
					open++
				}
			}
			gauge(c.sockets, float64(open), "open")
			gauge(c.listeners, float64(listening))
		}
		if l, ok := svc.(daemons.TimerLister); ok {
			gauge(c.timers, float64(len(l.Timers())))
		}
		for _, k := range c.netFromStatus {
			if v, ok := st.Counters[k]; ok {
				counter(c.net[k], v)
			}
		}
	}
}
