package appliance

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"teamtalk/appliance/ctlapi"
	"teamtalk/daemons"
)

// The methods below are what the control API serves (ctlserver.Backend).

// Status returns the appliance's summary.
func (s *Supervisor) Status() ctlapi.Status {
	cfg := s.config()
	s.mu.Lock()
	ready, sample, metrics := s.ready, s.sample, s.metricsAddr
	s.mu.Unlock()
	st := ctlapi.Status{
		Version:    Version,
		PID:        pid(),
		Started:    s.started,
		Ready:      ready,
		ConfigFile: s.opts.ConfigFile,
		DataDir:    cfg.DataDir,
		Socket:     s.opts.Socket,
		Services:   []ctlapi.ServiceSummary{},
		Addresses:  s.addrs.All(),
		Counters:   sample,
		Metrics:    metrics,
	}
	for _, u := range s.units {
		u.mu.Lock()
		st.Services = append(st.Services, ctlapi.ServiceSummary{
			Name: u.name, Kind: u.kind, State: u.state, Since: u.since, Restarts: u.restarts, LastError: u.lastErr,
		})
		u.mu.Unlock()
	}
	return st
}

// Services returns every instance's full status, in start order.
func (s *Supervisor) Services() []ctlapi.ServiceStatus {
	out := make([]ctlapi.ServiceStatus, 0, len(s.units))
	for _, u := range s.units {
		out = append(out, u.status())
	}
	return out
}

// Restart asks the named instance to restart now (skipping any backoff).
func (s *Supervisor) Restart(name string) (ctlapi.RestartResult, error) {
	u, err := s.unitNamed(name)
	if err != nil {
		return ctlapi.RestartResult{}, err
	}
	u.mu.Lock()
	state, stopping := u.state, u.stopping
	u.mu.Unlock()
	switch {
	case state == ctlapi.StateUnavailable:
		return ctlapi.RestartResult{}, ctlapi.Errorf(http.StatusConflict, "service %s is not built into this teamtalkd", name)
	case stopping:
		return ctlapi.RestartResult{}, ctlapi.Errorf(http.StatusConflict, "service %s is stopping", name)
	}
	u.requestRestart()
	return ctlapi.RestartResult{Service: name, Message: "restart requested (was " + string(state) + ")"}, nil
}

// Panic makes the named instance's current run panic, for the reliability
// tests of the real binary: the supervisor must recover it and restart the
// service. Refused (403) unless supervisor.test_hooks is on, and (409)
// unless the service is running.
func (s *Supervisor) Panic(name string) (ctlapi.RestartResult, error) {
	if !s.config().Supervisor.TestHooks {
		return ctlapi.RestartResult{}, ctlapi.Errorf(http.StatusForbidden, "fault injection is off (supervisor.test_hooks = false)")
	}
	u, err := s.unitNamed(name)
	if err != nil {
		return ctlapi.RestartResult{}, err
	}
	u.mu.Lock()
	state := u.state
	u.mu.Unlock()
	if state != ctlapi.StateRunning {
		return ctlapi.RestartResult{}, ctlapi.Errorf(http.StatusConflict, "service %s is %s, not running", name, state)
	}
	select {
	case u.panicc <- "panic requested":
	default:
		return ctlapi.RestartResult{}, ctlapi.Errorf(http.StatusConflict, "service %s has a panic pending already", name)
	}
	u.log.Warn("panic injected through the control API")
	return ctlapi.RestartResult{Service: name, Message: "panic injected (was running)"}, nil
}

// unitNamed returns the named instance, or a 404 that lists the names.
func (s *Supervisor) unitNamed(name string) (*unit, error) {
	var names []string
	for _, u := range s.units {
		if u.name == name {
			return u, nil
		}
		names = append(names, u.name)
	}
	return nil, ctlapi.NotFound("no service %q here (have: %s)", name, strings.Join(names, ", "))
}

