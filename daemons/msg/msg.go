// Package msg is the msg service (the reference's msg_server): it accepts
// TeamTalk clients, logs them in through dbproxy, keeps their sessions, and
// relays every client command to dbproxy, route, login, file and push, then
// routes the answers and notifications back to the right local connections
// (PROTOCOL.md §4, §5).
//
// Connections are referred to by netloop connection id; the id is also the
// handle in the attach data of requests sent upstream (§1.8). Sessions live
// in a registry sharded by connection id and by user id. Several instances
// (msg, msg2) may run in one process: everything is per Service value.
package msg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"teamtalk/appliance/config"
	"teamtalk/appliance/ctlapi"
	"teamtalk/daemons"
	"teamtalk/daemons/internal/link"
	"teamtalk/daemons/internal/shutdown"
	"teamtalk/netloop"
	"teamtalk/wire"
	"teamtalk/wire/pb"
	"teamtalk/wire/textcrypt"
)

// kickGrace is how long a kicked connection stays open for its IMKickUser
// to arrive before the server closes it (PROTOCOL.md §10.2).
const kickGrace = 2 * time.Second

// counters are the service's totals, reported in Status.
type counters struct {
	logins        atomic.Uint64
	loginFailures atomic.Uint64
	loginBlocked  atomic.Uint64 // logins refused by the per-address limit
	msgsIn        atomic.Uint64
	persisted     atomic.Uint64 // messages db stored (an id allocated)
	delivered     atomic.Uint64
	acks          atomic.Uint64
	rateLimited   atomic.Uint64
	badBodies     atomic.Uint64
	unauth        atomic.Uint64
	loginTimeouts atomic.Uint64 // connections closed for not logging in in time
	drainRefused  atomic.Uint64 // messages refused (never stored, never acked) while stopping
	kicks         atomic.Uint64
	dropped       atomic.Uint64 // replies or requests with nowhere to go
	noLink        atomic.Uint64 // requests dropped because the upstream link was down
	pushes        atomic.Uint64
	pushSkipped   atomic.Uint64
}

// Service is one msg instance.
type Service struct {
	d   daemons.Deps
	cfg config.MsgCfg
	log *slog.Logger
	rl  *rateLog
	ipf *ipFails
	reg *registry
	gc  *groupCache // member lists of recently active groups
	c   counters
	rt  reqTimes

	text *textcrypt.Cipher // decrypts message text for push alerts (msg.aes_key)

	// inflight counts client messages sent to db and not yet answered;
	// draining refuses new ones while Run stops (see drain).
	inflight atomic.Int64
	draining atomic.Bool
	tls      tlsPort

	// The live settings (config.LiveKey), replaced by Reload and read per
	// use; cfg keeps the values Run started with.
	maxMsgsPerSec atomic.Int64 // msg.max_msgs_per_second; 0 or less: no limit
	maxConns      atomic.Int64 // msg.max_conns, reported to login

	// run is what Run set up (nil before): read without a lock by every
	// message's callbacks.
	run atomic.Pointer[running]

	mu       sync.Mutex                  // guards the fields below
	fileIPs  map[*link.Link][]*pb.IpAddr // the file links' client addresses
	hostname string
}

// running is one Run's client group, listener and upstream pools, fixed for
// the run.
type running struct {
	g       *netloop.Group
	ln      *netloop.Listener
	port    uint32
	dbLogin *link.Pool // the login pool (§5.4); may have no links
	dbGen   *link.Pool // the general pool
	route   *link.Pool
	login   *link.Pool
	file    *link.Pool
	push    *link.Pool
}

// Service implements the supervisor's optional reload and counters
// interfaces.
var (
	_ daemons.Reloader      = (*Service)(nil)
	_ daemons.CounterSource = (*Service)(nil)
)

// New builds a msg service from its dependencies; it starts nothing.
func New(d daemons.Deps) (daemons.Service, error) {
	if d.Config == nil {
		return nil, errors.New("msg: no config")
	}
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	text, err := textcrypt.New(d.Config.Msg.AESKey)
	if err != nil {
		return nil, fmt.Errorf("msg: msg.aes_key: %w", err)
	}
	host, _ := os.Hostname()
	s := &Service{
		d:        d,
		cfg:      d.Config.Msg,
		log:      log,
		rl:       newRateLog(time.Second),
		ipf:      newIPFails(d.Config.Msg.LoginFailPerIP, d.Config.Msg.LoginFailWindow.D()),
		reg:      newRegistry(),
		gc:       newGroupCache(),
		text:     text,
		fileIPs:  map[*link.Link][]*pb.IpAddr{},
		hostname: host,
	}
	s.maxMsgsPerSec.Store(int64(d.Config.Msg.MaxMsgsPerSecond))
	s.maxConns.Store(int64(d.Config.Msg.MaxConns))
	return s, nil
}

