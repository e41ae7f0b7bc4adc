// Package push is push_server: it accepts msg servers' links (PROTOCOL.md
// §4.16, §5.6), echoes their heartbeats, closes a link silent for the link
// timeout (30 s by default) and delivers every IMPushToUserReq it receives,
// token by token, on a pool of worker goroutines (never on the event loop):
//
//   - iOS tokens go to APNs over its HTTP/2 provider API with token-based
//     authentication: an ES256 JWT signed with the .p8 key of
//     [push].apns_key_file (kid apns_key_id, iss apns_team_id), reused for
//     50 minutes and re-signed early when APNs answers ExpiredProviderToken.
//     The payload is §4.16's: alert body + badge + sound for push_type 1,
//     badge only for push_type 2 (the user is online on a PC), msg's data
//     under "custom". The reference's binary protocol is retired by Apple.
//   - Other tokens (Android), and iOS tokens when no APNs key is configured,
//     are POSTed as JSON (WebhookEvent) to [push].webhook_url, for an FCM or
//     vendor gateway.
//
// A delivery answered 429 or 5xx, or failing in transport, is retried up to
// [push].retries times with exponential backoff; 4xx answers are final.
// The reply IMPushToUserRsp carries one result per token (0 delivered, 1
// not), with the request's seq. Any command other than heartbeat and push
// request closes the link, as in the reference.
//
// Push shield: msg and db filter before a request is sent (db drops iOS
// tokens of shielded users in quiet hours, msg drops group members who
// muted the group), so every token that reaches push is meant to be pushed;
// push has no store to check against.
package push

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"teamtalk/appliance/config"
	"teamtalk/appliance/ctlapi"
	"teamtalk/daemons"
	"teamtalk/daemons/internal/link"
	"teamtalk/daemons/internal/ratelog"
	"teamtalk/netloop"
	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// queueLen bounds the tokens waiting for a worker; past it, tokens fail at
// once (result 1) rather than block the loop.
const queueLen = 10000

// Service is a running push server. Create it with New.
type Service struct {
	d     daemons.Deps
	log   *slog.Logger
	cfg   config.PushCfg
	lcfg  link.Config
	loops int

	// backoff is the first retry delay (doubled per retry, capped at
	// maxBackoff); tests shorten it.
	backoff    time.Duration
	maxBackoff time.Duration

	net    link.Served
	listen atomic.Pointer[string]
	apns   atomic.Pointer[apnsClient]
	hook   *http.Client
	jobs   chan task

	c counters
}

// counters are the Status totals.
type counters struct {
	requests, tokens, badFrames, unknown, queueFull      atomic.Uint64
	apnsOK, apnsFailed, apnsRetries, badTokens, tooLarge atomic.Uint64
	webhookOK, webhookFailed, webhookRetries, unroutable atomic.Uint64
	repliesSent, inFlight                                atomic.Uint64
	linksOpened                                          atomic.Uint64
	badLog                                               ratelog.Gate
}

// task is one token of a request, for a worker.
type task struct {
	req   *request
	i     int
	flash string
	data  string
	tok   *pb.UserTokenInfo
}

// request collects the per-token results of one IMPushToUserReq; the last
// finished token sends the reply.
type request struct {
	conn    netloop.ConnID
	hdr     wire.Header
	results []*pb.PushResult
	left    atomic.Int32
}

// New builds the push service from its dependencies; it starts nothing.
func New(d daemons.Deps) (daemons.Service, error) {
	if d.Config == nil {
		return nil, fmt.Errorf("push: %s: no config", d.Name)
	}
	lg := d.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	return &Service{
		d: d, log: lg, cfg: d.Config.Push, lcfg: link.ConfigFrom(d.Config), loops: min(max(d.Config.Netloop.Loops, 1), 2),
		backoff: 250 * time.Millisecond, maxBackoff: 10 * time.Second,
	}, nil
}

// Name returns the instance name.
func (s *Service) Name() string { return s.d.Name }

