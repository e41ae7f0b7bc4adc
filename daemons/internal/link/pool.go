package link

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"teamtalk/appliance/ctlapi"
	"teamtalk/netloop"
	"teamtalk/wire"
)

// ErrNoLink is returned by the Send methods when no suitable link is open.
var ErrNoLink = errors.New("link: no usable link")

// State is a Link's life stage.
type State int

// The states of a Link.
const (
	// StateIdle: no connection; a reconnect is scheduled (or the pool stopped).
	StateIdle State = iota
	// StateConnecting: a TCP connect is in progress.
	StateConnecting
	// StateOpen: connected ("confirmed") and usable.
	StateOpen
	// StateUnusable: connected, but the peer asked us to stop sending
	// (0x0702) or MarkUnusable was called; usable again only after a reconnect.
	StateUnusable
)

// String names the state for logs and the console.
func (s State) String() string {
	switch s {
	case StateIdle:
		return "idle"
	case StateConnecting:
		return "connecting"
	case StateOpen:
		return "open"
	case StateUnusable:
		return "unusable"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// Callbacks are a Pool's events. Each runs on a netloop loop goroutine and
// must not block; any may be nil.
type Callbacks struct {
	// Master runs when l becomes the master link: on the first confirmed
	// link (before its Confirmed), and when the master closes or becomes
	// unusable and another open link takes over. Send IMRoleSet here.
	Master func(l *Link)
	// Confirmed runs when l's TCP connect completed. Send the registration
	// PDU here.
	Confirmed func(l *Link)
	// Frame runs for every frame received on l except heartbeats. A 0x0702
	// (stop receiving) has already marked l unusable when Frame sees it.
	// frame is valid only during the call.
	Frame func(l *Link, frame []byte)
	// Closed runs when a confirmed link closed (err as netloop reports it).
	Closed func(l *Link, err error)
}

// PoolOptions configure a Pool.
type PoolOptions struct {
	// Service is the peers' kind ("route", "dbproxy"...), for logs and status.
	Service string
	// Entries are the configured peer list entries: host:port or service
	// references, resolved with Resolve on every (re)connect.
	Entries []string
	// PerEntry is how many links to keep to each entry (default 1).
	PerEntry int
	// Resolve turns an entry into an address to dial (daemons.Deps.Resolve);
	// nil dials the entry as is.
	Resolve func(entry string) (string, error)
	// Config holds heartbeat, timeout and reconnect timings.
	Config Config
	// MaxFrame bounds inbound frames (default wire.MaxServerFrame).
	MaxFrame int
	// Logger gets connect and close lines (default: discarded).
	Logger *slog.Logger
	// Callbacks are the events.
	Callbacks Callbacks
}

// Pool keeps one or more links to each configured peer entry up.
type Pool struct {
	g   *netloop.Group
	opt PoolOptions
	hb  []byte
	log *slog.Logger
	rr  atomic.Uint64

	mu      sync.Mutex
	links   []*Link
	master  *Link
	started bool
	stopped bool
	sweep   netloop.TimerID
	swept   time.Time
	dials   sync.WaitGroup // reconnect attempts running off the loop; Stop waits for them
}

// Link is one slot of a Pool: a connection to one entry, kept up across
// reconnects. Its methods are safe from any goroutine.
type Link struct {
	p     *Pool
	entry string
	index int // among the pool's links

	// guarded by p.mu
	state      State
	addr       string
	id         netloop.ConnID
	gen        uint64
	opened     time.Time
	since      time.Time
	backoff    time.Duration
	attempts   int
	connects   uint64
	lastErr    string
	timer      netloop.TimerID
	timerDue   time.Time
	everOpened bool
}

// NewPool returns a Pool on g. It dials nothing until Start.
func NewPool(g *netloop.Group, opt PoolOptions) *Pool {
	opt.Config = opt.Config.withDefaults()
	if opt.PerEntry <= 0 {
		opt.PerEntry = 1
	}
	if opt.MaxFrame <= 0 {
		opt.MaxFrame = wire.MaxServerFrame
	}
	lg := opt.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	p := &Pool{g: g, opt: opt, hb: Heartbeat(), log: lg.With("peer", opt.Service)}
	for _, e := range opt.Entries {
		for range opt.PerEntry {
			p.links = append(p.links, &Link{p: p, entry: e, index: len(p.links), backoff: opt.Config.ReconnectMin})
		}
	}
	return p
}

// Start dials every link and starts the heartbeat sweep. The Group must be
// started. Calling Start twice does nothing.
func (p *Pool) Start() {
	p.mu.Lock()
	if p.started || p.stopped {
		p.mu.Unlock()
		return
	}
	p.started = true
	p.sweep = p.g.AddTimer(p.opt.Config.sweepEvery(), true, p.heartbeats)
	links := append([]*Link(nil), p.links...)
	p.mu.Unlock()
	for _, l := range links {
		p.dial(l)
	}
}

// Stop cancels reconnects and the heartbeat sweep and closes every link
// (without Closed callbacks). It is safe to call more than once.
func (p *Pool) Stop() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	p.g.RemoveTimer(p.sweep)
	var ids []netloop.ConnID
	for _, l := range p.links {
		p.g.RemoveTimer(l.timer)
		l.timer = 0
		if l.id != 0 {
			ids = append(ids, l.id)
		}
		l.gen++ // late events of the old connection are ignored
		l.state, l.id = StateIdle, 0
	}
	p.master = nil
	p.mu.Unlock()
	p.dials.Wait()
	for _, id := range ids {
		p.g.Close(id)
	}
}

// dial starts one connect attempt for l.
func (p *Pool) dial(l *Link) {
	addr := l.entry
	var rerr error
	if p.opt.Resolve != nil {
		addr, rerr = p.opt.Resolve(l.entry)
	}
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	l.timer = 0
	l.attempts++
	l.gen++
	gen := l.gen
	if rerr != nil {
		l.lastErr = rerr.Error()
		p.scheduleLocked(l)
		p.mu.Unlock()
		p.log.Warn("link: resolve failed", "entry", l.entry, "err", rerr)
		return
	}
	l.addr = addr
	l.state = StateConnecting
	l.since = time.Now()
	p.mu.Unlock()

	_, err := p.g.Dial(addr, &attempt{l: l, gen: gen}, netloop.DialOptions{
		MaxFrame:       p.opt.MaxFrame,
		IdleTimeout:    p.opt.Config.Timeout,
		ConnectTimeout: p.opt.Config.Timeout,
	})
	if err != nil {
		p.mu.Lock()
		if l.gen == gen && !p.stopped {
			l.state = StateIdle
			l.lastErr = err.Error()
			l.since = time.Now()
			p.scheduleLocked(l)
		}
		p.mu.Unlock()
		p.log.Warn("link: dial failed", "addr", addr, "err", err)
	}
}

// scheduleLocked schedules l's next connect attempt after its backoff and
// doubles the backoff (up to ReconnectMax).
func (p *Pool) scheduleLocked(l *Link) {
	if p.stopped || l.timer != 0 {
		return
	}
	d := l.backoff
	l.backoff = min(2*l.backoff, p.opt.Config.ReconnectMax)
	l.timerDue = time.Now().Add(d)
	// The timer runs on a loop, and dial may resolve a host name (Resolve,
	// then netloop's Dial in the calling goroutine): it dials off the loop.
	l.timer = p.g.AddTimer(d, false, func() {
		p.mu.Lock()
		if p.stopped {
			p.mu.Unlock()
			return
		}
		p.dials.Add(1) // under mu, before Stop sets stopped and waits
		p.mu.Unlock()
		go func() {
			defer p.dials.Done()
			p.dial(l)
		}()
	})
}

// attempt is the netloop handler of one connection of a link; gen tells a
// stale connection's events from the current one's.
type attempt struct {
	l   *Link
	gen uint64
}

func (a *attempt) OnOpen(c *netloop.Conn) {
	l, p := a.l, a.l.p
	p.mu.Lock()
	if p.stopped || l.gen != a.gen {
		p.mu.Unlock()
		c.Close()
		return
	}
	now := time.Now()
	l.state, l.id, l.opened, l.since = StateOpen, c.ID(), now, now
	l.backoff = p.opt.Config.ReconnectMin
	l.attempts = 0
	l.connects++
	l.lastErr = ""
	l.everOpened = true
	var newMaster *Link
	if p.master == nil {
		p.master, newMaster = l, l
	}
	addr := l.addr
	p.mu.Unlock()
	c.SetContext(l)
	p.log.Info("link: connected", "addr", addr, "conn", c.ID(), "master", newMaster != nil)
	if newMaster != nil && p.opt.Callbacks.Master != nil {
		p.opt.Callbacks.Master(newMaster)
	}
	if p.opt.Callbacks.Confirmed != nil {
		p.opt.Callbacks.Confirmed(l)
	}
}

func (a *attempt) OnFrame(c *netloop.Conn, frame []byte) {
	l, p := a.l, a.l.p
	if !l.current(a.gen) {
		return
	}
	cmd := wire.ParseHeader(frame).CommandID
	switch cmd {
	case CmdHeartbeat:
		return
	case CmdStopReceive:
		l.MarkUnusable()
	}
	if p.opt.Callbacks.Frame != nil {
		p.opt.Callbacks.Frame(l, frame)
	}
}

func (a *attempt) OnClose(c *netloop.Conn, err error) {
	l, p := a.l, a.l.p
	p.mu.Lock()
	if l.gen != a.gen {
		p.mu.Unlock()
		return
	}
	wasOpen := l.state == StateOpen || l.state == StateUnusable
	l.state, l.id, l.since = StateIdle, 0, time.Now()
	if err != nil {
		l.lastErr = err.Error()
	} else {
		l.lastErr = "closed"
	}
	var newMaster *Link
	if p.master == l {
		p.master = p.chooseMasterLocked()
		newMaster = p.master
	}
	p.scheduleLocked(l)
	addr := l.addr
	p.mu.Unlock()
	if wasOpen {
		p.log.Info("link: closed", "addr", addr, "conn", c.ID(), "err", err)
		if p.opt.Callbacks.Closed != nil {
			p.opt.Callbacks.Closed(l, err)
		}
	} else {
		p.log.Debug("link: connect failed", "addr", addr, "err", err)
	}
	if newMaster != nil && p.opt.Callbacks.Master != nil {
		p.opt.Callbacks.Master(newMaster)
	}
}

// chooseMasterLocked returns the open link that connected earliest, or nil.
func (p *Pool) chooseMasterLocked() *Link {
	var best *Link
	for _, l := range p.links {
		if l.state == StateOpen && (best == nil || l.opened.Before(best.opened)) {
			best = l
		}
	}
	return best
}

// heartbeats runs on loop 0 every tick: it sends a heartbeat on every
// connected link that has sent nothing for Config.Heartbeat.
func (p *Pool) heartbeats() {
	now := time.Now()
	type due struct {
		id     netloop.ConnID
		opened time.Time
	}
	var ds []due
	p.mu.Lock()
	p.swept = now
	for _, l := range p.links {
		if l.id != 0 {
			ds = append(ds, due{l.id, l.opened})
		}
	}
	p.mu.Unlock()
	for _, d := range ds {
		c := p.g.Conn(d.id)
		if c != nil && needsHeartbeat(now, d.opened, c.LastWrite(), p.opt.Config.Heartbeat) {
			_ = c.Write(p.hb)
		}
	}
}

// current reports whether gen is l's current connection.
func (l *Link) current(gen uint64) bool {
	l.p.mu.Lock()
	defer l.p.mu.Unlock()
	return l.gen == gen
}

// ID returns the link's connection id, or 0 when it is not connected.
func (l *Link) ID() netloop.ConnID {
	l.p.mu.Lock()
	defer l.p.mu.Unlock()
	return l.id
}

// Entry returns the configured peer entry of the link.
func (l *Link) Entry() string { return l.entry }

// Index returns the link's position in its pool (entries in order, PerEntry
// links each).
func (l *Link) Index() int { return l.index }

// Addr returns the address last dialled.
func (l *Link) Addr() string {
	l.p.mu.Lock()
	defer l.p.mu.Unlock()
	return l.addr
}

// State returns the link's current state.
func (l *Link) State() State {
	l.p.mu.Lock()
	defer l.p.mu.Unlock()
	return l.state
}

// Usable reports whether the link is connected and may be sent requests.
func (l *Link) Usable() bool { return l.State() == StateOpen }

// Send writes frame on the link if it is connected (open or unusable: a
// reply or registration may still go out). It returns ErrNoLink otherwise.
func (l *Link) Send(frame []byte) error {
	id := l.ID()
	if id == 0 {
		return ErrNoLink
	}
	if err := l.p.g.Write(id, frame); err != nil {
		return fmt.Errorf("link: send to %s: %w", l.entry, err)
	}
	return nil
}

// MarkUnusable takes the link out of selection until it reconnects. If it
// was the master, the earliest other open link becomes master.
func (l *Link) MarkUnusable() {
	p := l.p
	p.mu.Lock()
	if l.state != StateOpen {
		p.mu.Unlock()
		return
	}
	l.state, l.since = StateUnusable, time.Now()
	var newMaster *Link
	if p.master == l {
		p.master = p.chooseMasterLocked()
		newMaster = p.master
	}
	addr := l.addr
	p.mu.Unlock()
	p.log.Info("link: unusable until reconnect", "addr", addr)
	if newMaster != nil && p.opt.Callbacks.Master != nil {
		p.opt.Callbacks.Master(newMaster)
	}
}

// Close closes the link's current connection; it reconnects after backoff.
func (l *Link) Close() {
	if id := l.ID(); id != 0 {
		l.p.g.Close(id)
	}
}

// Links returns every link of the pool (whatever its state), in order.
func (p *Pool) Links() []*Link {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*Link(nil), p.links...)
}

