// Package dbproxy is TeamTalk's db_proxy_server: it accepts server links (from
// msg and httpmsg) on [dbproxy].listen, decodes each request by command id,
// runs it on a bounded pool of worker goroutines against the state.Store, and
// answers on the same link with the reply command, the request's seq and its
// attach_data echoed byte for byte (PROTOCOL.md §1.6, §1.8, §4, §5.4).
//
// Messages (IMMsgData) of one conversation always run on the same worker, in
// arrival order, and the reply (the message with its new id) is sent only
// after the store's commit returned: an id is acked only for a durable
// message, and ids of one conversation increase in the order the messages
// arrived. Every other request runs on whichever worker is free.
//
// Links follow the server-link rules: the proxy sends a heartbeat on a link it
// has written nothing to for [link].heartbeat and closes a link it heard
// nothing from for [link].timeout; it never echoes heartbeats. On stop it
// sends IMStopReceivePacket to every link, finishes the requests in flight,
// then closes.
package dbproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"teamtalk/appliance/config"
	"teamtalk/appliance/ctlapi"
	"teamtalk/daemons"
	"teamtalk/daemons/internal/shutdown"
	"teamtalk/netloop"
	"teamtalk/state"
	"teamtalk/wire"
	"teamtalk/wire/pb"
	"teamtalk/wire/textcrypt"
)

// queuePerWorker bounds each worker's queue (and the shared queue, times the
// worker count). A request that finds its queue full is dropped and counted.
const queuePerWorker = 1024

// drainTimeout bounds how long a stopping proxy waits for requests in flight
// before it closes its links anyway.
const drainTimeout = 5 * time.Second

// Service is the running db proxy. Build it with New; Run serves.
type Service struct {
	d       daemons.Deps
	cfg     config.DBProxyCfg
	loops   int
	hb      time.Duration // send a heartbeat after this long without writing
	timeout time.Duration // close a link silent for this long
	store   state.Store
	log     *slog.Logger
	now     func() time.Time // clock for quiet hours and the failure limiter

	limiter      *limiter
	audioPreview []byte // the encrypted "[语音]" shown for audio messages
	handlers     map[uint16]*handler

	pool *pool
	grp  atomic.Pointer[netloop.Group] // set once listening, for the workers' replies
	// workCtx is the workers' context, set before listening: the loop
	// queues text messages straight on the store with it.
	workCtx context.Context
	// msgBacklog counts scanned messages waiting on a worker to be queued
	// on the store; while any wait, later ones queue behind them (order).
	msgBacklog atomic.Int64

	mu      sync.Mutex
	state   ctlapi.State
	since   time.Time
	group   *netloop.Group
	ln      *netloop.Listener
	addr    string
	timers  []*timerInfo
	latency *prometheus.HistogramVec

	badBodies   atomic.Uint64
	unknownCmds atomic.Uint64
	overloads   atomic.Uint64
	heartbeats  atomic.Uint64
	badLog      rateLog
	unknownLog  rateLog
	overLog     rateLog
	errLog      rateLog

	// Group refusals (PROTOCOL.md §4.4, §4.10 and the limits of issue 5).
	groupNonMember atomic.Uint64 // group messages from non-members or to unknown groups
	groupTooLarge  atomic.Uint64 // creates or adds past max_group_members
	groupNoUser    atomic.Uint64 // creates or adds naming users that do not exist
	groupLog       rateLog
}

// timerInfo describes one of the service's timers for the console.
type timerInfo struct {
	name     string
	interval time.Duration
	next     atomic.Int64 // unix nanoseconds
	fired    atomic.Uint64
}

// audioPreview is what session and unread lists show, encrypted, as the
// latest message of an audio message (PROTOCOL.md §7.1): "[voice]".
const audioPreview = "[语音]"

// New builds the db proxy from its dependencies without starting anything.
// It needs a local store (Deps.Store).
func New(d daemons.Deps) (daemons.Service, error) {
	return newService(d)
}

