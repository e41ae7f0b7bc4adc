package appliance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"teamtalk/appliance/config"
	"teamtalk/appliance/ctlapi"
	"teamtalk/daemons"
	"teamtalk/daemons/builtin"
	"teamtalk/state"
	"teamtalk/state/records"
)

// Instance is one service instance to run. Tests run two msg instances by
// giving two Instances of Kind "msg" with different names and configs.
type Instance struct {
	Name   string         // unique; also the logger tag and address book prefix
	Kind   string         // one of config.ServiceNames
	Config *config.Config // nil: Options.Config
}

// Options configures a Supervisor.
type Options struct {
	// Config is the effective configuration (required).
	Config *config.Config
	// Table holds the constructors by kind; nil means builtin.Table().
	Table daemons.Table
	// Instances overrides the instances derived from Config.Enabled() (one
	// per enabled service, named by its kind). They run in the given order.
	Instances []Instance
	// Logger is the root logger (required); each service gets it With("svc", name).
	Logger *slog.Logger
	// LogLevel, when set, is the level SIGHUP's reload changes.
	LogLevel *slog.LevelVar
	// Records is the open appliance.db (required).
	Records *records.DB
	// Metrics is the appliance's registry; nil makes a fresh one.
	Metrics *prometheus.Registry
	// Store is the IM store opened by the caller, handed to the services in
	// Deps.Store; nil when no service here needs it.
	Store state.Store
	// ConfigFile and Socket are shown in Status.
	ConfigFile, Socket string
}

// Supervisor runs the services: in order, restarting failed ones with backoff,
// stopping them in reverse. Create it with New and run it with Run once.
type Supervisor struct {
	opts    Options
	log     *slog.Logger
	addrs   *daemons.AddressBook
	reg     *prometheus.Registry
	units   []*unit
	started time.Time

	up       *prometheus.GaugeVec
	restarts *prometheus.CounterVec

	mu     sync.Mutex
	cfg    *config.Config // replaced by Reload
	ready  bool
	early  chan earlyFailure // failures before READY
	sample ctlapi.CounterSample
	// metricsAddr is the bound address of /metrics, once it listens.
	metricsAddr string
}

type earlyFailure struct {
	unit string
	err  error
}

// New checks the options and builds the supervisor; it starts nothing.
func New(opts Options) (*Supervisor, error) {
	if opts.Config == nil || opts.Logger == nil || opts.Records == nil {
		return nil, errors.New("appliance: Options.Config, Logger and Records are required")
	}
	if opts.Table == nil {
		opts.Table = builtin.Table()
	}
	if opts.Metrics == nil {
		opts.Metrics = prometheus.NewRegistry()
	}
	insts := opts.Instances
	if insts == nil {
		for _, k := range opts.Config.Enabled() {
			insts = append(insts, Instance{Name: k, Kind: k})
		}
	}
	s := &Supervisor{
		opts:    opts,
		log:     opts.Logger,
		addrs:   &daemons.AddressBook{},
		reg:     opts.Metrics,
		cfg:     opts.Config,
		started: time.Now(),
		early:   make(chan earlyFailure, len(insts)+1),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "teamtalkd_service_up", Help: "1 when the service instance is running (ready).",
		}, []string{"service"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "teamtalkd_service_restarts_total", Help: "Restarts of the service instance after a failure or by the operator.",
		}, []string{"service"}),
	}
	seen := map[string]bool{}
	for _, in := range insts {
		if in.Name == "" || seen[in.Name] {
			return nil, fmt.Errorf("appliance: instance name %q is empty or repeated", in.Name)
		}
		seen[in.Name] = true
		known := false
		for _, n := range config.ServiceNames() {
			known = known || n == in.Kind
		}
		if !known {
			return nil, fmt.Errorf("appliance: instance %s: unknown kind %q", in.Name, in.Kind)
		}
		cfg := in.Config
		if cfg == nil {
			cfg = opts.Config
		}
		u := &unit{
			s: s, name: in.Name, kind: in.Kind, cfg: cfg,
			ctor:    opts.Table[in.Kind],
			log:     opts.Logger.With("svc", in.Name),
			restart: make(chan struct{}, 1),
			panicc:  make(chan string, 1),
			done:    make(chan struct{}),
			readyc:  make(chan struct{}),
			since:   time.Now(),
		}
		u.state = ctlapi.StateStopped
		if u.ctor == nil {
			u.state = ctlapi.StateUnavailable
		}
		s.units = append(s.units, u)
	}
	if err := s.registerMetrics(); err != nil {
		return nil, err
	}
	return s, nil
}

// Registry returns the appliance's Prometheus registry.
func (s *Supervisor) Registry() *prometheus.Registry { return s.reg }

// Addrs returns the address book the services publish into.
func (s *Supervisor) Addrs() *daemons.AddressBook { return s.addrs }