// running returns the services of the instances that are running now.
func (s *Supervisor) running() []daemons.Service {
	var out []daemons.Service
	for _, u := range s.units {
		u.mu.Lock()
		if u.svc != nil && u.state == ctlapi.StateRunning {
			out = append(out, u.svc)
		}
		u.mu.Unlock()
	}
	return out
}

// MsgServers lists the msg servers registered with the login services here.
func (s *Supervisor) MsgServers() ([]ctlapi.MsgServer, error) {
	out := fromRunning(s, daemons.MsgServerLister.MsgServers)
	slices.SortFunc(out, func(a, b ctlapi.MsgServer) int { return strings.Compare(a.Addr, b.Addr) })
	return out, nil
}

// Sockets lists the sockets of every running service.
func (s *Supervisor) Sockets() ([]ctlapi.Socket, error) {
	return fromRunning(s, daemons.SocketLister.Sockets), nil
}

// Timers lists the timers of every running service.
func (s *Supervisor) Timers() ([]ctlapi.Timer, error) {
	return fromRunning(s, daemons.TimerLister.Timers), nil
}

// fromRunning joins what list returns for every running service that is an
// L, in start order; empty, not nil, when none is.
func fromRunning[L, T any](s *Supervisor, list func(L) []T) []T {
	out := []T{}
	for _, l := range runningAs[L](s) {
		out = append(out, list(l)...)
	}
	return out
}

// runningAs returns the running services that are an L, in start order.
func runningAs[L any](s *Supervisor) []L {
	var out []L
	for _, svc := range s.running() {
		if l, ok := svc.(L); ok {
			out = append(out, l)
		}
	}
	return out
}

// Online lists the online users: route's view when route runs here (it
// knows every msg server's users), else the local msg services'.
func (s *Supervisor) Online() ([]ctlapi.OnlineUser, error) {
	var byRoute, byMsg []ctlapi.OnlineUser
	routeRunning := false
	for _, u := range s.units {
		u.mu.Lock()
		svc, running := u.svc, u.state == ctlapi.StateRunning
		u.mu.Unlock()
		l, ok := svc.(daemons.OnlineLister)
		if !ok || !running {
			continue
		}
		if u.kind == "route" {
			routeRunning = true
			byRoute = append(byRoute, l.Online()...)
		} else {
			byMsg = append(byMsg, l.Online()...)
		}
	}
	// A route that is starting or restarting knows nobody yet: the msg
	// services' view stands in for it.
	out := byRoute
	if !routeRunning {
		out = byMsg
	}
	if out == nil {
		out = []ctlapi.OnlineUser{}
	}
	slices.SortFunc(out, func(a, b ctlapi.OnlineUser) int { return int(a.UserID) - int(b.UserID) })
	return out, nil
}

// Kick disconnects a user from every msg service here.
func (s *Supervisor) Kick(ctx context.Context, req ctlapi.KickRequest) (ctlapi.KickResult, error) {
	id, err := strconv.ParseUint(strings.TrimSpace(req.User), 10, 32)
	if err != nil || id == 0 {
		return ctlapi.KickResult{}, ctlapi.Errorf(http.StatusBadRequest, "user %q: give the numeric user id", req.User)
	}
	kickers := runningAs[daemons.Kicker](s)
	if len(kickers) == 0 {
		return ctlapi.KickResult{}, ctlapi.NotImplemented("no msg service is running here to kick from")
	}
	res := ctlapi.KickResult{UserID: uint32(id)}
	for _, k := range kickers {
		n, err := k.Kick(ctx, uint32(id), req.Reason)
		if err != nil {
			return res, ctlapi.Errorf(http.StatusBadGateway, "kick user %d: %v", id, err)
		}
		res.Kicked += n
	}
	return res, nil
}