func newService(d daemons.Deps) (*Service, error) {
	if d.Config == nil {
		return nil, errors.New("dbproxy: no config")
	}
	if d.Store == nil {
		return nil, errors.New("dbproxy: no local store (Deps.Store is nil)")
	}
	c := d.Config.DBProxy
	if c.Workers < 1 {
		return nil, fmt.Errorf("dbproxy: workers must be positive, got %d", c.Workers)
	}
	if c.LoginFailLimit < 1 || c.LoginFailWindow <= 0 {
		return nil, fmt.Errorf("dbproxy: login failure limit %d per %s is not positive", c.LoginFailLimit, c.LoginFailWindow)
	}
	preview, err := textcrypt.Encrypt(c.AESKey, []byte(audioPreview))
	if err != nil {
		return nil, fmt.Errorf("dbproxy: audio preview: %w", err)
	}
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{
		d:            d,
		cfg:          c,
		loops:        max(d.Config.Netloop.Loops, 1),
		hb:           time.Duration(d.Config.Link.Heartbeat),
		timeout:      time.Duration(d.Config.Link.Timeout),
		store:        d.Store,
		log:          log,
		now:          time.Now,
		limiter:      newLimiter(c.LoginFailLimit, time.Duration(c.LoginFailWindow)),
		audioPreview: preview,
		state:        ctlapi.StateStopped,
		since:        time.Now(),
	}
	if s.hb <= 0 {
		s.hb = 5 * time.Second
	}
	if s.timeout <= 0 {
		s.timeout = 30 * time.Second
	}
	s.handlers = handlerTable()
	s.pool = newPool(c.Workers, queuePerWorker)
	return s, nil
}

// Name returns the instance name.
func (s *Service) Name() string { return s.d.Name }

// Addr returns the bound listen address ("" before Run bound it).
func (s *Service) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

func (s *Service) setState(st ctlapi.State) {
	s.mu.Lock()
	s.state, s.since = st, time.Now()
	s.mu.Unlock()
}

// Run binds the listener, starts the workers and serves until ctx is done;
// then it tells every link to stop sending, finishes the requests in flight
// and closes.
func (s *Service) Run(ctx context.Context, ready func()) (err error) {
	s.setState(ctlapi.StateStarting)
	defer s.setState(ctlapi.StateStopped)

	tick := min(time.Second, s.hb/4, s.timeout/4)
	g, err := netloop.New(netloop.Options{
		Owner:  s.d.Name,
		Loops:  s.loops,
		Logger: s.log,
		Tick:   max(tick, 10*time.Millisecond),
		OnPanic: func(v any, stack []byte) {
			s.log.Error("dbproxy: panic in a callback", "panic", v, "stack", string(stack))
		},
	})
	if err != nil {
		return fmt.Errorf("dbproxy: netloop: %w", err)
	}
	if err := g.Start(); err != nil {
		return fmt.Errorf("dbproxy: netloop start: %w", err)
	}
	workCtx, cancelWork := context.WithCancel(context.Background())
	defer cancelWork()
	s.pool.start(workCtx, s.run)
	s.workCtx = workCtx

	if s.d.Metrics != nil {
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace:   "teamtalk",
			Subsystem:   "dbproxy",
			Name:        "request_seconds",
			Help:        "Time from a request's arrival to its reply, by command.",
			ConstLabels: prometheus.Labels{"instance": s.d.Name},
			Buckets:     prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"command"})
		if err := s.d.Metrics.Register(h); err != nil {
			s.log.Warn("dbproxy: metrics not registered", "err", err)
		} else {
			s.mu.Lock()
			s.latency = h
			s.mu.Unlock()
			// Each handler keeps its own series, so a reply does not look
			// it up (or take s.mu) per request.
			for _, hd := range s.handlers {
				o := h.WithLabelValues(hd.name)
				hd.observer.Store(&o)
			}
			defer func() {
				for _, hd := range s.handlers {
					hd.observer.Store(nil)
				}
				s.d.Metrics.Unregister(h)
			}()
		}
	}

	addr := s.d.ListenAddr("listen", s.cfg.Listen)
	ln, err := g.Listen(addr, (*linkHandler)(s), netloop.ListenOptions{
		MaxFrame:    wire.MaxServerFrame,
		WriteBound:  wire.MaxServerFrame,
		IdleTimeout: s.timeout,
	})
	if err != nil {
		shutdown.Group(g, drainTimeout, s.log, "dbproxy")
		s.pool.stop()
		return fmt.Errorf("dbproxy: listen %s: %w", addr, err)
	}
	bound := ln.Addr().String()
	s.mu.Lock()
	s.group, s.ln, s.addr = g, ln, bound
	s.mu.Unlock()
	s.grp.Store(g)
	if s.d.Addrs != nil {
		s.d.Publish("listen", bound)
	}

	hbEvery := max(min(s.hb/4, time.Second), 10*time.Millisecond)
	s.addTimer(g, "heartbeat", hbEvery, s.sendHeartbeats)
	s.addTimer(g, "login-limiter-sweep", time.Minute, func() { s.limiter.sweep(s.now()) })

	s.setState(ctlapi.StateRunning)
	s.log.Info("dbproxy: listening", "addr", bound, "workers", s.cfg.Workers)
	ready()

	<-ctx.Done()
	s.setState(ctlapi.StateStopping)
	s.drain(g, ln)
	shutdown.Group(g, drainTimeout, s.log, "dbproxy")
	cancelWork()
	s.pool.stop()
	return nil
}

