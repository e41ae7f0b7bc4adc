package link

import (
	"sync"
	"time"

	"teamtalk/appliance/ctlapi"
	"teamtalk/netloop"
	"teamtalk/wire"
)

// Inbound applies the server-link rules to connections a service accepted
// (route, dbproxy, login, file, push): it sends a heartbeat on a link that
// sent nothing for Config.Heartbeat and closes one that received nothing for
// Config.Timeout. It echoes nothing: a peer's heartbeat only counts as
// traffic. The service calls Opened from its OnOpen and Closed from its
// OnClose.
type Inbound struct {
	g   *netloop.Group
	cfg Config
	hb  []byte

	mu      sync.Mutex
	conns   map[netloop.ConnID]time.Time // → when it opened
	timer   netloop.TimerID
	swept   time.Time
	stopped bool
}

// NewInbound returns an Inbound for links accepted on g.
func NewInbound(g *netloop.Group, cfg Config) *Inbound {
	return &Inbound{g: g, cfg: cfg.withDefaults(), hb: Heartbeat(), conns: map[netloop.ConnID]time.Time{}}
}

// ListenOptions returns the options for a server-link listener: server frame
// limit and the silence timeout.
func (in *Inbound) ListenOptions() netloop.ListenOptions {
	return netloop.ListenOptions{MaxFrame: wire.MaxServerFrame, WriteBound: 64 << 20, IdleTimeout: in.cfg.Timeout}
}

// Start starts the heartbeat sweep (a periodic timer on g).
func (in *Inbound) Start() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.timer != 0 || in.stopped {
		return
	}
	in.timer = in.g.AddTimer(in.cfg.sweepEvery(), true, in.sweep)
}

// Stop stops the sweep. The connections are the service's to close.
func (in *Inbound) Stop() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.stopped = true
	in.g.RemoveTimer(in.timer)
	in.timer = 0
}

// Opened tracks an accepted connection and sets its silence timeout.
func (in *Inbound) Opened(c *netloop.Conn) {
	c.SetIdleTimeout(in.cfg.Timeout)
	in.mu.Lock()
	in.conns[c.ID()] = time.Now()
	in.mu.Unlock()
}

// Closed forgets a connection.
func (in *Inbound) Closed(id netloop.ConnID) {
	in.mu.Lock()
	delete(in.conns, id)
	in.mu.Unlock()
}

// IDs returns the tracked connections.
func (in *Inbound) IDs() []netloop.ConnID {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make([]netloop.ConnID, 0, len(in.conns))
	for id := range in.conns {
		out = append(out, id)
	}
	return out
}

// Len returns how many connections are tracked.
func (in *Inbound) Len() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.conns)
}

func (in *Inbound) sweep() {
	now := time.Now()
	in.mu.Lock()
	in.swept = now
	ids := make(map[netloop.ConnID]time.Time, len(in.conns))
	for id, t := range in.conns {
		ids[id] = t
	}
	in.mu.Unlock()
	for id, opened := range ids {
		c := in.g.Conn(id)
		if c != nil && needsHeartbeat(now, opened, c.LastWrite(), in.cfg.Heartbeat) {
			_ = c.Write(in.hb)
		}
	}
}

// Timers describes the sweep timer for the console, labelled with service.
func (in *Inbound) Timers(service string) []ctlapi.Timer {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.timer == 0 {
		return nil
	}
	every := in.cfg.sweepEvery()
	return []ctlapi.Timer{{Service: service, Name: "link heartbeat (inbound)", Interval: every, Next: in.swept.Add(every)}}
}