// Usable returns the usable links, in order.
func (p *Pool) Usable() []*Link {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*Link
	for _, l := range p.links {
		if l.state == StateOpen {
			out = append(out, l)
		}
	}
	return out
}

// Any returns a usable link, round-robin, or nil when none is.
func (p *Pool) Any() *Link {
	us := p.Usable()
	if len(us) == 0 {
		return nil
	}
	return us[p.rr.Add(1)%uint64(len(us))]
}

// Master returns the master link (the usable link that connected
// earliest), or nil.
func (p *Pool) Master() *Link {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.master
}

// SendAny writes frame on a usable link picked round-robin.
func (p *Pool) SendAny(frame []byte) error {
	l := p.Any()
	if l == nil {
		return fmt.Errorf("link: %s: %w", p.opt.Service, ErrNoLink)
	}
	return l.Send(frame)
}

// SendMaster writes frame on the master link.
func (p *Pool) SendMaster(frame []byte) error {
	l := p.Master()
	if l == nil {
		return fmt.Errorf("link: %s master: %w", p.opt.Service, ErrNoLink)
	}
	return l.Send(frame)
}

// Broadcast writes frame on every usable link and returns how many took it.
func (p *Pool) Broadcast(frame []byte) int {
	n := 0
	for _, l := range p.Usable() {
		if l.Send(frame) == nil {
			n++
		}
	}
	return n
}