// Run starts every instance in order, calls ready once all are running, then
// supervises them until ctx is cancelled, and stops them in reverse within
// supervisor.stop_timeout. A failure before ready stops the instances already
// started, in reverse, and is returned. A nil return means a clean stop.
func (s *Supervisor) Run(ctx context.Context, ready func()) error {
	cfg := s.config()
	s.event("", ctlapi.EventStarted, "teamtalkd "+Version+" starting")
	ms, err := s.startMetrics()
	if err != nil {
		s.event("", ctlapi.EventFailed, err.Error())
		return err
	}
	defer func() {
		if err := ms.stop(); err != nil {
			s.log.Error("metrics", "err", err)
		}
	}()
	var started []*unit
	fail := func(err error) error {
		s.event("", ctlapi.EventFailed, err.Error())
		if stopErr := s.stop(started); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		return err
	}
	for _, u := range s.units {
		if u.ctor == nil {
			msg := fmt.Sprintf("service %s is not built into this teamtalkd yet; not started", u.kind)
			u.log.Warn(msg)
			s.event(u.name, ctlapi.EventWarning, msg)
			continue
		}
		started = append(started, u)
		go u.loop()
		select {
		case <-u.readyc:
		case f := <-s.early:
			return fail(fmt.Errorf("appliance: %s failed to start: %w", f.unit, f.err))
		case <-ctx.Done():
			s.log.Info("stop requested during start")
			return s.stop(started)
		}
	}
	s.mu.Lock()
	select {
	case f := <-s.early:
		s.mu.Unlock()
		return fail(fmt.Errorf("appliance: %s failed before ready: %w", f.unit, f.err))
	default:
		s.ready = true
	}
	s.mu.Unlock()
	s.log.Info("teamtalkd ready", "services", len(started), "version", Version)
	s.event("", ctlapi.EventStarted, fmt.Sprintf("ready: %d services running", len(started)))
	if ready != nil {
		ready()
	}

	sctx, stopSampler := context.WithCancel(context.WithoutCancel(ctx))
	samplerDone := make(chan struct{})
	go func() {
		defer close(samplerDone)
		s.sampleLoop(sctx, time.Second)
	}()
	<-ctx.Done()
	stopSampler()
	<-samplerDone
	s.log.Info("stopping", "timeout", cfg.Supervisor.StopTimeout)
	err = s.stop(started)
	s.event("", ctlapi.EventStopped, "teamtalkd stopped")
	return err
}

// stop cancels the units in reverse order, waiting for each, all within
// supervisor.stop_timeout.
func (s *Supervisor) stop(units []*unit) error {
	deadline := time.NewTimer(s.config().Supervisor.StopTimeout.D())
	defer deadline.Stop()
	var late []string
	for i := len(units) - 1; i >= 0; i-- {
		u := units[i]
		u.stop()
		select {
		case <-u.done:
			continue
		case <-deadline.C:
		}
		// Out of time: cancel the rest at once and give them a short grace.
		late = append(late, u.name)
		for _, r := range units[:i] {
			r.stop()
		}
		grace := time.After(s.config().Supervisor.StopTimeout.D() / 10)
		for j := i - 1; j >= 0; j-- {
			select {
			case <-units[j].done:
			case <-grace:
				late = append(late, units[j].name)
			}
		}
		break
	}
	if len(late) > 0 {
		return fmt.Errorf("appliance: %s did not stop within %s", strings.Join(late, ", "), s.config().Supervisor.StopTimeout)
	}
	return nil
}

func (s *Supervisor) config() *config.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}

// isReady reports whether READY was reached; if not, it queues the failure
// for Run (under the same lock, so a failure is never lost in between).
func (s *Supervisor) failedEarly(name string, err error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ready {
		return false
	}
	s.early <- earlyFailure{unit: name, err: err}
	return true
}

// event logs nothing itself; it records e in appliance.db.
func (s *Supervisor) event(service string, kind ctlapi.EventKind, msg string) {
	if _, err := s.opts.Records.AppendEvent(ctlapi.Event{Service: service, Kind: kind, Message: msg}); err != nil {
		s.log.Error("record event", "err", err)
	}
}

// Reload applies the live keys of cfg (config.LiveKey) and returns the
// changed keys that were applied and those that need a restart of teamtalkd.
func (s *Supervisor) Reload(cfg *config.Config) (applied, needRestart []string) {
	s.mu.Lock()
	old := s.cfg
	s.mu.Unlock()
	applied, needRestart = config.Diff(old, cfg)
	if s.opts.LogLevel != nil {
		var lv slog.Level
		if err := lv.UnmarshalText([]byte(cfg.Log.Level)); err == nil {
			s.opts.LogLevel.Set(lv)
		}
	}
	// Each instance's config takes the live keys (it keeps its own values
	// of the others), so a run built later, after a failure or an operator
	// restart, keeps what was applied.
	for _, u := range s.units {
		u.mu.Lock()
		u.cfg = withLive(u.cfg, cfg, applied)
		ucfg := u.cfg
		u.mu.Unlock()
		if r, ok := u.service().(daemons.Reloader); ok {
			if err := r.Reload(ucfg); err != nil {
				u.log.Error("reload", "err", err)
			}
		}
	}
	// Keep the old values of the keys that need a restart, so Status and the
	// next reload's diff describe what actually runs.
	s.mu.Lock()
	s.cfg = withLive(old, cfg, applied)
	s.mu.Unlock()
	msg := fmt.Sprintf("applied: %s; needs a restart: %s", listOrNone(applied), listOrNone(needRestart))
	s.log.Info("config reloaded", "applied", applied, "needs_restart", needRestart)
	s.event("", ctlapi.EventReloaded, msg)
	return applied, needRestart
}

// withLive returns a copy of base with cur's values of the changed live keys
// (config.LiveKey; applied as Diff returns them).
func withLive(base, cur *config.Config, applied []string) *config.Config {
	next := *base
	for _, k := range applied {
		switch k {
		case "log.level":
			next.Log.Level = cur.Log.Level
		case "msg.max_msgs_per_second":
			next.Msg.MaxMsgsPerSecond = cur.Msg.MaxMsgsPerSecond
		case "msg.max_conns":
			next.Msg.MaxConns = cur.Msg.MaxConns
		}
	}
	return &next
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}

// pid is the process id shown in Status.
func pid() int { return os.Getpid() }
