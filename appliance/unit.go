package appliance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"teamtalk/appliance/config"
	"teamtalk/appliance/ctlapi"
	"teamtalk/daemons"
)

// errOperatorRestart ends a run the operator asked to restart.
var errOperatorRestart = errors.New("restart requested by the operator")

// unit is one service instance and the goroutine (loop) that owns its runs.
type unit struct {
	s          *Supervisor
	name, kind string
	ctor       daemons.Constructor // nil: not built into this binary
	log        *slog.Logger

	restart   chan struct{} // operator restart requests (buffered 1)
	panicc    chan string   // injected panics (supervisor.test_hooks; buffered 1)
	done      chan struct{} // closed when loop returns
	readyc    chan struct{} // closed on the first ready
	readyOnce sync.Once

	mu       sync.Mutex
	cfg      *config.Config     // replaced by Supervisor.Reload
	cancel   context.CancelFunc // stops loop; set when loop starts
	stopping bool
	svc      daemons.Service // the current run's, nil between runs
	state    ctlapi.State
	since    time.Time
	restarts int
	lastErr  string
}

func (u *unit) set(state ctlapi.State, svc daemons.Service) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.state != state {
		u.state, u.since = state, time.Now()
	}
	u.svc = svc
	up := 0.0
	if state == ctlapi.StateRunning {
		up = 1
	}
	u.s.up.WithLabelValues(u.name).Set(up)
}

func (u *unit) service() daemons.Service {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.svc
}

// stop asks loop to end; safe before loop started and more than once.
func (u *unit) stop() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.stopping = true
	if u.cancel != nil {
		u.cancel()
	}
}

// requestRestart asks the current run to stop and a new one to start at once.
func (u *unit) requestRestart() {
	select {
	case u.restart <- struct{}{}:
	default:
	}
}

// loop runs the service until stopped: build, run, and after a failure wait
// the backoff and build again. Before READY a failure is handed to Run instead.
func (u *unit) loop() {
	defer close(u.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	u.mu.Lock()
	u.cancel = cancel
	if u.stopping {
		cancel()
	}
	u.mu.Unlock()

	cfg := u.s.config().Supervisor
	backoff := cfg.RestartBackoffMin.D()
	for {
		began := time.Now()
		err := u.runOnce(ctx)
		if ctx.Err() != nil {
			if err != nil {
				u.log.Error("stopped with error", "err", err)
			}
			u.set(ctlapi.StateStopped, nil)
			u.log.Info("stopped")
			u.s.event(u.name, ctlapi.EventStopped, errString(err))
			return
		}
		if errors.Is(err, errOperatorRestart) {
			u.log.Info("restarting", "reason", err)
			u.mu.Lock()
			u.restarts++
			u.mu.Unlock()
			u.s.restarts.WithLabelValues(u.name).Inc()
			u.s.event(u.name, ctlapi.EventRestarted, err.Error())
			backoff = cfg.RestartBackoffMin.D()
			continue
		}
		u.mu.Lock()
		u.lastErr = err.Error()
		u.mu.Unlock()
		u.log.Error("failed", "err", err)
		u.s.event(u.name, ctlapi.EventFailed, err.Error())
		if u.s.failedEarly(u.name, err) {
			u.set(ctlapi.StateStopped, nil)
			return
		}
		if time.Since(began) >= cfg.RestartBackoffMax.D() {
			backoff = cfg.RestartBackoffMin.D() // it had been up a while: start over
		}
		u.set(ctlapi.StateBackoff, nil)
		u.log.Info("restarting after backoff", "backoff", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-u.restart:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			u.set(ctlapi.StateStopped, nil)
			u.s.event(u.name, ctlapi.EventStopped, "stopped while waiting to restart")
			return
		}
		backoff = min(2*backoff, cfg.RestartBackoffMax.D())
		u.mu.Lock()
		u.restarts++
		u.mu.Unlock()
		u.s.restarts.WithLabelValues(u.name).Inc()
		u.s.event(u.name, ctlapi.EventRestarted, "after: "+err.Error())
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// runOnce builds a fresh service and runs it until it fails, is restarted
// or ctx is done. It returns nil only for a clean stop.
func (u *unit) runOnce(ctx context.Context) error {
	failc := make(chan error, 1)
	u.mu.Lock()
	cfg := u.cfg
	u.mu.Unlock()
	deps := daemons.Deps{
		Name:    u.name,
		Kind:    u.kind,
		Config:  cfg,
		Logger:  u.log,
		Addrs:   u.s.addrs,
		Store:   u.s.opts.Store,
		Metrics: prometheus.WrapRegistererWith(prometheus.Labels{"service": u.name}, u.s.reg),
		Fail: func(err error) {
			select {
			case failc <- err:
			default:
			}
		},
	}
	u.set(ctlapi.StateStarting, nil)
	svc, err := u.construct(deps)
	if err != nil {
		return err
	}
	u.set(ctlapi.StateStarting, svc)

	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	readyc := make(chan struct{})
	var once sync.Once
	errc := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				errc <- fmt.Errorf("panic: %v\n%s", r, debug.Stack())
			}
		}()
		err := svc.Run(rctx, func() { once.Do(func() { close(readyc) }) })
		if err == nil && rctx.Err() == nil {
			err = errors.New("Run returned before it was asked to stop")
		}
		errc <- err
	}()
	// An injected panic (Supervisor.Panic) happens in a goroutine of this
	// run and is recovered like a panic of Run, but the run is then ended
	// as after a reported failure: Run is cancelled and waited for.
	hookc := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				hookc <- fmt.Errorf("panic: %v\n%s", r, debug.Stack())
			}
		}()
		select {
		case msg := <-u.panicc:
			panic("injected through the control API (supervisor.test_hooks): " + msg)
		case <-rctx.Done():
		}
	}()
	// wait ends the run: cancel, then wait for Run within stop_timeout.
	wait := func(reason error) error {
		cancel()
		u.set(ctlapi.StateStopping, svc)
		t := time.NewTimer(u.s.config().Supervisor.StopTimeout.D())
		defer t.Stop()
		select {
		case err := <-errc:
			if reason == nil {
				return err
			}
			return reason
		case <-t.C:
			return errors.Join(reason, fmt.Errorf("did not stop within %s", u.s.config().Supervisor.StopTimeout))
		}
	}
	startTimer := time.NewTimer(u.s.config().Supervisor.StartTimeout.D())
	defer startTimer.Stop()
	for {
		select {
		case <-readyc:
			readyc = nil
			startTimer.Stop()
			u.set(ctlapi.StateRunning, svc)
			u.log.Info("started", "listen", svc.Status().Listen)
			u.s.event(u.name, ctlapi.EventStarted, "")
			u.readyOnce.Do(func() { close(u.readyc) })
		case err := <-errc:
			if err == nil {
				err = errors.New("Run returned nil")
			}
			return err
		case err := <-failc:
			return wait(fmt.Errorf("reported failure: %w", err))
		case err := <-hookc:
			return wait(err)
		case <-u.restart:
			return wait(errOperatorRestart)
		case <-startTimer.C:
			return wait(fmt.Errorf("not ready within %s", u.s.config().Supervisor.StartTimeout))
		case <-ctx.Done():
			return wait(nil)
		}
	}
}