// drain is the graceful part of a stop: no new links, IMStopReceivePacket to
// every link, then wait (bounded) until no request is queued or running.
func (s *Service) drain(g *netloop.Group, ln *netloop.Listener) {
	if err := ln.Close(); err != nil {
		s.log.Warn("dbproxy: close listener", "err", err)
	}
	frame, err := wire.Marshal(wire.NewHeader(pb.CmdOtherStopRecvPacket, 0), &pb.IMStopReceivePacket{Result: proto.Uint32(0)})
	if err == nil {
		for _, c := range g.Conns() {
			_ = g.Write(c.ID, frame) // a link closing meanwhile needs no notice
		}
	}
	deadline := time.Now().Add(drainTimeout)
	for s.pool.busy() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if s.pool.busy() {
		s.log.Warn("dbproxy: stopping with requests still in flight")
	}
}

func (s *Service) addTimer(g *netloop.Group, name string, every time.Duration, fn func()) {
	ti := &timerInfo{name: name, interval: every}
	ti.next.Store(time.Now().Add(every).UnixNano())
	g.AddTimer(every, true, func() {
		ti.fired.Add(1)
		ti.next.Store(time.Now().Add(every).UnixNano())
		fn()
	})
	s.mu.Lock()
	s.timers = append(s.timers, ti)
	s.mu.Unlock()
}

// sendHeartbeats runs on loop 0: every link that has not been written to for
// the heartbeat interval gets one (PROTOCOL.md §1.5).
func (s *Service) sendHeartbeats() {
	s.mu.Lock()
	g := s.group
	s.mu.Unlock()
	if g == nil {
		return
	}
	now := time.Now()
	var frame []byte
	for _, ci := range g.Conns() {
		c := g.Conn(ci.ID)
		if c == nil || c.State() != netloop.StateOpen {
			continue
		}
		last := c.LastWrite()
		if opened, ok := c.Context().(time.Time); ok && opened.After(last) {
			last = opened
		}
		if now.Sub(last) < s.hb {
			continue
		}
		if frame == nil {
			frame = wire.AppendFrame(nil, wire.NewHeader(pb.CmdOtherHeartbeat, 0), nil)
		}
		if c.Write(frame) == nil {
			s.heartbeats.Add(1)
		}
	}
}