// setup prepares the APNs and webhook clients from the config.
func (s *Service) setup() error {
	if s.cfg.APNsKeyFile != "" {
		key, err := LoadP8(s.cfg.APNsKeyFile)
		if err != nil {
			return err
		}
		tr, err := newAPNsTransport(s.cfg.APNsCAFile)
		if err != nil {
			return err
		}
		base := s.cfg.APNsURL
		if base == "" {
			base = apnsProduction
			if s.cfg.APNsSandbox {
				base = apnsSandbox
			}
		}
		for len(base) > 0 && base[len(base)-1] == '/' {
			base = base[:len(base)-1]
		}
		s.apns.Store(&apnsClient{
			base: base, topic: s.cfg.APNsTopic,
			sign: &signer{key: key, keyID: s.cfg.APNsKeyID, teamID: s.cfg.APNsTeamID, now: time.Now, ttl: jwtRefresh},
			hc:   &http.Client{Transport: tr, Timeout: s.cfg.RequestTimeout.D()},
		})
		s.log.Info("push: APNs enabled", "url", base, "topic", s.cfg.APNsTopic, "key_id", s.cfg.APNsKeyID)
	}
	if s.cfg.WebhookURL != "" {
		// Its own transport (not http.DefaultTransport), closed with the run.
		s.hook = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), Timeout: s.cfg.RequestTimeout.D()}
		s.log.Info("push: webhook enabled", "url", s.cfg.WebhookURL)
	}
	if s.cfg.APNsKeyFile == "" && s.cfg.WebhookURL == "" {
		s.log.Warn("push: neither push.apns_key_file nor push.webhook_url is set: every push request fails")
	}
	return nil
}

// Run loads the APNs key, listens on [push].listen and serves msg links
// until ctx is done; then it closes the links, abandons deliveries in
// flight and returns.
func (s *Service) Run(ctx context.Context, ready func()) error {
	if err := s.setup(); err != nil {
		return err
	}
	s.jobs = make(chan task, queueLen)
	wctx, stopWorkers := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	workers := max(s.cfg.Workers, 1)
	for range workers {
		wg.Go(func() { s.work(wctx) })
	}
	defer func() {
		stopWorkers()
		wg.Wait()
		// This run's HTTP clients go with it: no connection to APNs or the
		// webhook outlives the run.
		if a := s.apns.Load(); a != nil {
			a.hc.CloseIdleConnections()
		}
		if s.hook != nil {
			s.hook.CloseIdleConnections()
		}
	}()

	g, in, err := s.net.Start("push", netloop.Options{Owner: s.d.Name, Loops: s.loops, Logger: s.log, Tick: s.lcfg.Tick()}, s.lcfg)
	if err != nil {
		return err
	}
	defer s.net.Stop()
	addr := s.d.ListenAddr("listen", s.cfg.Listen)
	ln, err := g.Listen(addr, handler{s}, in.ListenOptions())
	if err != nil {
		return fmt.Errorf("push: listen %s: %w", addr, err)
	}
	bound := ln.Addr().String()
	s.listen.Store(&bound)
	s.d.Publish("listen", bound)
	s.log.Info("push: listening", "addr", bound, "workers", workers)
	ready()
	<-ctx.Done()
	return nil
}

// handler is the netloop Handler of msg server links.
type handler struct{ s *Service }

func (h handler) OnOpen(c *netloop.Conn) {
	s := h.s
	s.net.Opened(c)
	s.c.linksOpened.Add(1)
	s.log.Info("push: msg server linked", "conn", c.ID(), "remote", c.RemoteAddr())
}

func (h handler) OnClose(c *netloop.Conn, err error) {
	s := h.s
	s.net.Closed(c.ID())
	s.log.Info("push: msg server link closed", "conn", c.ID(), "err", err)
}