// LinkStatus describes one link for the console.
type LinkStatus struct {
	Entry      string         `json:"entry"`
	Addr       string         `json:"addr"`
	State      string         `json:"state"`
	Master     bool           `json:"master"`
	ConnID     netloop.ConnID `json:"conn_id,omitempty"`
	Since      time.Time      `json:"since,omitzero"`
	Connects   uint64         `json:"connects"`
	Reconnects uint64         `json:"reconnects"` // connects after the first
	Attempts   int            `json:"attempts"`   // connect attempts since the last success
	NextTry    time.Time      `json:"next_try,omitzero"`
	LastError  string         `json:"error,omitempty"`
	BytesIn    uint64         `json:"bytes_in"`
	BytesOut   uint64         `json:"bytes_out"`
}

// Status describes every link, in order.
func (p *Pool) Status() []LinkStatus {
	conns := map[netloop.ConnID]netloop.ConnInfo{}
	for _, ci := range p.g.Conns() {
		conns[ci.ID] = ci
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]LinkStatus, 0, len(p.links))
	for _, l := range p.links {
		s := LinkStatus{
			Entry: l.entry, Addr: l.addr, State: l.state.String(), Master: p.master == l,
			ConnID: l.id, Since: l.since, Connects: l.connects, Attempts: l.attempts,
			LastError: l.lastErr,
		}
		if l.connects > 0 {
			s.Reconnects = l.connects - 1
		}
		if l.timer != 0 {
			s.NextTry = l.timerDue
		}
		if ci, ok := conns[l.id]; ok && l.id != 0 {
			s.BytesIn, s.BytesOut = ci.BytesIn, ci.BytesOut
		}
		out = append(out, s)
	}
	return out
}

// Peers describes every link as the control API's Peer.
func (p *Pool) Peers() []ctlapi.Peer {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]ctlapi.Peer, 0, len(p.links))
	for _, l := range p.links {
		addr := l.addr
		if addr == "" {
			addr = l.entry
		}
		out = append(out, ctlapi.Peer{
			Service: p.opt.Service, Addr: addr,
			Connected: l.state == StateOpen || l.state == StateUnusable,
			Since:     l.since, Retries: l.attempts, LastError: l.lastErr,
		})
	}
	return out
}

// Timers describes the pool's timers (the heartbeat sweep and pending
// reconnects) for the console, labelled with service.
func (p *Pool) Timers(service string) []ctlapi.Timer {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []ctlapi.Timer
	if p.sweep != 0 && !p.stopped {
		every := p.opt.Config.sweepEvery()
		out = append(out, ctlapi.Timer{Service: service, Name: "link heartbeat " + p.opt.Service, Interval: every, Next: p.swept.Add(every)})
	}
	for _, l := range p.links {
		if l.timer != 0 {
			out = append(out, ctlapi.Timer{Service: service, Name: fmt.Sprintf("reconnect %s %s", p.opt.Service, l.entry), Next: l.timerDue})
		}
	}
	return out
}
