// Package ctlserver serves the control API (appliance/ctlapi) as HTTP + JSON
// on a unix socket: a handler table keyed by path over a Backend (the
// supervisor), JSON errors with a fitting status, and /v1/watch, which
// streams a fresh Snapshot every second, one JSON document per line.
package ctlserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"teamtalk/appliance/ctlapi"
	"teamtalk/internal/httpguard"
)

// Backend answers the control API. Errors of type *ctlapi.Error carry their
// HTTP status; any other error is a 500.
type Backend interface {
	Status() ctlapi.Status
	Services() []ctlapi.ServiceStatus
	Restart(name string) (ctlapi.RestartResult, error)
	MsgServers() ([]ctlapi.MsgServer, error)
	Sockets() ([]ctlapi.Socket, error)
	Timers() ([]ctlapi.Timer, error)
	Online() ([]ctlapi.OnlineUser, error)
	Kick(ctx context.Context, req ctlapi.KickRequest) (ctlapi.KickResult, error)
	Events(since uint64, limit int) ([]ctlapi.Event, error)
	History(limit int) ([]ctlapi.CounterSample, error)
	Snapshot() ctlapi.Snapshot

	// The admin endpoints over the IM store (ctlapi.PathUsers and below).
	Users(ctx context.Context) ([]ctlapi.User, error)
	AddUser(ctx context.Context, req ctlapi.UserAdd) (ctlapi.User, error)
	SetUser(ctx context.Context, name string, req ctlapi.UserSet) (ctlapi.User, error)
	SetPassword(ctx context.Context, name string, req ctlapi.PasswordSet) (ctlapi.User, error)
	ImportUsers(ctx context.Context, req ctlapi.UserImport) (ctlapi.ImportResult, error)
	Departs(ctx context.Context) ([]ctlapi.Depart, error)
	AddDepart(ctx context.Context, req ctlapi.DepartAdd) (ctlapi.Depart, error)
	DBInit(ctx context.Context) (ctlapi.DBInitResult, error)
	Groups(ctx context.Context) ([]ctlapi.Group, error)
	Group(ctx context.Context, ref string) (ctlapi.GroupDetail, error)
	AddGroup(ctx context.Context, req ctlapi.GroupAdd) (ctlapi.GroupDetail, error)
	ChangeGroupMembers(ctx context.Context, ref string, req ctlapi.GroupMembersChange) (ctlapi.GroupChangeResult, error)
}

// Panicker is the optional fault-injection part of a Backend
// (ctlapi.PathPanic): Panic makes the named service panic, or refuses with
// a *ctlapi.Error when fault injection is off.
type Panicker interface {
	Panic(name string) (ctlapi.RestartResult, error)
}

// Request body limits: one object, and an import of many users.
const (
	maxBody       = 1 << 16
	maxImportBody = 64 << 20
)

// MaxSocketPath is the longest unix socket path Linux accepts (sun_path is
// 108 bytes including the terminating NUL).
const MaxSocketPath = 107

