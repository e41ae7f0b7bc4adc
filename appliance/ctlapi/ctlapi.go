// Package ctlapi holds the control API's paths and JSON types, shared by the
// server (appliance/ctlserver), its client (appliance/ctlclient), ttctl, the
// console and the services, which report their state as ServiceStatus.
//
// It is a leaf: it imports only the standard library, so any package may
// import it without pulling the supervisor in.
package ctlapi

import (
	"fmt"
	"net/http"
	"time"
)

// The control API's paths. Every path is versioned; a later incompatible
// change gets /v2 and /v1 keeps working for a release.
const (
	PathStatus     = "/v1/status"                  // GET: Status
	PathServices   = "/v1/services"                // GET: []ServiceStatus
	PathRestart    = "/v1/services/{name}/restart" // POST: RestartResult
	PathPanic      = "/v1/services/{name}/panic"   // POST: RestartResult; only with supervisor.test_hooks
	PathMsgServers = "/v1/msgservers"              // GET: []MsgServer
	PathSockets    = "/v1/sockets"                 // GET: []Socket
	PathTimers     = "/v1/timers"                  // GET: []Timer
	PathOnline     = "/v1/online"                  // GET: []OnlineUser
	PathKick       = "/v1/kick"                    // POST KickRequest: KickResult
	PathEvents     = "/v1/events"                  // GET ?since=SEQ&limit=N: []Event
	PathHistory    = "/v1/history"                 // GET ?limit=N: []CounterSample
	PathWatch      = "/v1/watch"                   // GET: a stream of Snapshot, one JSON document per line
)

// RestartPath returns the restart path of the named service.
func RestartPath(name string) string { return "/v1/services/" + name + "/restart" }

// PanicPath returns the fault-injection path of the named service.
func PanicPath(name string) string { return "/v1/services/" + name + "/panic" }

// State is a service's lifecycle state as the supervisor sees it.
type State string

// The lifecycle states.
const (
	StateStarting    State = "starting"    // Run was called, ready not yet
	StateRunning     State = "running"     // ready: listeners bound, upstream links up or retrying
	StateBackoff     State = "backoff"     // failed; waiting to be restarted
	StateStopping    State = "stopping"    // its context was cancelled; draining
	StateStopped     State = "stopped"     // Run returned after a stop
	StateUnavailable State = "unavailable" // named in the config but not built into this binary
)

// Counter names that the supervisor samples from ServiceStatus.Counters each
// second into the history. A service reports totals; the supervisor derives rates.
const (
	CounterMsgs   = "msgs_total"   // messages accepted (msg)
	CounterLogins = "logins_total" // successful logins (msg)
	CounterOnline = "online_users" // users online now (msg: its own; route: all)
)

// ServiceStatus is what one service instance reports and the console shows.
// A service fills Listen, Peers, Sockets, Timers and Counters in its Status
// method; the supervisor fills Name, Kind, State, Since, Restarts and LastError.
type ServiceStatus struct {
	Name      string            `json:"name"`                 // instance name, e.g. "msg" or "msg2"
	Kind      string            `json:"kind"`                 // one of the eight service names
	State     State             `json:"state"`                //
	Since     time.Time         `json:"since"`                // when State was entered
	Restarts  int               `json:"restarts"`             // restarts since teamtalkd started
	LastError string            `json:"last_error,omitempty"` // why it last failed, if it did
	Listen    map[string]string `json:"listen,omitempty"`     // role (config key) → bound address
	Peers     []Peer            `json:"peers,omitempty"`      // its upstream links
	Sockets   []Socket          `json:"sockets,omitempty"`    // its open sockets (may be summarised)
	Timers    []Timer           `json:"timers,omitempty"`     // its timers
	Counters  map[string]uint64 `json:"counters,omitempty"`   // named totals and gauges
}

// Peer is one upstream link of a service (msg → dbproxy, route, login...).
type Peer struct {
	Service   string    `json:"service"`         // the peer's kind, e.g. "route"
	Addr      string    `json:"addr"`            // the address dialled
	Connected bool      `json:"connected"`       // reports whether the link is confirmed
	Since     time.Time `json:"since,omitzero"`  // when it connected or was lost
	Retries   int       `json:"retries"`         // connect attempts since the last success
	LastError string    `json:"error,omitempty"` // the last connect or link error
}

// Socket is one open socket of a service, as netloop sees it.
type Socket struct {
	Service  string    `json:"service"`
	Loop     int       `json:"loop"`             // index of the netloop loop that owns it
	ID       uint32    `json:"id"`               // the connection id (never an fd)
	Kind     string    `json:"kind"`             // "listen", "client", "peer-in", "peer-out", "http"
	Local    string    `json:"local"`            //
	Remote   string    `json:"remote,omitempty"` //
	UserID   uint32    `json:"user_id,omitempty"`
	Opened   time.Time `json:"opened,omitzero"`
	LastRead time.Time `json:"last_read,omitzero"`
	BytesIn  uint64    `json:"bytes_in"`
	BytesOut uint64    `json:"bytes_out"`
	Queued   int       `json:"queued"` // bytes waiting in its write queue
}

// Timer is one timer of a service (heap timers, sweeps, reconnect checks).
type Timer struct {
	Service  string        `json:"service"`
	Loop     int           `json:"loop"`
	Name     string        `json:"name"`
	Interval time.Duration `json:"interval"` // 0 for a one-shot timer
	Next     time.Time     `json:"next"`
	Fired    uint64        `json:"fired"`
}

