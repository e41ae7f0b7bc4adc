package link

import (
	"fmt"
	"log/slog"
	"sync/atomic"

	"teamtalk/appliance/ctlapi"
	"teamtalk/daemons/internal/shutdown"
	"teamtalk/netloop"
)

// Served is the netloop Group of a service that accepts server links (route,
// login, file, push) with the Inbound tracking those links. The zero value is
// ready for Start; before Start (the console may ask before Run) the getters
// return nil, Len returns 0, IDs nil and Opened, Closed, Sockets, Timers and NetStats
// are no-ops.
// Every method but Start and Stop is safe from any goroutine.
type Served struct {
	g   atomic.Pointer[netloop.Group]
	in  atomic.Pointer[Inbound]
	svc string
	log *slog.Logger
}

// Start creates and starts a Group with opts (a nil OnPanic logs the panic on
// opts.Logger) and an Inbound for cfg with its heartbeat sweep running, and
// publishes both. svc prefixes errors and log lines. The caller defers Stop.
func (s *Served) Start(svc string, opts netloop.Options, cfg Config) (*netloop.Group, *Inbound, error) {
	g, err := StartGroup(svc, opts)
	if err != nil {
		return nil, nil, err
	}
	in := NewInbound(g, cfg)
	s.svc, s.log = svc, opts.Logger
	s.g.Store(g)
	s.in.Store(in)
	in.Start()
	return g, in, nil
}

// StartGroup creates and starts a Group with opts; a nil OnPanic logs the
// panic on opts.Logger. svc prefixes errors and the panic line. The caller
// stops the Group (shutdown.Group).
func StartGroup(svc string, opts netloop.Options) (*netloop.Group, error) {
	if opts.OnPanic == nil && opts.Logger != nil {
		opts.OnPanic = func(v any, stack []byte) {
			opts.Logger.Error(svc+": panic in callback", "panic", v, "stack", string(stack))
		}
	}
	g, err := netloop.New(opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", svc, err)
	}
	if err := g.Start(); err != nil {
		return nil, fmt.Errorf("%s: start loops: %w", svc, err)
	}
	return g, nil
}

// Stop stops the sweep, then the Group within shutdown.Timeout.
func (s *Served) Stop() {
	if in := s.in.Load(); in != nil {
		in.Stop()
	}
	shutdown.Group(s.g.Load(), shutdown.Timeout, s.log, s.svc)
}

// Group returns the Group (nil before Start).
func (s *Served) Group() *netloop.Group { return s.g.Load() }

// Inbound returns the link tracker (nil before Start).
func (s *Served) Inbound() *Inbound { return s.in.Load() }

// Len is Inbound.Len: how many links are open (0 before Start).
func (s *Served) Len() int {
	if in := s.in.Load(); in != nil {
		return in.Len()
	}
	return 0
}

// IDs is Inbound.IDs: the open links (none before Start).
func (s *Served) IDs() []netloop.ConnID {
	if in := s.in.Load(); in != nil {
		return in.IDs()
	}
	return nil
}

// Opened is Inbound.Opened, for a listener's OnOpen.
func (s *Served) Opened(c *netloop.Conn) {
	if in := s.in.Load(); in != nil {
		in.Opened(c)
	}
}

// Closed is Inbound.Closed, for a listener's OnClose.
func (s *Served) Closed(id netloop.ConnID) {
	if in := s.in.Load(); in != nil {
		in.Closed(id)
	}
}

// Sockets is Sockets of the Group.
func (s *Served) Sockets(service string, kind func(netloop.ConnInfo) string) []ctlapi.Socket {
	return Sockets(s.g.Load(), service, kind)
}

// Timers describes the heartbeat sweep for the console.
func (s *Served) Timers(service string) []ctlapi.Timer {
	if in := s.in.Load(); in != nil {
		return in.Timers(service)
	}
	return nil
}

// NetStats returns the Group's statistics (zero before Start).
func (s *Served) NetStats() netloop.Stats {
	if g := s.g.Load(); g != nil {
		return g.Stats()
	}
	return netloop.Stats{}
}

// AddTraffic sets counters' bytes_in, bytes_out, frames_in and frames_out to
// the Group's totals (nothing before Start).
func (s *Served) AddTraffic(counters map[string]uint64) {
	if g := s.g.Load(); g != nil {
		t := g.Stats().Total
		counters["bytes_in"], counters["bytes_out"] = t.BytesIn, t.BytesOut
		counters["frames_in"], counters["frames_out"] = t.FramesIn, t.FramesOut
	}
}