// construct calls the constructor, turning a panic into an error.
func (u *unit) construct(deps daemons.Deps) (svc daemons.Service, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("constructor panic: %v", r)
		}
	}()
	svc, err = u.ctor(deps)
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	return svc, nil
}

// status merges the service's own report with the supervisor's view.
func (u *unit) status() ctlapi.ServiceStatus {
	u.mu.Lock()
	svc := u.svc
	st := ctlapi.ServiceStatus{}
	state, since, restarts, lastErr, cfg := u.state, u.since, u.restarts, u.lastErr, u.cfg
	u.mu.Unlock()
	if svc != nil {
		st = safeStatus(svc)
	}
	st.Name, st.Kind, st.State, st.Since, st.Restarts, st.LastError = u.name, u.kind, state, since, restarts, lastErr
	if st.Listen == nil {
		// Show what it published, even when it is not running.
		for _, k := range cfg.ListenKeys(u.kind) {
			if a, ok := u.s.addrs.Lookup(u.name + "." + k[0]); ok {
				if st.Listen == nil {
					st.Listen = map[string]string{}
				}
				st.Listen[k[0]] = a
			}
		}
	}
	return st
}

// safeStatus calls Status, containing a panic.
func safeStatus(svc daemons.Service) ctlapi.ServiceStatus { return contained(svc.Status) }

// safeCounters is a service's counters, from Counters when it is a
// daemons.CounterSource (without building its Status), else from Status.
func safeCounters(svc daemons.Service) map[string]uint64 {
	if cs, ok := svc.(daemons.CounterSource); ok {
		return contained(cs.Counters)
	}
	return safeStatus(svc).Counters
}

// contained returns what f returns, or the zero value when f panics.
func contained[T any](f func() T) (v T) {
	defer func() {
		if recover() != nil {
			var zero T
			v = zero
		}
	}()
	return f()
}

// unitState returns the named instance's state ("" if none); for tests and logs.
func (s *Supervisor) unitState(name string) ctlapi.State {
	u, err := s.unitNamed(name)
	if err != nil {
		return ""
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.state
}
