// Package httpmsg is http_msg_server, the HTTP API of the PHP admin panel
// and of other back ends (PROTOCOL.md §4.15). It answers POST /query/<Name>
// with a JSON body, in the reference's format: jsoncpp styled JSON with the
// reference's exact headers, then the connection is closed.
//
//	/query/CreateGroup    req_user_id, app_key, group_name, group_type (1|2),
//	                      group_avatar, user_id_list → {error_code, error_msg, group_id}
//	/query/ChangeMembers  req_user_id, app_key, group_id, modify_type (1 add,
//	                      2 remove), user_id_list → {error_code, error_msg};
//	                      members learn it from IMGroupChangeMemberNotify via route
//	/query/SendMessage    req_user_id, app_key, to_session_id, session_type
//	                      (1 user, 2 group), msg_data (plain text)
//	                      → {error_code, error_msg, msg_id}
//
// SendMessage (ours) stores a text message through dbproxy exactly like a
// client's, then hands it to the master route, which relays it to the msg
// servers holding the receiver (or every msg server for a group); clients
// receive an ordinary IMMsgData. The text is encrypted with msg.aes_key as
// clients do. The sender is [httpmsg].system_user_id when set (a "system"
// account), else the request's req_user_id; for a group the sender must be a
// member (error 4 otherwise). Such notices are not pushed to phones.
//
// Authentication, absent in the reference: app_key must equal one of
// [httpmsg].api_keys (compared in constant time); otherwise error_code 2.
// With no keys configured every request is refused, and a warning is logged
// at start. Unparseable JSON, other paths and unknown /query/ names close the
// connection without a reply, as in the reference; so does a body over
// 64 KiB. Every request waits at most [httpmsg].request_timeout for the db
// proxy (error 10 on timeout, 12 for ChangeMembers, whose unknown groups db
// never answers).
//
// Links: db proxies (dbproxy_conns each) and route servers through
// daemons/internal/link; IMRoleSet{master=1} to the master route, no
// IMOnlineUserInfo; what route relays is ignored.
package httpmsg

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"teamtalk/appliance/config"
	"teamtalk/appliance/ctlapi"
	"teamtalk/daemons"
	"teamtalk/daemons/internal/attach"
	"teamtalk/daemons/internal/link"
	"teamtalk/daemons/internal/shutdown"
	"teamtalk/daemons/internal/tlsfront"
	"teamtalk/netloop"
	"teamtalk/wire"
	"teamtalk/wire/pb"
	"teamtalk/wire/textcrypt"
)

// The HTTP API's request body limit and shutdown bound.
const (
	maxBody            = 64 << 10
	shutdownHTTPTimout = 5 * time.Second
)

// Service is a running http_msg_server. Create it with New.
type Service struct {
	d    daemons.Deps
	log  *slog.Logger
	cfg  config.HTTPMsgCfg
	text *textcrypt.Cipher // msg.aes_key: message text is sent encrypted as clients send it
	keys [][32]byte        // sha256 of each API key
	// tls holds the HTTPS certificate (httpmsg.tls), none when plain.
	tls tlsfront.Slot

	mu     sync.Mutex
	g      *netloop.Group
	db     *link.Pool
	route  *link.Pool
	listen string

	pmu     sync.Mutex
	pending map[uint32]chan proto.Message
	nextID  atomic.Uint32

	c counters
}

// counters are the Status totals.
type counters struct {
	requests, answered, unanswered, authRefused, badParams atomic.Uint64
	groupsCreated, membersChanged, messagesSent, failures  atomic.Uint64
	timeouts, noDB, lateReplies, routeIgnored, badDBFrames atomic.Uint64
}

// New builds the service from its dependencies; it starts nothing.
func New(d daemons.Deps) (daemons.Service, error) {
	if d.Config == nil {
		return nil, fmt.Errorf("httpmsg: %s: no config", d.Name)
	}
	lg := d.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	text, err := textcrypt.New(d.Config.Msg.AESKey)
	if err != nil {
		return nil, fmt.Errorf("httpmsg: msg.aes_key: %w", err)
	}
	s := &Service{d: d, log: lg, cfg: d.Config.HTTPMsg, text: text, pending: map[uint32]chan proto.Message{}}
	for _, k := range s.cfg.APIKeys {
		s.keys = append(s.keys, sha256.Sum256([]byte(k)))
	}
	return s, nil
}

