// Package netloop is the reactor every TCP service runs on: a Group of
// epoll event loops that own their sockets and timers, split TeamTalk frames
// out of the byte stream and hand them to a Handler, without a goroutine per
// connection.
//
// A service creates one Group (its owner name labels everything it holds),
// listens and dials through it, and refers to connections from any goroutine
// by ConnID. Callbacks (Handler methods, timers, posted functions, loop
// callbacks) run on a loop goroutine and must not block: slow work goes to a
// worker and comes back with Post or a thread-safe Write.
//
// Threading, in short:
//   - A connection belongs to one loop; its Handler callbacks run there, one at
//     a time.
//   - Group timers, Group.Post functions and loop callbacks run on loop 0,
//     serialised with each other and with the callbacks of loop 0's
//     connections.
//   - Write, Close, SetIdleTimeout, Stats, Conns and the Group's methods may be
//     called from any goroutine.
package netloop

import (
	"errors"
	"log/slog"
	"time"

	"teamtalk/wire"
)

// ConnID names a connection across goroutines. Ids are never 0, are not
// reused until the 32-bit counter wraps, and acting on the id of a closed
// connection is a no-op that returns ErrClosed.
type ConnID uint32

// State is a connection's life stage.
type State int32

// Connection states.
const (
	// StateConnecting: a dial in progress, or an accepted socket not yet
	// registered on its loop.
	StateConnecting State = iota + 1
	// StateOpen: OnOpen ran; frames flow both ways.
	StateOpen
	// StateClosing: Close was called or the peer closed; queued data is being
	// flushed, no more frames are read or accepted for writing.
	StateClosing
	// StateClosed: the socket is closed and OnClose ran or is about to.
	StateClosed
)

// String names the state for logs and the console.
func (s State) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StateOpen:
		return "open"
	case StateClosing:
		return "closing"
	case StateClosed:
		return "closed"
	}
	return "unknown"
}

// Errors reported to OnClose or returned by Write. Callers branch on them
// with errors.Is.
var (
	// ErrClosed: the connection is closing or closed (or the id is unknown).
	ErrClosed = errors.New("netloop: connection closed")
	// ErrSlowReader: the peer did not read fast enough; its queued bytes
	// reached the write bound and the connection was closed.
	ErrSlowReader = errors.New("netloop: slow reader: write bound exceeded")
	// ErrIdleTimeout: nothing was received within the idle timeout.
	ErrIdleTimeout = errors.New("netloop: idle timeout")
	// ErrConnectTimeout: a dial did not complete within its connect timeout.
	ErrConnectTimeout = errors.New("netloop: connect timeout")
	// ErrFlushTimeout: a closing connection could not flush its queue in time.
	ErrFlushTimeout = errors.New("netloop: flush timeout on close")
	// ErrPanic: a callback of this connection panicked.
	ErrPanic = errors.New("netloop: panic in callback")
	// ErrStopped: the Group is stopping or stopped.
	ErrStopped = errors.New("netloop: group stopped")
	// ErrNotStarted: the Group's Start has not been called.
	ErrNotStarted = errors.New("netloop: group not started")
	// ErrFraming: the peer sent a frame length under 16 or over the limit.
	ErrFraming = errors.New("netloop: framing error")
)

// Handler receives a connection's events. All three methods run on the
// connection's loop goroutine, never concurrently for one connection, and
// must not block. A panic in OnOpen or OnFrame closes that connection (with
// ErrPanic) and is counted and reported through Options.OnPanic; the loop goes on.
type Handler interface {
	// OnOpen runs once when an accepted connection is registered on its loop,
	// or when a dial's connect completes (the reference's "confirm").
	OnOpen(c *Conn)
	// OnFrame runs for each whole frame, header included. frame is valid only
	// during the call: copy what must outlive it.
	OnFrame(c *Conn, frame []byte)
	// OnClose runs exactly once for every connection that OnOpen saw and for
	// every dialed connection (also when the dial fails, without OnOpen).
	// err is nil after a local Close, io.EOF when the peer closed, otherwise
	// the cause (ErrSlowReader, ErrIdleTimeout, ErrFraming, ErrStopped, a
	// socket error, ...).
	OnClose(c *Conn, err error)
}

// Options configure a Group. Set them before New; they do not change after.
type Options struct {
	// Owner is the service name; it labels logs, panics and stats.
	Owner string
	// Loops is the number of event loops (default runtime.GOMAXPROCS(0)).
	Loops int
	// Logger receives the Group's log lines (default: discarded).
	Logger *slog.Logger
	// Tick is the idle-sweep granularity (default 1 s; tests use ~50 ms).
	// Idle, connect and flush deadlines are enforced within one tick.
	Tick time.Duration
	// ReadBuffer is the size of each loop's shared read buffer (default 64 KiB).
	ReadBuffer int
	// LockOSThread pins each loop goroutine to its OS thread.
	LockOSThread bool
	// FlushTimeout bounds how long a closing connection may take to flush its
	// queued bytes (default 5 s).
	FlushTimeout time.Duration
	// AcceptPause is how long a listener stops accepting after EMFILE/ENFILE
	// (default 200 ms).
	AcceptPause time.Duration
	// OnPanic, if set, is the owner's error hook: it gets every recovered
	// panic value and stack. It runs on the loop that recovered the panic.
	OnPanic func(v any, stack []byte)
}

// ListenOptions configure a listener and the connections it accepts.
type ListenOptions struct {
	// MaxFrame is the largest inbound frame (default wire.MaxClientFrame).
	MaxFrame int
	// WriteBound is the most bytes a connection may queue (default 4 MiB).
	// A frame written to an empty queue is always admitted, whatever its size.
	WriteBound int
	// IdleTimeout closes a connection that received nothing for this long
	// (0: never). Change it per connection with Conn.SetIdleTimeout.
	IdleTimeout time.Duration
}

// DialOptions configure an outbound connection.
type DialOptions struct {
	// MaxFrame is the largest inbound frame (default wire.MaxServerFrame).
	MaxFrame int
	// WriteBound is the most bytes the connection may queue (default 64 MiB).
	WriteBound int
	// IdleTimeout as in ListenOptions.
	IdleTimeout time.Duration
	// ConnectTimeout bounds the TCP connect (default 10 s).
	ConnectTimeout time.Duration
}

func (o *ListenOptions) defaults() {
	if o.MaxFrame <= 0 {
		o.MaxFrame = wire.MaxClientFrame
	}
	if o.WriteBound <= 0 {
		o.WriteBound = 4 << 20
	}
}

func (o *DialOptions) defaults() {
	if o.MaxFrame <= 0 {
		o.MaxFrame = wire.MaxServerFrame
	}
	if o.WriteBound <= 0 {
		o.WriteBound = 64 << 20
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
}