func (h handler) OnFrame(c *netloop.Conn, frame []byte) {
	s := h.s
	hdr := wire.ParseHeader(frame)
	switch hdr.CommandID {
	case pb.CmdOtherHeartbeat:
		_ = c.Write(frame) // echoed byte for byte (§4.16)
		return
	case pb.CmdOtherPushToUserReq:
	default:
		s.c.unknown.Add(1)
		s.badLog("push: unexpected command, closing the link", "conn", c.ID(), "cmd", fmt.Sprintf("0x%04x", hdr.CommandID))
		c.Close()
		return
	}
	m, err := wire.DecodeBody(hdr.CommandID, frame[wire.HeaderLen:])
	if err != nil {
		s.c.badFrames.Add(1)
		s.badLog("push: bad push request", "conn", c.ID(), "err", err)
		return
	}
	s.accept(c.ID(), hdr, m.(*pb.IMPushToUserReq))
}

// accept queues the tokens of a request for the workers.
func (s *Service) accept(conn netloop.ConnID, hdr wire.Header, m *pb.IMPushToUserReq) {
	s.c.requests.Add(1)
	toks := m.GetUserTokenList()
	r := &request{conn: conn, hdr: hdr, results: make([]*pb.PushResult, len(toks))}
	for i, t := range toks {
		r.results[i] = &pb.PushResult{UserToken: t.Token, ResultCode: new(uint32(1))}
	}
	if len(toks) == 0 {
		s.reply(r)
		return
	}
	r.left.Store(int32(len(toks)))
	s.c.tokens.Add(uint64(len(toks)))
	for i, t := range toks {
		select {
		case s.jobs <- task{req: r, i: i, flash: m.GetFlash(), data: m.GetData(), tok: t}:
			s.c.inFlight.Add(1)
		default:
			s.c.queueFull.Add(1)
			s.finish(r, i, false)
		}
	}
}

// work runs deliveries until ctx is done; queued tokens left then fail.
func (s *Service) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case t := <-s.jobs:
			ok := s.deliver(ctx, t)
			s.c.inFlight.Add(^uint64(0))
			s.finish(t.req, t.i, ok)
		}
	}
}

// finish records one token's result and replies after the last one.
func (s *Service) finish(r *request, i int, ok bool) {
	if ok {
		*r.results[i].ResultCode = 0
	}
	if r.left.Add(-1) == 0 {
		s.reply(r)
	}
}

// reply sends IMPushToUserRsp on the link the request came from.
func (s *Service) reply(r *request) {
	f, err := wire.Marshal(r.hdr.Reply(pb.CmdOtherPushToUserRsp), &pb.IMPushToUserRsp{PushResultList: r.results})
	if err != nil {
		s.log.Error("push: encode reply", "err", err)
		return
	}
	if g := s.net.Group(); g != nil && g.Write(r.conn, f) == nil {
		s.c.repliesSent.Add(1)
	}
}

// deliver sends one token: iOS to APNs when configured, anything else (or
// iOS without APNs) to the webhook when configured.
func (s *Service) deliver(ctx context.Context, t task) bool {
	a := s.apns.Load()
	switch {
	case t.tok.GetUserType() == pb.ClientType_CLIENT_TYPE_IOS && a != nil:
		return s.deliverAPNs(ctx, a, t)
	case s.hook != nil:
		return s.deliverWebhook(ctx, t)
	default:
		s.c.unroutable.Add(1)
		return false
	}
}

func (s *Service) deliverAPNs(ctx context.Context, a *apnsClient, t task) bool {
	tok := t.tok.GetToken()
	if !validAPNsToken(tok) {
		s.c.badTokens.Add(1)
		s.badLog("push: not an APNs device token", "user", t.tok.GetUserId(), "len", len(tok))
		return false
	}
	payload, err := Payload(t.flash, t.data, t.tok)
	if err != nil {
		s.c.tooLarge.Add(1)
		return false
	}
	silent := t.tok.GetPushType() == pushSilent
	forced := false
	o := s.retry(ctx, &s.c.apnsRetries, func() outcome {
		o := a.send(ctx, tok, payload, silent, false)
		if o.status == http.StatusForbidden && o.reason == "ExpiredProviderToken" && !forced {
			forced = true
			o = a.send(ctx, tok, payload, silent, true)
		}
		return o
	})
	if o.status == http.StatusOK {
		s.c.apnsOK.Add(1)
		return true
	}
	s.c.apnsFailed.Add(1)
	s.log.Warn("push: APNs refused", "user", t.tok.GetUserId(), "status", o.status, "reason", o.reason)
	return false
}