// Name returns the instance name.
func (s *Service) Name() string { return s.d.Name }

// Run connects to the db proxies and routes, serves HTTP on
// [httpmsg].listen until ctx is done, then shuts down.
func (s *Service) Run(ctx context.Context, ready func()) error {
	if len(s.keys) == 0 {
		s.log.Warn("httpmsg: httpmsg.api_keys is empty: every request is refused (error_code 2)")
	}
	lc := link.ConfigFrom(s.d.Config)
	g, err := link.StartGroup("httpmsg", netloop.Options{Owner: s.d.Name, Loops: 1, Logger: s.log, Tick: lc.Tick()})
	if err != nil {
		return err
	}
	mk := func(svc string, entries []string, per int, cb link.Callbacks) *link.Pool {
		return link.NewPool(g, link.PoolOptions{
			Service: svc, Entries: entries, PerEntry: per, Resolve: s.d.Resolve,
			Config: lc, MaxFrame: wire.MaxServerFrame, Logger: s.log.With("peer", svc), Callbacks: cb,
		})
	}
	db := mk(config.DBProxy, s.cfg.DBProxy, max(s.cfg.DBProxyConns, 1), link.Callbacks{Frame: s.onDBFrame})
	route := mk(config.Route, s.cfg.Route, 1, link.Callbacks{
		Master: func(l *link.Link) {
			if f, err := wire.Marshal(wire.NewHeader(pb.CmdOtherRoleSet, 0), &pb.IMRoleSet{Master: proto.Uint32(1)}); err == nil {
				_ = l.Send(f)
			}
		},
		Frame: func(*link.Link, []byte) { s.c.routeIgnored.Add(1) },
	})
	s.mu.Lock()
	s.g, s.db, s.route = g, db, route
	s.mu.Unlock()
	defer func() {
		db.Stop()
		route.Stop()
		shutdown.Group(g, shutdown.Timeout, s.log, "httpmsg")
	}()
	db.Start()
	route.Start()

	addr := s.d.ListenAddr("listen", s.cfg.Listen)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("httpmsg: listen %s: %w", addr, err)
	}
	bound := ln.Addr().String()
	s.mu.Lock()
	s.listen = bound
	s.mu.Unlock()
	s.d.Publish("listen", bound)
	srv := &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: s.cfg.IdleTimeout.D(),
		ReadTimeout:       s.cfg.IdleTimeout.D(),
		IdleTimeout:       s.cfg.IdleTimeout.D(),
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	sln, err := s.serveTLS(srv, ln)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sln) }()
	s.log.Info("httpmsg: listening", "addr", bound, "api_keys", len(s.keys))
	ready()
	select {
	case <-ctx.Done():
	case err := <-served:
		return fmt.Errorf("httpmsg: serve: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownHTTPTimout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	<-served
	return nil
}

// attachData is what every db reply httpmsg waits for carries.
type attachData interface {
	proto.Message
	GetAttachData() []byte
}

// onDBFrame hands a db reply to the request waiting for it.
func (s *Service) onDBFrame(_ *link.Link, f []byte) {
	h := wire.ParseHeader(f)
	switch h.CommandID {
	case pb.CmdGroupCreateResponse, pb.CmdGroupChangeMemberResponse, pb.CmdGroupInfoResponse, pb.CmdMsgData:
	default:
		s.c.badDBFrames.Add(1)
		return
	}
	m, err := wire.DecodeBody(h.CommandID, f[wire.HeaderLen:])
	if err != nil {
		s.c.badDBFrames.Add(1)
		return
	}
	am, ok := m.(attachData)
	if !ok {
		s.c.badDBFrames.Add(1)
		return
	}
	d, err := attach.Decode(am.GetAttachData())
	if err != nil {
		s.c.badDBFrames.Add(1)
		return
	}
	s.pmu.Lock()
	ch := s.pending[d.Handle]
	delete(s.pending, d.Handle)
	s.pmu.Unlock()
	if ch == nil {
		s.c.lateReplies.Add(1)
		return
	}
	ch <- m // buffered: never blocks
}

// errNoDB means no db proxy link is usable.
var errNoDB = errors.New("httpmsg: no db proxy link")

// errTimeout means db did not answer within request_timeout.
var errTimeout = errors.New("httpmsg: db proxy did not answer in time")

// call sends a request to db (one link picked by key, so requests of one
// session keep their order) with a handle attach naming it, and waits for
// the reply.
func (s *Service) call(ctx context.Context, key uint32, cmd uint16, build func(attach []byte) proto.Message) (proto.Message, error) {
	s.mu.Lock()
	db := s.db
	s.mu.Unlock()
	if db == nil {
		return nil, errNoDB
	}
	links := db.Usable()
	if len(links) == 0 {
		return nil, errNoDB
	}
	id := s.nextID.Add(1)
	for id == 0 {
		id = s.nextID.Add(1)
	}
	f, err := wire.Marshal(wire.NewHeader(cmd, 0), build(attach.Handle(attach.TypeHandle, id)))
	if err != nil {
		return nil, fmt.Errorf("httpmsg: encode: %w", err)
	}
	ch := make(chan proto.Message, 1)
	s.pmu.Lock()
	s.pending[id] = ch
	s.pmu.Unlock()
	defer func() {
		s.pmu.Lock()
		delete(s.pending, id)
		s.pmu.Unlock()
	}()
	if err := links[int(key)%len(links)].Send(f); err != nil {
		return nil, errNoDB
	}
	t := time.NewTimer(s.cfg.RequestTimeout.D())
	defer t.Stop()
	select {
	case m := <-ch:
		return m, nil
	case <-t.C:
		return nil, errTimeout
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// toRoute sends a frame to the master route.
func (s *Service) toRoute(cmd uint16, m proto.Message) error {
	s.mu.Lock()
	r := s.route
	s.mu.Unlock()
	if r == nil {
		return link.ErrNoLink
	}
	f, err := wire.Marshal(wire.NewHeader(cmd, 0), m)
	if err != nil {
		return fmt.Errorf("httpmsg: encode: %w", err)
	}
	return r.SendMaster(f)
}

// authorized reports whether key is one of the API keys (constant time in
// the key's contents, whatever its length).
func (s *Service) authorized(key string) bool {
	sum := sha256.Sum256([]byte(key))
	ok := 0
	for i := range s.keys {
		ok |= subtle.ConstantTimeCompare(sum[:], s.keys[i][:])
	}
	return ok == 1
}

// Sockets lists the db and route links.
func (s *Service) Sockets() []ctlapi.Socket {
	s.mu.Lock()
	g := s.g
	s.mu.Unlock()
	return link.Sockets(g, s.d.Name, nil)
}

// Timers lists the links' timers.
func (s *Service) Timers() []ctlapi.Timer {
	s.mu.Lock()
	db, route := s.db, s.route
	s.mu.Unlock()
	var out []ctlapi.Timer
	for _, p := range []*link.Pool{db, route} {
		if p != nil {
			out = append(out, p.Timers(s.d.Name)...)
		}
	}
	return out
}

// Status reports the listener, links and request counters.
func (s *Service) Status() ctlapi.ServiceStatus {
	st := ctlapi.ServiceStatus{Name: s.d.Name, Kind: s.d.Kind}
	s.mu.Lock()
	listen, db, route := s.listen, s.db, s.route
	s.mu.Unlock()
	if listen != "" {
		st.Listen = map[string]string{"listen": listen}
	}
	for _, p := range []*link.Pool{db, route} {
		if p != nil {
			st.Peers = append(st.Peers, p.Peers()...)
		}
	}
	st.Sockets = s.Sockets()
	st.Timers = s.Timers()
	s.pmu.Lock()
	waiting := len(s.pending)
	s.pmu.Unlock()
	st.Counters = map[string]uint64{
		"requests":        s.c.requests.Load(),
		"answered":        s.c.answered.Load(),
		"unanswered":      s.c.unanswered.Load(),
		"auth_refused":    s.c.authRefused.Load(),
		"bad_params":      s.c.badParams.Load(),
		"groups_created":  s.c.groupsCreated.Load(),
		"members_changed": s.c.membersChanged.Load(),
		"messages_sent":   s.c.messagesSent.Load(),
		"failures":        s.c.failures.Load(),
		"db_timeouts":     s.c.timeouts.Load(),
		"no_db":           s.c.noDB.Load(),
		"late_replies":    s.c.lateReplies.Load(),
		"route_ignored":   s.c.routeIgnored.Load(),
		"bad_db_frames":   s.c.badDBFrames.Load(),
		"waiting":         uint64(waiting),
		"api_keys":        uint64(len(s.keys)),
	}
	return st
}