// Reload applies the live msg settings of cfg (daemons.Reloader):
// msg.max_msgs_per_second takes effect on each client's next message, and a
// changed msg.max_conns is reported at once to every login server this
// instance is registered with (a fresh IMMsgServInfo, which login takes as
// an update of the registration).
func (s *Service) Reload(cfg *config.Config) error {
	if cfg == nil {
		return errors.New("msg: reload: no config")
	}
	s.maxMsgsPerSec.Store(int64(cfg.Msg.MaxMsgsPerSecond))
	tlsErr := s.reloadTLS()
	if old := s.maxConns.Swap(int64(cfg.Msg.MaxConns)); old != int64(cfg.Msg.MaxConns) {
		if _, _, _, login, _, _, _ := s.pools(); login != nil {
			for _, l := range login.Usable() {
				s.onLoginConfirmed(l)
			}
		}
	}
	s.log.Info("reloaded", "max_msgs_per_second", cfg.Msg.MaxMsgsPerSecond, "max_conns", cfg.Msg.MaxConns)
	return tlsErr
}

// Name returns the instance name.
func (s *Service) Name() string { return s.d.Name }

// Run binds the client listener, starts the upstream links, reports ready
// once its db, route and login links are confirmed, and serves until ctx is
// done.
func (s *Service) Run(ctx context.Context, ready func()) error {
	lc := link.ConfigFrom(s.d.Config)
	loops := s.d.Config.Netloop.Loops
	g, err := netloop.New(netloop.Options{
		Owner:   s.d.Name,
		Loops:   loops,
		Logger:  s.log,
		Tick:    lc.Tick(),
		OnPanic: func(v any, stack []byte) { s.log.Error("panic in callback", "panic", v, "stack", string(stack)) },
	})
	if err != nil {
		return fmt.Errorf("msg: netloop: %w", err)
	}
	if err := g.Start(); err != nil {
		return fmt.Errorf("msg: netloop start: %w", err)
	}
	s.inflight.Store(0) // a restarted run starts afresh
	s.draining.Store(false)
	// Deferred first, so it runs last: after the drain at the end of Run
	// and the upstream pools' stop.
	defer shutdown.Group(g, shutdown.Timeout, s.log, "msg")
	addr := s.d.ListenAddr("listen", s.cfg.Listen)
	clo := netloop.ListenOptions{
		MaxFrame:    wire.MaxClientFrame,
		WriteBound:  s.cfg.WriteBound,
		IdleTimeout: s.cfg.LoginTimeout.D(),
	}
	ln, err := g.Listen(addr, clientHandler{s}, clo)
	if err != nil {
		return fmt.Errorf("msg: listen %s: %w", addr, err)
	}
	front, err := s.listenTLS(g, clo)
	if err != nil {
		return err
	}
	if front != nil {
		defer front.Close() // before the group stop (deferred earlier)
	}
	bound := ln.Addr().String()
	_, p, _ := net.SplitHostPort(bound)
	port, _ := strconv.Atoi(p)
	s.d.Publish("listen", bound)

	mk := func(svc string, entries []string, per int, cb link.Callbacks) *link.Pool {
		return link.NewPool(g, link.PoolOptions{
			Service: svc, Entries: entries, PerEntry: per, Resolve: s.d.Resolve,
			Config: lc, MaxFrame: wire.MaxServerFrame, Logger: s.log.With("peer", svc), Callbacks: cb,
		})
	}
	per := max(s.cfg.DBProxyConns, 1)
	half := len(s.cfg.DBProxy) / 2
	dbcb := link.Callbacks{Frame: s.onDBFrame}
	var push []string
	if s.cfg.Push != "" {
		push = []string{s.cfg.Push}
	}
	r := &running{
		g: g, ln: ln, port: uint32(port),
		dbLogin: mk(config.DBProxy, s.cfg.DBProxy[:half], per, dbcb),
		dbGen:   mk(config.DBProxy, s.cfg.DBProxy[half:], per, dbcb),
		route: mk(config.Route, s.cfg.Route, 1, link.Callbacks{
			Master: s.onRouteMaster, Confirmed: s.onRouteConfirmed, Frame: s.onRouteFrame,
			Closed: func(*link.Link, error) { s.gc.clear() },
		}),
		login: mk(config.Login, s.cfg.Login, 1, link.Callbacks{Confirmed: s.onLoginConfirmed, Frame: s.onLoginFrame}),
		file:  mk(config.File, s.cfg.File, 1, link.Callbacks{Confirmed: s.onFileConfirmed, Frame: s.onFileFrame, Closed: s.onFileClosed}),
		push:  mk(config.Push, push, 1, link.Callbacks{Frame: s.onPushFrame}),
	}
	s.run.Store(r)
	pools := []*link.Pool{r.dbLogin, r.dbGen, r.route, r.login, r.file, r.push}
	for _, p := range pools {
		p.Start()
	}
	defer func() {
		for _, p := range pools {
			p.Stop()
		}
	}()
	s.log.Info("listening", "addr", bound)
	if s.d.Metrics != nil {
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace:   "teamtalk",
			Subsystem:   "msg",
			Name:        "request_seconds",
			Help:        "Time from a client request's arrival at msg to its reply to the client, by command.",
			ConstLabels: prometheus.Labels{"instance": s.d.Name},
			Buckets:     prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"command"})
		if err := s.d.Metrics.Register(h); err != nil {
			s.log.Warn("metrics not registered", "err", err)
		} else {
			s.rt.enable(h)
			defer func() { s.rt.enable(nil); s.d.Metrics.Unregister(h) }()
		}
	}
	g.AddTimer(10*time.Second, true, func() { s.rt.sweep(time.Now(), reqMaxAge); s.gc.sweep() })

	// Ready only once db, route and login links are confirmed (ARCHITECTURE:
	// clients are never refused right after READY).
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !s.upstreamsUp() {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
	s.log.Info("upstream links confirmed; ready")
	ready()
	<-ctx.Done()
	ln.Close()
	s.drain(drainTimeout)
	return nil
}