// Listen listens on the unix socket at path with mode 0660. If something
// already answers there it refuses ("already running"); a stale socket file
// is removed first.
func Listen(path string) (net.Listener, error) {
	if len(path) > MaxSocketPath {
		return nil, fmt.Errorf("ctlserver: socket path %q is %d bytes; unix socket paths must stay under 108", path, len(path))
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("ctlserver: %s: teamtalkd is already running (it answers on this socket)", path)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("ctlserver: %s exists and is not a socket; not removing it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("ctlserver: remove stale socket %s: %w", path, err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("ctlserver: listen %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("ctlserver: chmod %s: %w", path, err)
	}
	return ln, nil
}

// Server is the control API's HTTP server.
type Server struct {
	b     Backend
	log   *slog.Logger
	every time.Duration
}

// New returns a server over b. The watch stream sends a snapshot every
// second.
func New(b Backend, log *slog.Logger) *Server {
	return &Server{b: b, log: log, every: time.Second}
}

// Handler returns the API's handler table.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	get := func(path string, fn func(r *http.Request) (any, error)) {
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			v, err := fn(r)
			s.reply(w, v, err)
		})
	}
	get(ctlapi.PathStatus, func(*http.Request) (any, error) { return s.b.Status(), nil })
	get(ctlapi.PathServices, func(*http.Request) (any, error) { return s.b.Services(), nil })
	get(ctlapi.PathMsgServers, func(*http.Request) (any, error) { return s.b.MsgServers() })
	get(ctlapi.PathSockets, func(*http.Request) (any, error) { return s.b.Sockets() })
	get(ctlapi.PathTimers, func(*http.Request) (any, error) { return s.b.Timers() })
	get(ctlapi.PathOnline, func(*http.Request) (any, error) { return s.b.Online() })
	get(ctlapi.PathEvents, func(r *http.Request) (any, error) {
		since, err := queryInt(r, "since", 0)
		if err != nil {
			return nil, err
		}
		limit, err := queryInt(r, "limit", 100)
		if err != nil {
			return nil, err
		}
		return s.b.Events(uint64(since), int(limit))
	})
	get(ctlapi.PathHistory, func(r *http.Request) (any, error) {
		limit, err := queryInt(r, "limit", 300)
		if err != nil {
			return nil, err
		}
		return s.b.History(int(limit))
	})
	mux.HandleFunc("POST "+ctlapi.PathRestart, func(w http.ResponseWriter, r *http.Request) {
		res, err := s.b.Restart(r.PathValue("name"))
		s.reply(w, res, err)
	})
	if p, ok := s.b.(Panicker); ok {
		mux.HandleFunc("POST "+ctlapi.PathPanic, func(w http.ResponseWriter, r *http.Request) {
			res, err := p.Panic(r.PathValue("name"))
			s.reply(w, res, err)
		})
	}
	mux.HandleFunc("POST "+ctlapi.PathKick, func(w http.ResponseWriter, r *http.Request) {
		var req ctlapi.KickRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&req); err != nil {
			s.fail(w, ctlapi.Errorf(http.StatusBadRequest, "bad kick request: %v", err))
			return
		}
		res, err := s.b.Kick(r.Context(), req)
		s.reply(w, res, err)
	})
	s.admin(mux)
	mux.HandleFunc("GET "+ctlapi.PathWatch, s.watch)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, ctlapi.NotFound("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return mux
}

func queryInt(r *http.Request, key string, def int64) (int64, error) {
	v := r.URL.Query().Get(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, ctlapi.Errorf(http.StatusBadRequest, "query %s=%q: want a non-negative integer", key, v)
	}
	return n, nil
}

func (s *Server) reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		s.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		s.log.Debug("control api: write reply", "err", err)
	}
}

func (s *Server) fail(w http.ResponseWriter, err error) {
	var ce *ctlapi.Error
	if !errors.As(err, &ce) {
		s.log.Error("control api", "err", err)
		ce = ctlapi.Errorf(http.StatusInternalServerError, "%v", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(ce.Status)
	json.NewEncoder(w).Encode(ce)
}

// watch streams one Snapshot per tick until the client goes or the server stops.
func (s *Server) watch(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		s.fail(w, errors.New("streaming unsupported"))
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		if err := enc.Encode(s.b.Snapshot()); err != nil {
			return
		}
		fl.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
	}
}

// Serve serves the API on ln until ctx is cancelled, then closes every
// connection (watch streams included) within a second and returns nil.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	base, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	hs := &http.Server{
		Handler:           httpguard.Handler(s.Handler()),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       10 * time.Second, // idle keep-alive connections do not pile up
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("ctlserver: serve: %w", err)
	case <-ctx.Done():
	}
	cancel() // ends watch streams
	sctx, scancel := context.WithTimeout(context.Background(), time.Second)
	defer scancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("ctlserver: serve: %w", err)
	}
	return nil
}
