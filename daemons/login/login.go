// Package login is login_server: msg servers register with it and report
// their load over TCP ([login].msgserver_listen, PROTOCOL.md §5.1), and
// clients ask it over HTTP ([login].http_listen, GET /msg_server, §5.2) which
// msg server to use; the least loaded is picked. The optional TCP client
// port ([login].client_listen) answers IMMsgServReq with IMMsgServRsp and
// closes, which the reference never managed to do (§10.2). The msfs URL
// handed to clients is [login].msfs_url, or, when that is empty or the
// default and an msfs runs in this process, the address that msfs bound.
//
// Fixes over the reference: a second IMMsgServInfo on a link replaces the
// first (no inflated totals); the HTTP reply is not truncated at 1024 bytes.
package login

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"teamtalk/appliance/config"
	"teamtalk/appliance/ctlapi"
	"teamtalk/daemons"
	"teamtalk/daemons/internal/link"
	"teamtalk/daemons/internal/ratelog"
	"teamtalk/daemons/internal/tlsfront"
	"teamtalk/netloop"
	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// Service is a running login server. Create it with New.
type Service struct {
	d   daemons.Deps
	log *slog.Logger
	cfg link.Config
	reg *Registry
	// defaultMsfs is config.Default's login.msfs_url: that value (or none)
	// means "the msfs in this process, if any".
	defaultMsfs string

	net     link.Served
	listens atomic.Pointer[map[string]string]
	tls     tlsfront.Slot // the HTTPS certificate (login.http_tls)

	httpRequests, httpAnswers, httpErrors, httpRefused atomic.Uint64
	registrations, badBodies, unknown, tcpAnswers      atomic.Uint64
	badLog                                             ratelog.Gate
}

var _ daemons.MsgServerLister = (*Service)(nil)

// New builds the login service from its dependencies; it starts nothing.
func New(d daemons.Deps) (daemons.Service, error) {
	if d.Config == nil {
		return nil, fmt.Errorf("login: %s: no config", d.Name)
	}
	lg := d.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	return &Service{d: d, log: lg, cfg: link.ConfigFrom(d.Config), reg: NewRegistry(),
		defaultMsfs: config.Default().Login.MsfsURL}, nil
}

// Name returns the instance name.
func (s *Service) Name() string { return s.d.Name }

// Run binds the msg server port, the client port (unless empty) and the HTTP
// port, serves until ctx is done, then stops them and returns.
func (s *Service) Run(ctx context.Context, ready func()) error {
	lc := s.d.Config.Login
	g, in, err := s.net.Start("login", netloop.Options{Owner: s.d.Name, Loops: s.d.Config.Netloop.Loops, Logger: s.log, Tick: s.cfg.Tick()}, s.cfg)
	if err != nil {
		return err
	}
	defer s.net.Stop() // after the HTTP server's shutdown below
	var srv *http.Server
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv != nil {
			if err := srv.Shutdown(sctx); err != nil {
				s.log.Warn("login: http shutdown cut short", "err", err)
			}
		}
	}()
	listens := map[string]string{}

	addr := s.d.ListenAddr("msgserver_listen", lc.MsgServerListen)
	ln, err := g.Listen(addr, msgServHandler{s}, in.ListenOptions())
	if err != nil {
		return fmt.Errorf("login: listen msgserver %s: %w", addr, err)
	}
	listens["msgserver_listen"] = ln.Addr().String()

	if lc.ClientListen != "" {
		addr := s.d.ListenAddr("client_listen", lc.ClientListen)
		cln, err := g.Listen(addr, clientHandler{s}, netloop.ListenOptions{
			MaxFrame: wire.HeaderLen + 1024, IdleTimeout: time.Duration(lc.HTTPIdleTimeout),
		})
		if err != nil {
			return fmt.Errorf("login: listen client %s: %w", addr, err)
		}
		listens["client_listen"] = cln.Addr().String()
	}

	addr = s.d.ListenAddr("http_listen", lc.HTTPListen)
	idle := time.Duration(lc.HTTPIdleTimeout)
	hsrv := &http.Server{
		Handler:     httpHandler{s},
		ReadTimeout: idle, WriteTimeout: idle, IdleTimeout: idle,
		MaxHeaderBytes: maxRequest,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	hsrv.SetKeepAlivesEnabled(false)
	hln, err := s.listenHTTP(addr, hsrv)
	if err != nil {
		return err
	}
	srv = hsrv
	listens["http_listen"] = hln.Addr().String()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(limitListener{hln}) }()

	s.listens.Store(&listens)
	for k, v := range listens {
		s.d.Publish(k, v)
	}
	s.log.Info("login: listening", "http", listens["http_listen"], "msgserver", listens["msgserver_listen"], "client", listens["client_listen"])
	ready()
	select {
	case <-ctx.Done():
		return nil
	case err := <-served:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("login: http: %w", err)
	}
}

// msgServHandler serves msg server links (registration and load reports).
type msgServHandler struct{ s *Service }

func (h msgServHandler) OnOpen(c *netloop.Conn) {
	h.s.net.Opened(c)
}

func (h msgServHandler) OnClose(c *netloop.Conn, err error) {
	s := h.s
	s.net.Closed(c.ID())
	s.reg.Remove(c.ID())
	s.log.Info("login: msg server link closed", "conn", c.ID(), "err", err)
}