// drainTimeout bounds how long a stopping msg waits for the db replies of
// messages already sent to dbproxy.
const drainTimeout = 3 * time.Second

// drain runs when msg stops: new client messages are refused from now on
// (dropped unstored and unacked: their senders see no ack and may resend),
// and the messages already sent to dbproxy get their replies, and so
// their senders' acks, before the connections close (Run's deferred
// netloop Stop flushes the acks). It waits at most timeout, and gives up
// sooner when no reply came for a second (replies lost with a db link that
// dropped never come): such a message stays unacked, never acked and lost.
func (s *Service) drain(timeout time.Duration) {
	s.draining.Store(true)
	deadline := time.Now().Add(timeout)
	last, progress := s.inflight.Load(), time.Now()
	for n := last; n > 0 && time.Now().Before(deadline) && time.Since(progress) < time.Second; n = s.inflight.Load() {
		if n < last {
			last, progress = n, time.Now()
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := s.inflight.Load(); n > 0 {
		s.log.Warn("stopping with messages unanswered by db", "messages", n)
	}
}

// upstreamsUp reports whether every configured db, route and login list has
// a usable link.
func (s *Service) upstreamsUp() bool {
	return (len(s.cfg.DBProxy) == 0 || s.dbAny() != nil) &&
		(len(s.cfg.Route) == 0 || len(s.run.Load().route.Usable()) > 0) &&
		(len(s.cfg.Login) == 0 || len(s.run.Load().login.Usable()) > 0)
}

// pools returns the pools (nil before Run).
func (s *Service) pools() (dbLogin, dbGen, route, login, file, push *link.Pool, g *netloop.Group) {
	r := s.run.Load()
	if r == nil {
		return nil, nil, nil, nil, nil, nil, nil
	}
	return r.dbLogin, r.dbGen, r.route, r.login, r.file, r.push, r.g
}

// Status reports listeners, links, sockets, timers and counters.
func (s *Service) Status() ctlapi.ServiceStatus {
	st := ctlapi.ServiceStatus{Name: s.d.Name, Kind: config.Msg}
	dbl, dbg, route, login, file, push, g := s.pools()
	if r := s.run.Load(); r != nil {
		st.Listen = map[string]string{"listen": r.ln.Addr().String()}
	}
	for _, p := range []*link.Pool{dbl, dbg, route, login, file, push} {
		if p != nil {
			st.Peers = append(st.Peers, p.Peers()...)
		}
	}
	st.Counters = s.Counters()
	if g != nil {
		st.Sockets = s.Sockets()
		st.Timers = s.Timers()
		s.tlsStatus(&st)
	}
	return st
}

// Counters implements daemons.CounterSource: Status's counters alone.
func (s *Service) Counters() map[string]uint64 {
	_, _, _, _, _, _, g := s.pools()
	users, conns := s.reg.counts()
	c := map[string]uint64{
		ctlapi.CounterOnline:        uint64(users),
		ctlapi.CounterLogins:        s.c.logins.Load(),
		ctlapi.CounterMsgs:          s.c.msgsIn.Load(),
		"online_conns":              uint64(conns),
		"login_failures":            s.c.loginFailures.Load(),
		"logins_blocked_ip":         s.c.loginBlocked.Load(),
		"msgs_delivered":            s.c.delivered.Load(),
		"msgs_persisted":            s.c.persisted.Load(),
		"requests_pending":          uint64(s.rt.pending()),
		"requests_unanswered":       s.rt.unanswered.Load(),
		"msg_acks":                  s.c.acks.Load(),
		"msgs_rate_limited":         s.c.rateLimited.Load(),
		"bad_bodies":                s.c.badBodies.Load(),
		"unauthenticated":           s.c.unauth.Load(),
		"login_timeouts":            s.c.loginTimeouts.Load(),
		"drain_refused":             s.c.drainRefused.Load(),
		"kicks":                     s.c.kicks.Load(),
		"dropped":                   s.c.dropped.Load(),
		"no_link":                   s.c.noLink.Load(),
		"pushes":                    s.c.pushes.Load(),
		"pushes_skipped":            s.c.pushSkipped.Load(),
		"group_cache_hits":          s.gc.hits.Load(),
		"group_cache_misses":        s.gc.misses.Load(),
		"group_cache_revalidations": s.gc.revalidations.Load(),
		"group_cache_groups":        uint64(s.gc.size()),
	}
	if g != nil {
		t := g.Stats().Total
		c["bytes_in"] = t.BytesIn
		c["bytes_out"] = t.BytesOut
		c["frame_errors"] = t.FrameErrors
		c["idle_closes"] = t.IdleCloses
		c["slow_reader_closes"] = t.SlowReaderCloses
	}
	return c
}

// Sockets lists the service's sockets: the listener, client connections
// (with their user) and upstream links.
func (s *Service) Sockets() []ctlapi.Socket {
	_, _, _, _, _, _, g := s.pools()
	if g == nil {
		return nil
	}
	var out []ctlapi.Socket
	if r := s.run.Load(); r != nil {
		out = append(out, ctlapi.Socket{Service: s.d.Name, Kind: "listen", Local: r.ln.Addr().String()})
	}
	out = append(out, s.tlsSocket()...)
	now := time.Now()
	for _, ci := range g.Conns() {
		so := ctlapi.Socket{
			Service: s.d.Name, Loop: ci.Loop, ID: uint32(ci.ID), Kind: "client",
			Local: ci.Local, Remote: ci.Remote, LastRead: now.Add(-ci.Idle),
			BytesIn: ci.BytesIn, BytesOut: ci.BytesOut, Queued: ci.Queued,
		}
		if ci.Dialed {
			so.Kind = "peer-out"
		} else if c := s.reg.conn(ci.ID); c != nil {
			so.Opened = time.Unix(0, c.opened)
			if uid, _, ok := c.session(); ok {
				so.UserID = uid
			}
		}
		out = append(out, so)
	}
	return out
}

// Timers lists the link pools' timers.
func (s *Service) Timers() []ctlapi.Timer {
	dbl, dbg, route, login, file, push, _ := s.pools()
	var out []ctlapi.Timer
	for _, p := range []*link.Pool{dbl, dbg, route, login, file, push} {
		if p != nil {
			out = append(out, p.Timers(s.d.Name)...)
		}
	}
	return out
}

// Online lists the users logged in here with their connections.
func (s *Service) Online() []ctlapi.OnlineUser {
	var out []ctlapi.OnlineUser
	for _, uid := range s.reg.userIDs() {
		ou := ctlapi.OnlineUser{UserID: uid, MsgServer: s.d.Name}
		for _, c := range s.reg.userConns(uid) {
			c.mu.Lock()
			ou.Clients = append(ou.Clients, ctlapi.Client{Type: uint32(c.ctype), Status: uint32(c.status), ConnID: uint32(c.id)})
			c.mu.Unlock()
		}
		out = append(out, ou)
	}
	return out
}

// Kick sends IMKickUser with reason (0 means duplicate user) to every local
// connection of userID and closes them; it returns how many it closed.
func (s *Service) Kick(ctx context.Context, userID uint32, reason uint32) (int, error) {
	_, _, _, _, _, _, g := s.pools()
	if g == nil {
		return 0, errors.New("msg: not running")
	}
	if reason == 0 {
		reason = uint32(pb.KickReasonType_KICK_REASON_DUPLICATE_USER)
	}
	f := frame(wire.NewHeader(pb.CmdLoginKickUser, 0), &pb.IMKickUser{
		UserId: &userID, KickReason: pb.KickReasonType(reason).Enum(),
	})
	n := 0
	for _, c := range s.reg.userConns(userID) {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		_ = g.Write(c.id, f)
		g.Close(c.id)
		s.c.kicks.Add(1)
		n++
	}
	return n, nil
}

var (
	_ daemons.Kicker       = (*Service)(nil)
	_ daemons.OnlineLister = (*Service)(nil)
	_ daemons.SocketLister = (*Service)(nil)
	_ daemons.TimerLister  = (*Service)(nil)
)