func (s *Service) deliverWebhook(ctx context.Context, t task) bool {
	body, err := jsonMarshal(Event(t.flash, t.data, t.tok))
	if err != nil {
		s.c.webhookFailed.Add(1)
		return false
	}
	o := s.retry(ctx, &s.c.webhookRetries, func() outcome { return postJSON(ctx, s.hook, s.cfg.WebhookURL, body) })
	if o.status/100 == 2 {
		s.c.webhookOK.Add(1)
		return true
	}
	s.c.webhookFailed.Add(1)
	s.log.Warn("push: webhook refused", "user", t.tok.GetUserId(), "status", o.status, "reason", o.reason)
	return false
}

// retry calls try until it succeeds (2xx), fails for good, or the retries
// are spent, sleeping an exponential backoff with jitter in between.
func (s *Service) retry(ctx context.Context, retries *atomic.Uint64, try func() outcome) outcome {
	d := s.backoff
	for i := 0; ; i++ {
		o := try()
		if o.status/100 == 2 || !o.retryable() || i >= s.cfg.Retries || ctx.Err() != nil {
			return o
		}
		retries.Add(1)
		sleep := d/2 + rand.N(d/2+1)
		select {
		case <-ctx.Done():
			return o
		case <-time.After(sleep):
		}
		d = min(2*d, s.maxBackoff)
	}
}

// badLog logs at most one line per second for bad input.
func (s *Service) badLog(msg string, args ...any) {
	if !s.c.badLog.Allow(time.Second) {
		return
	}
	s.log.Warn(msg, args...)
}

// Sockets lists the listener and the msg server links.
func (s *Service) Sockets() []ctlapi.Socket {
	return s.net.Sockets(s.d.Name, nil)
}

// Timers lists the heartbeat sweep.
func (s *Service) Timers() []ctlapi.Timer {
	return s.net.Timers(s.d.Name)
}

// Status reports the listener, sockets, timers and delivery counters.
func (s *Service) Status() ctlapi.ServiceStatus {
	st := ctlapi.ServiceStatus{Name: s.d.Name, Kind: s.d.Kind}
	if l := s.listen.Load(); l != nil {
		st.Listen = map[string]string{"listen": *l}
	}
	st.Sockets = s.Sockets()
	st.Timers = s.Timers()
	var jwts uint64
	if a := s.apns.Load(); a != nil {
		a.sign.mu.Lock()
		jwts = a.sign.refreshes
		a.sign.mu.Unlock()
	}
	st.Counters = map[string]uint64{
		"links":            uint64(s.net.Len()),
		"links_opened":     s.c.linksOpened.Load(),
		"requests":         s.c.requests.Load(),
		"tokens":           s.c.tokens.Load(),
		"in_flight":        s.c.inFlight.Load(),
		"replies":          s.c.repliesSent.Load(),
		"apns_ok":          s.c.apnsOK.Load(),
		"apns_failed":      s.c.apnsFailed.Load(),
		"apns_retries":     s.c.apnsRetries.Load(),
		"apns_bad_tokens":  s.c.badTokens.Load(),
		"apns_jwt_signed":  jwts,
		"payload_too_big":  s.c.tooLarge.Load(),
		"webhook_ok":       s.c.webhookOK.Load(),
		"webhook_failed":   s.c.webhookFailed.Load(),
		"webhook_retries":  s.c.webhookRetries.Load(),
		"unroutable":       s.c.unroutable.Load(),
		"queue_full":       s.c.queueFull.Load(),
		"bad_bodies":       s.c.badFrames.Load(),
		"unknown_commands": s.c.unknown.Load(),
	}
	s.net.AddTraffic(st.Counters)
	return st
}
