// Package daemons is the seam between the supervisor and the eight TeamTalk
// services: the Service interface each implements, the Deps each is built
// from, the address book through which services in one process find each
// other's bound addresses, and the fixed, ordered table of constructors.
//
// # Start order
//
// The supervisor starts services in the reference's order (config.ServiceNames):
// dbproxy → route, file, msfs → login → msg → httpmsg, push, and stops them in
// reverse. A service counts as started once it calls ready: its listeners are
// bound (and published with Deps.Publish) and its upstream links are up or
// retrying.
//
// # Failures
//
// A service fails when its constructor or Run returns an error, when Run
// returns nil before its context is cancelled, when Run panics, or when it
// calls Deps.Fail (e.g. for a panic recovered in one of its netloop callbacks
// outside a connection). Before teamtalkd is ready a failure stops the
// services already started, in reverse, and teamtalkd exits non-zero; after,
// the failed service is stopped and rebuilt with its constructor after an
// exponential backoff while the others keep serving. Run is called once per
// Service value: a restart builds a new one.
//
// # Optional interfaces
//
// The control API asks running services for what they know through optional
// interfaces, checked with a type assertion on the Service value:
//
//	MsgServerLister  login: the msg servers registered with it (/v1/msgservers)
//	OnlineLister     route (all users) or msg (its own): online users (/v1/online)
//	Kicker           msg: disconnect a user's connections (/v1/kick)
//	SocketLister     any netloop service: its sockets (/v1/sockets)
//	TimerLister      any netloop service: its timers (/v1/timers)
//	Reloader         any service with live settings: applies a new config on SIGHUP
//
// With no running service implementing one, the list endpoints return empty
// lists and /v1/kick answers 501.
//
// # Services not built yet
//
// daemons/builtin holds the table of the services that exist in this binary
// (it sits above the services, which import this package). A service the
// config names but the table lacks is reported as "unavailable" with a
// warning; it does not stop teamtalkd, so the appliance runs with what exists.
package daemons

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"teamtalk/appliance/config"
	"teamtalk/appliance/ctlapi"
	"teamtalk/state"
)

// Service is one running TeamTalk service instance.
type Service interface {
	// Name returns the instance name (Deps.Name).
	Name() string
	// Run serves until ctx is cancelled, then drains and returns nil. It calls
	// ready once, when its listeners are bound and its links are up or retrying.
	// An error return (or a nil return before ctx is done) is a failure.
	Run(ctx context.Context, ready func()) error
	// Status reports what the console shows. It is called from any goroutine,
	// at any time (also before Run or after it returned), and must not block.
	Status() ctlapi.ServiceStatus
}

// CounterSource is implemented by a service whose counters (Status's
// Counters) can be read without building the rest of its Status. The
// supervisor samples every running service's counters each second; msg's
// full Status lists every client socket, which at 10,000 connections made
// ~5 MB of garbage a second (the largest item of an idle server's heap).
type CounterSource interface {
	Counters() map[string]uint64
}

// Constructor builds a service from its dependencies. It must not start
// anything (no listening, no goroutines): Run does that.
type Constructor func(Deps) (Service, error)

// NOTE for service authors: the constructor table that used to be
// daemons.Builtin() is builtin.Table() in package teamtalk/daemons/builtin
// (here it would be an import cycle). Add your service's one entry there.

// Table maps a service kind (one of config.ServiceNames) to its constructor.
type Table map[string]Constructor

// Deps is what a service is built from.
type Deps struct {
	// Name is the instance name ("msg", or "msg2" for a second instance).
	Name string
	// Kind is the service's kind, one of config.ServiceNames.
	Kind string
	// Config is the whole configuration (read-only): a service reads its own
	// section, [link] and [netloop].
	Config *config.Config
	// Logger is tagged with svc=Name.
	Logger *slog.Logger
	// Addrs is the process's address book.
	Addrs *AddressBook
	// Metrics is the appliance's registry (never the global default). Register
	// collectors once per Service value and unregister them when Run returns,
	// or use a prometheus.WrapRegistererWith the instance name.
	Metrics prometheus.Registerer
	// Store is the IM store the supervisor opened (im.db, or MySQL), for
	// dbproxy (and the services that keep their own records in it). It is nil
	// when no store is local to this process.
	Store state.Store
	// Fail reports a failure the service cannot return from Run (e.g. a panic
	// recovered in a background callback): the supervisor cancels its context
	// and restarts it. Safe from any goroutine, any number of times.
	Fail func(error)
}

// ListenAddr returns the address the service should bind for its listen key
// (e.g. "listen", "http_listen") given the configured address. When the
// configured port is 0 and this instance already published a bound address
// (a previous run), that address is reused, so peers that resolved it keep
// working after a restart.
func (d Deps) ListenAddr(key, configured string) string {
	return d.Addrs.reuse(d.Name+"."+key, configured)
}

// Publish records the address the instance bound for a listen key. Call it
// before ready.
func (d Deps) Publish(key, bound string) {
	d.Addrs.Publish(d.Name+"."+key, bound)
}

// Resolve turns a peer list entry into an address to dial: host:port is
// returned unchanged; a service reference ("route", "login.http_listen")
// resolves through the address book to the bound address. Call it on every
// (re)connect: a restarted peer may have moved.
func (d Deps) Resolve(entry string) (string, error) {
	return d.Addrs.Resolve(d.Config, entry)
}

// MsgServerLister is implemented by login: the msg servers registered with it.
type MsgServerLister interface {
	MsgServers() []ctlapi.MsgServer
}

// OnlineLister is implemented by route (every user) and msg (its own users).
type OnlineLister interface {
	Online() []ctlapi.OnlineUser
}

// Kicker is implemented by msg: close every connection of the user, sending
// the kick notice with reason first; it returns how many were closed.
type Kicker interface {
	Kick(ctx context.Context, userID uint32, reason uint32) (int, error)
}

// SocketLister is implemented by netloop services: their open sockets.
type SocketLister interface {
	Sockets() []ctlapi.Socket
}

// TimerLister is implemented by netloop services: their timers.
type TimerLister interface {
	Timers() []ctlapi.Timer
}

// Reloader is implemented by services with settings that change live
// (config.LiveKey). Reload is called on SIGHUP with the new configuration.
type Reloader interface {
	Reload(cfg *config.Config) error
}