// MsgServer is one msg server registered with a login service.
type MsgServer struct {
	Addr       string    `json:"addr"` // ip1:port, the registration's identity
	IP1        string    `json:"ip1"`
	IP2        string    `json:"ip2"`
	Port       uint16    `json:"port"`
	Hostname   string    `json:"hostname,omitempty"`
	MaxConns   uint32    `json:"max_conns"`
	CurConns   uint32    `json:"cur_conns"`
	Login      string    `json:"login,omitempty"` // the login instance that holds it
	Registered time.Time `json:"registered,omitzero"`
	Updated    time.Time `json:"updated,omitzero"`    // last load report (IMMsgServInfo or IMUserCntUpdate)
	LastHeard  time.Time `json:"last_heard,omitzero"` // last frame of any kind on its link, heartbeats included; zero from servers that predate it
}

// LoadSample is one point of a msg server's load history.
type LoadSample struct {
	Time     time.Time `json:"time"`
	CurConns uint32    `json:"cur_conns"`
	MaxConns uint32    `json:"max_conns"`
}

// OnlineUser is one user with at least one connection.
type OnlineUser struct {
	UserID    uint32   `json:"user_id"`
	MsgServer string   `json:"msg_server,omitempty"`
	Clients   []Client `json:"clients,omitempty"`
}

// Client is one connection of an online user.
type Client struct {
	Type   uint32 `json:"type"`   // IM.BaseDefine.ClientType
	Status uint32 `json:"status"` // IM.BaseDefine.UserStatType
	ConnID uint32 `json:"conn_id,omitempty"`
}

// KickRequest asks the msg services to disconnect a user.
type KickRequest struct {
	User   string `json:"user"`             // numeric user id (names need the store)
	Reason uint32 `json:"reason,omitempty"` // IM.BaseDefine.KickReasonType; 0 = duplicate-user default
}

// KickResult says how many connections were closed.
type KickResult struct {
	UserID uint32 `json:"user_id"`
	Kicked int    `json:"kicked"`
}

// RestartResult answers a restart request.
type RestartResult struct {
	Service string `json:"service"`
	Message string `json:"message"`
}

// EventKind names a lifecycle event.
type EventKind string

// The lifecycle event kinds.
const (
	EventStarted   EventKind = "started"
	EventFailed    EventKind = "failed"
	EventRestarted EventKind = "restarted"
	EventStopped   EventKind = "stopped"
	EventReloaded  EventKind = "reloaded"
	EventWarning   EventKind = "warning"
)

// Event is one entry of the appliance's lifecycle log.
type Event struct {
	Seq     uint64    `json:"seq"` // assigned when recorded; increasing
	Time    time.Time `json:"time"`
	Service string    `json:"service,omitempty"` // empty for the appliance itself
	Kind    EventKind `json:"kind"`
	Message string    `json:"message,omitempty"`
}

// CounterSample is one second of the appliance's counters history.
type CounterSample struct {
	Time         time.Time `json:"time"`
	MsgsPerSec   float64   `json:"msgs_per_sec"`
	LoginsPerSec float64   `json:"logins_per_sec"`
	Online       uint64    `json:"online"`
}

// Status is the appliance's summary (GET /v1/status).
type Status struct {
	Version    string            `json:"version"`
	PID        int               `json:"pid"`
	Started    time.Time         `json:"started"`
	Ready      bool              `json:"ready"` // reports whether every service reached ready once
	ConfigFile string            `json:"config_file,omitempty"`
	DataDir    string            `json:"data_dir"`
	Socket     string            `json:"socket,omitempty"`
	Services   []ServiceSummary  `json:"services"`
	Addresses  map[string]string `json:"addresses,omitempty"` // "svc.role" → bound address
	Metrics    string            `json:"metrics,omitempty"`   // bound address of /metrics; empty when disabled
	Counters   CounterSample     `json:"counters"`            // the latest sample
}

// ServiceSummary is one line of Status.Services.
type ServiceSummary struct {
	Name      string    `json:"name"`
	Kind      string    `json:"kind"`
	State     State     `json:"state"`
	Since     time.Time `json:"since"`
	Restarts  int       `json:"restarts"`
	LastError string    `json:"last_error,omitempty"`
}

// Snapshot is what the console receives each second from PathWatch.
type Snapshot struct {
	Time       time.Time       `json:"time"`
	Status     Status          `json:"status"`
	Services   []ServiceStatus `json:"services"`
	MsgServers []MsgServer     `json:"msg_servers"`
	Sockets    []Socket        `json:"sockets"`
	Timers     []Timer         `json:"timers"`
	Online     []OnlineUser    `json:"online"`
	Events     []Event         `json:"events"`  // the most recent, oldest first
	History    []CounterSample `json:"history"` // the most recent, oldest first
}

// Error is the body of every failed control API request, and the error the
// client returns. Status is the HTTP status.
type Error struct {
	Status  int    `json:"status"`
	Message string `json:"error"`
}

// Error implements error.
func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the HTTP status and a formatted message.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

// NotFound returns a 404 *Error.
func NotFound(format string, args ...any) *Error {
	return Errorf(http.StatusNotFound, format, args...)
}

// NotImplemented returns a 501 *Error: no running service can answer.
func NotImplemented(format string, args ...any) *Error {
	return Errorf(http.StatusNotImplemented, format, args...)
}
