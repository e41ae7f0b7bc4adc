package login

import (
	"cmp"
	"errors"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"teamtalk/appliance/ctlapi"
	"teamtalk/netloop"
	"teamtalk/wire/pb"
)

// Errors of Registry.Pick, matching the reference's HTTP error codes.
var (
	// ErrNoMsgServer: no msg server is registered (code 1, "没有msg_server").
	ErrNoMsgServer = errors.New("login: no msg server registered")
	// ErrAllFull: every msg server is at its maximum (code 2, "负载过高").
	ErrAllFull = errors.New("login: every msg server is full")
)

// MsgServer is one registration: what a msg server reported on its link.
type MsgServer struct {
	IP1, IP2   string
	Port       uint32
	MaxConns   uint32
	CurConns   uint32
	Hostname   string
	Registered time.Time // first IMMsgServInfo on the link
	Updated    time.Time // last IMMsgServInfo or IMUserCntUpdate
	Heard      time.Time // last frame of any kind on the link, heartbeats included
	seq        uint64    // registration order, for ties
}

// Registry holds the msg servers registered with login, one per link
// (PROTOCOL.md §5.1). It is safe for concurrent use.
type Registry struct {
	mu   sync.Mutex
	m    map[netloop.ConnID]*MsgServer
	next uint64
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry { return &Registry{m: map[netloop.ConnID]*MsgServer{}} }

// Register records (or, on a second IMMsgServInfo on the same link,
// replaces: the reference's quirk fixed) the msg server of link id. The
// link keeps its place in the registration order.
func (r *Registry) Register(id netloop.ConnID, info *pb.IMMsgServInfo) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.m[id]
	if e == nil {
		r.next++
		e = &MsgServer{Registered: now, seq: r.next}
		r.m[id] = e
	}
	e.IP1, e.IP2, e.Port = info.GetIp1(), info.GetIp2(), info.GetPort()
	e.MaxConns, e.CurConns, e.Hostname = info.GetMaxConnCnt(), info.GetCurConnCnt(), info.GetHostName()
	e.Updated, e.Heard = now, now
}

// Heard notes that a frame (any frame: a heartbeat says the msg server is
// alive even when its load does not change) arrived on link id. A link that
// has not registered yet is ignored.
func (r *Registry) Heard(id netloop.ConnID) {
	now := time.Now()
	r.mu.Lock()
	if e := r.m[id]; e != nil {
		e.Heard = now
	}
	r.mu.Unlock()
}

// Count applies an IMUserCntUpdate: action 1 adds a connection, 2 removes
// one (never below zero); any action counts as heard. It reports whether
// link id is registered.
func (r *Registry) Count(id netloop.ConnID, action uint32) bool {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.m[id]
	if e == nil {
		return false
	}
	e.Heard = now
	switch action {
	case 1:
		e.CurConns++
	case 2:
		if e.CurConns > 0 {
			e.CurConns--
		}
	default:
		return true
	}
	e.Updated = now
	return true
}

// Remove forgets the msg server of link id (its link closed or timed out).
func (r *Registry) Remove(id netloop.ConnID) {
	r.mu.Lock()
	delete(r.m, id)
	r.mu.Unlock()
}

// Pick returns the least-loaded msg server: among those below their maximum,
// the one with the fewest connections; ties go to the earliest registered.
func (r *Registry) Pick() (MsgServer, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.m) == 0 {
		return MsgServer{}, ErrNoMsgServer
	}
	var best *MsgServer
	for _, e := range r.m {
		if e.CurConns >= e.MaxConns {
			continue
		}
		if best == nil || e.CurConns < best.CurConns || (e.CurConns == best.CurConns && e.seq < best.seq) {
			best = e
		}
	}
	if best == nil {
		return MsgServer{}, ErrAllFull
	}
	return *best, nil
}

// Len returns how many msg servers are registered.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}

// Online returns the sum of the registered servers' connection counts.
func (r *Registry) Online() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n uint64
	for _, e := range r.m {
		n += uint64(e.CurConns)
	}
	return n
}

// List describes the registrations in registration order, labelled with the
// login instance that holds them.
func (r *Registry) List(login string) []ctlapi.MsgServer {
	r.mu.Lock()
	es := make([]MsgServer, 0, len(r.m))
	for _, e := range r.m {
		es = append(es, *e)
	}
	r.mu.Unlock()
	slices.SortFunc(es, func(a, b MsgServer) int { return cmp.Compare(a.seq, b.seq) })
	out := make([]ctlapi.MsgServer, 0, len(es))
	for _, e := range es {
		out = append(out, ctlapi.MsgServer{
			Addr: net.JoinHostPort(e.IP1, strconv.FormatUint(uint64(e.Port), 10)),
			IP1:  e.IP1, IP2: e.IP2, Port: uint16(e.Port), Hostname: e.Hostname,
			MaxConns: e.MaxConns, CurConns: e.CurConns, Login: login,
			Registered: e.Registered, Updated: e.Updated, LastHeard: e.Heard,
		})
	}
	return out
}