// Events returns recorded lifecycle events after since (newest limit).
func (s *Supervisor) Events(since uint64, limit int) ([]ctlapi.Event, error) {
	evs, err := s.opts.Records.Events(since, limit)
	if evs == nil {
		evs = []ctlapi.Event{}
	}
	return evs, err
}

// History returns the newest limit counters samples.
func (s *Supervisor) History(limit int) ([]ctlapi.CounterSample, error) {
	h, err := s.opts.Records.Samples(limit)
	if h == nil {
		h = []ctlapi.CounterSample{}
	}
	return h, err
}

// Snapshot assembles what the console shows. Every watch tick calls it, so
// each service's Status is built once: the running services' sockets and
// timers are taken from it (a service's Status carries its SocketLister and
// TimerLister lists) instead of asking every service for them again.
func (s *Supervisor) Snapshot() ctlapi.Snapshot {
	snap := ctlapi.Snapshot{Time: time.Now(), Status: s.Status(), Services: s.Services()}
	snap.MsgServers, _ = s.MsgServers()
	snap.Sockets, snap.Timers = []ctlapi.Socket{}, []ctlapi.Timer{}
	for _, st := range snap.Services {
		if st.State == ctlapi.StateRunning {
			snap.Sockets = append(snap.Sockets, st.Sockets...)
			snap.Timers = append(snap.Timers, st.Timers...)
		}
	}
	snap.Online, _ = s.Online()
	snap.Events, _ = s.Events(0, 50)
	snap.History, _ = s.History(300)
	return snap
}

// sampleLoop records the counters each tick and the msg server registrations
// every tenth, until ctx is done.
func (s *Supervisor) sampleLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	prev := map[string][2]uint64{} // instance → msgs, logins totals
	last := time.Now()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			sample := s.collect(prev, now.Sub(last).Seconds())
			sample.Time = now
			last = now
			s.mu.Lock()
			s.sample = sample
			s.mu.Unlock()
			if err := s.opts.Records.AppendSample(sample); err != nil {
				s.log.Error("record counters", "err", err)
			}
			if n%10 == 0 {
				if ms, _ := s.MsgServers(); len(ms) > 0 {
					if err := s.opts.Records.PutMsgServers(now, ms); err != nil {
						s.log.Error("record msg servers", "err", err)
					}
				}
			}
		}
	}
}

// collect sums the counters of the running services into one sample.
func (s *Supervisor) collect(prev map[string][2]uint64, secs float64) ctlapi.CounterSample {
	var out ctlapi.CounterSample
	var msgs, logins float64
	var onlineMsg, onlineRoute uint64
	routeHere := false
	for _, u := range s.units {
		// Only a running service's counters count: its state is read
		// under the lock and only its own Status is asked, without the
		// supervisor's merge (listen addresses and all) of u.status.
		u.mu.Lock()
		svc, state := u.svc, u.state
		u.mu.Unlock()
		if state != ctlapi.StateRunning {
			delete(prev, u.name)
			continue
		}
		var c map[string]uint64
		if svc != nil {
			c = safeCounters(svc)
		}
		p := prev[u.name]
		msgs += float64(delta(c[ctlapi.CounterMsgs], p[0]))
		logins += float64(delta(c[ctlapi.CounterLogins], p[1]))
		prev[u.name] = [2]uint64{c[ctlapi.CounterMsgs], c[ctlapi.CounterLogins]}
		if u.kind == "route" {
			routeHere = true
			onlineRoute += c[ctlapi.CounterOnline]
		} else {
			onlineMsg += c[ctlapi.CounterOnline]
		}
	}
	if secs > 0 {
		out.MsgsPerSec, out.LoginsPerSec = msgs/secs, logins/secs
	}
	out.Online = onlineMsg
	if routeHere {
		out.Online = onlineRoute
	}
	return out
}

// delta is cur-prev, or cur when the counter restarted from zero.
func delta(cur, prev uint64) uint64 {
	if cur < prev {
		return cur
	}
	return cur - prev
}