// Status reports the listener, links, timers and per-command counters.
func (s *Service) Status() ctlapi.ServiceStatus {
	s.mu.Lock()
	st := ctlapi.ServiceStatus{
		Name:  s.d.Name,
		Kind:  s.d.Kind,
		State: s.state,
		Since: s.since,
	}
	if s.addr != "" {
		st.Listen = map[string]string{"listen": s.addr}
	}
	s.mu.Unlock()
	st.Sockets = s.Sockets()
	st.Timers = s.Timers()
	st.Counters = s.counters()
	return st
}

// Sockets lists the listener and every link.
func (s *Service) Sockets() []ctlapi.Socket {
	s.mu.Lock()
	g, addr := s.group, s.addr
	s.mu.Unlock()
	if g == nil {
		return nil
	}
	out := []ctlapi.Socket{{Service: s.d.Name, Kind: "listen", Local: addr}}
	now := time.Now()
	for _, c := range g.Conns() {
		out = append(out, ctlapi.Socket{
			Service:  s.d.Name,
			Loop:     c.Loop,
			ID:       uint32(c.ID),
			Kind:     "peer-in",
			Local:    c.Local,
			Remote:   c.Remote,
			LastRead: now.Add(-c.Idle),
			BytesIn:  c.BytesIn,
			BytesOut: c.BytesOut,
			Queued:   c.Queued,
		})
	}
	return out
}

// Timers lists the service's timers (heartbeat check, limiter sweep).
func (s *Service) Timers() []ctlapi.Timer {
	s.mu.Lock()
	ts := slices.Clone(s.timers)
	s.mu.Unlock()
	out := make([]ctlapi.Timer, 0, len(ts))
	for _, t := range ts {
		out = append(out, ctlapi.Timer{
			Service:  s.d.Name,
			Name:     t.name,
			Interval: t.interval,
			Next:     time.Unix(0, t.next.Load()),
			Fired:    t.fired.Load(),
		})
	}
	return out
}

// counters flattens the per-command statistics and the service's totals.
func (s *Service) counters() map[string]uint64 {
	m := map[string]uint64{
		"bad_bodies":                    s.badBodies.Load(),
		"unknown_cmds":                  s.unknownCmds.Load(),
		"overloads":                     s.overloads.Load(),
		"heartbeats_sent":               s.heartbeats.Load(),
		"login_limited":                 uint64(s.limiter.size()),
		"group_msgs_refused_non_member": s.groupNonMember.Load(),
		"group_changes_refused_size":    s.groupTooLarge.Load(),
		"group_changes_refused_no_user": s.groupNoUser.Load(),
	}
	m["pending"] = uint64(max(s.pool.pending.Load(), 0))
	s.mu.Lock()
	g := s.group
	s.mu.Unlock()
	if g != nil {
		t := g.Stats().Total
		m["links"] = uint64(t.Open)
		m["frames_in"] = t.FramesIn
		m["frames_out"] = t.FramesOut
	}
	for _, h := range s.handlers {
		name := h.name
		m[name+".requests"] = h.requests.Load()
		m[name+".errors"] = h.errors.Load()
		m[name+".latency_us_total"] = h.latencyUS.Load()
		m[name+".latency_us_max"] = h.maxUS.Load()
	}
	return m
}

// CommandNames lists the commands the proxy serves, for tests and docs.
func CommandNames() []string {
	t := handlerTable()
	names := make([]string, 0, len(t))
	for _, k := range slices.Sorted(maps.Keys(t)) {
		names = append(names, t[k].name)
	}
	return names
}

// rateLog lets one line through per second and counts the rest.
type rateLog struct {
	last       atomic.Int64
	suppressed atomic.Uint64
}

// allow reports whether a line may be logged now, and how many were
// suppressed since the last one.
func (r *rateLog) allow() (bool, uint64) {
	now := time.Now().UnixNano()
	last := r.last.Load()
	if now-last < int64(time.Second) || !r.last.CompareAndSwap(last, now) {
		r.suppressed.Add(1)
		return false, 0
	}
	return true, r.suppressed.Swap(0)
}