func (h msgServHandler) OnFrame(c *netloop.Conn, frame []byte) {
	if !h.s.record(c, frame) {
		// Any frame, a heartbeat too, says the msg server is alive.
		h.s.reg.Heard(c.ID())
	}
}

// record applies a registration or load report on a msg server link and
// reports whether it did (the Registry then noted the frame as heard in the
// same step).
func (s *Service) record(c *netloop.Conn, frame []byte) bool {
	cmd := wire.ParseHeader(frame).CommandID
	switch cmd {
	case pb.CmdOtherHeartbeat:
		return false
	case pb.CmdOtherMsgServInfo, pb.CmdOtherUserCntUpdate:
	default:
		s.unknown.Add(1)
		s.bad(c, cmd, "unexpected command", nil)
		return false
	}
	msg, err := wire.DecodeBody(cmd, frame[wire.HeaderLen:])
	if err != nil {
		s.badBodies.Add(1)
		s.bad(c, cmd, "bad body", err)
		return false
	}
	switch m := msg.(type) {
	case *pb.IMMsgServInfo:
		s.reg.Register(c.ID(), m)
		s.registrations.Add(1)
		s.log.Info("login: msg server registered", "conn", c.ID(), "ip1", m.GetIp1(), "ip2", m.GetIp2(),
			"port", m.GetPort(), "cur", m.GetCurConnCnt(), "max", m.GetMaxConnCnt(), "host", m.GetHostName())
	case *pb.IMUserCntUpdate:
		if !s.reg.Count(c.ID(), m.GetUserAction()) {
			s.bad(c, cmd, "count update before registration", nil)
		}
	}
	return true
}

// clientHandler serves the TCP client port: IMMsgServReq → IMMsgServRsp,
// then close.
type clientHandler struct{ s *Service }

func (h clientHandler) OnOpen(*netloop.Conn)         {}
func (h clientHandler) OnClose(*netloop.Conn, error) {}
func (h clientHandler) OnFrame(c *netloop.Conn, frame []byte) {
	s := h.s
	hdr := wire.ParseHeader(frame)
	switch hdr.CommandID {
	case pb.CmdOtherHeartbeat:
		_ = c.Write(frame) // clients' heartbeats are echoed
		return
	case pb.CmdLoginReqMsgserver:
	default:
		s.unknown.Add(1)
		s.bad(c, hdr.CommandID, "unexpected command on client port", nil)
		return
	}
	rsp := &pb.IMMsgServRsp{}
	ms, err := s.reg.Pick()
	switch {
	case errors.Is(err, ErrNoMsgServer):
		rsp.ResultCode = pb.ResultType_REFUSE_REASON_NO_MSG_SERVER.Enum()
	case err != nil:
		rsp.ResultCode = pb.ResultType_REFUSE_REASON_MSG_SERVER_FULL.Enum()
	default:
		rsp.ResultCode = pb.ResultType_REFUSE_REASON_NONE.Enum()
		rsp.PriorIp, rsp.BackipIp, rsp.Port = proto.String(ms.IP1), proto.String(ms.IP2), proto.Uint32(ms.Port)
	}
	f, err := wire.Marshal(hdr.Reply(pb.CmdLoginResMsgserver), rsp)
	if err != nil {
		s.log.Error("login: encode IMMsgServRsp", "err", err)
		c.Close()
		return
	}
	_ = c.Write(f)
	s.tcpAnswers.Add(1)
	c.Close()
}

// bad logs a dropped frame, at most once a second.
func (s *Service) bad(c *netloop.Conn, cmd uint16, what string, err error) {
	if !s.badLog.Allow(time.Second) {
		return
	}
	s.log.Warn("login: frame dropped", "why", what, "cmd", pb.CommandName(cmd), "conn", c.ID(), "err", err)
}

// MsgServers lists the registered msg servers in registration order.
func (s *Service) MsgServers() []ctlapi.MsgServer { return s.reg.List(s.d.Name) }

// Sockets lists the listeners and the netloop connections (msg server links
// and client-port connections; HTTP connections are not netloop's).
func (s *Service) Sockets() []ctlapi.Socket {
	return s.net.Sockets(s.d.Name, nil)
}

// Timers lists the heartbeat sweep.
func (s *Service) Timers() []ctlapi.Timer {
	return s.net.Timers(s.d.Name)
}

// Status reports listeners, sockets, timers and counters.
func (s *Service) Status() ctlapi.ServiceStatus {
	st := ctlapi.ServiceStatus{Name: s.d.Name, Kind: s.d.Kind}
	if l := s.listens.Load(); l != nil {
		st.Listen = *l
	}
	st.Sockets = s.Sockets()
	st.Timers = s.Timers()
	st.Counters = map[string]uint64{
		"msg_servers":      uint64(s.reg.Len()),
		"online_total":     s.reg.Online(), // sum of the msg servers' reports
		"registrations":    s.registrations.Load(),
		"http_requests":    s.httpRequests.Load(),
		"http_answers":     s.httpAnswers.Load(),
		"http_errors":      s.httpErrors.Load(),
		"http_refused":     s.httpRefused.Load(),
		"tcp_answers":      s.tcpAnswers.Load(),
		"bad_bodies":       s.badBodies.Load(),
		"unknown_commands": s.unknown.Load(),
	}
	return st
}
