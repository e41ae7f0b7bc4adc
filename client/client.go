package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// Errors callers branch on with errors.Is.
var (
	// ErrClosed: the client was closed, by Close or because the connection
	// failed; calls waiting for a reply fail with it (wrapping the cause).
	ErrClosed = errors.New("client: closed")
	// ErrHeartbeatTimeout: nothing came from the server for
	// Options.HeartbeatTimeout; the client closed itself.
	ErrHeartbeatTimeout = errors.New("client: no data from server within the heartbeat timeout")
	// ErrTimeout: an asynchronous request got no reply within its timeout.
	ErrTimeout = errors.New("client: request timed out")
	// ErrTooManyPending: all 65535 sequence numbers are waiting for replies.
	ErrTooManyPending = errors.New("client: too many pending requests")
)

// Options configure a Client. The zero value is usable: an Android client,
// no heartbeats, events on a channel of 64.
type Options struct {
	// ClientType is sent in the login request. Default CLIENT_TYPE_ANDROID
	// (the load tests use mobile types); the family (PC or mobile) decides
	// which older connection a login kicks (PROTOCOL.md §4.1).
	ClientType pb.ClientType
	// ClientVersion is sent in the login request. Default "teamtalk-go/1".
	ClientVersion string
	// OnlineStatus is sent in the login request. Default USER_STATUS_ONLINE.
	OnlineStatus pb.UserStatType
	// Heartbeat is the interval of the client's heartbeats (0x0701); 0 sends
	// none. Real clients use 30 s (test client) to 4 min (Android).
	Heartbeat time.Duration
	// HeartbeatTimeout closes the client with ErrHeartbeatTimeout when
	// nothing (not even a heartbeat echo) arrived for that long. Checked on
	// heartbeat ticks only; 0 means 3 × Heartbeat.
	HeartbeatTimeout time.Duration
	// SeqStart is the seq of the first request (0 means 1). Seqs then count
	// up, skipping 0 (reserved for unsolicited PDUs) and seqs still pending.
	SeqStart uint16
	// LocalAddr is the local IP (or IP:port) to bind before connecting;
	// ttbench spreads clients over 127.0.0.x this way. Empty: any.
	LocalAddr string
	// Version and Reserved are written in every header. Default 1 and 0 as
	// the C++ and desktop clients write; Android writes 6 and 0x30, iOS 13
	// and 1 (PROTOCOL.md §1.1), which servers must ignore.
	Version, Reserved uint16
	// Handler, when set, receives every event on the reader goroutine instead
	// of the Events channel. It must return quickly and must not make calls
	// that wait for a reply on this client (the reply would be read by the
	// goroutine it blocks), nor call Close (use go c.Close()).
	Handler func(Event)
	// MsgData, when set, receives every IMMsgData (a chat message) on the
	// reader goroutine as the fields wire.ScanMsgData reads, instead of a
	// MessageEvent: no decode, no allocation (a load generator's receivers
	// spent a third of their time decoding). f.Data and f.Attach point into
	// the read buffer and are valid only during the call. The delivery ack
	// is sent as usual; a body the scan refuses is decoded and becomes a
	// MessageEvent. The rules of Handler apply.
	MsgData func(h wire.Header, f wire.MsgDataFields)
	// EventBuffer is the capacity of the Events channel. Default 64.
	EventBuffer int
	// DropEvents makes the reader drop (and count) events when the Events
	// channel is full, instead of waiting for the consumer. A waiting reader
	// also delays replies, so a program that does not read Events while it
	// makes calls should set this or use Handler.
	DropEvents bool
	// NoDeliveryAck turns off the IMMsgDataAck (0x0302) the client sends for
	// every message it receives, as real clients do (PROTOCOL.md §4.3).
	NoDeliveryAck bool
	// Cipher encrypts and decrypts message text. Default NewCipher(DefaultKey);
	// share one among many clients.
	Cipher *Cipher
	// MaxFrame bounds inbound frames. Default wire.MaxClientFrame.
	MaxFrame int
	// WriteTimeout bounds each write to the socket; a write that times out
	// closes the client. Default 30 s; negative means none.
	WriteTimeout time.Duration
	// AsyncTimeout is the reply timeout of asynchronous requests (SendMsgAsync,
	// Go) that pass 0. Default 30 s.
	AsyncTimeout time.Duration
	// Logger receives the client's rare log lines (bad bodies, rate-limited).
	// Default: discard.
	Logger *slog.Logger
	// TLS, when set, makes Dial speak TLS (a msg server's msg.tls_listen
	// port); the handshake is bounded by Dial's context. With no ServerName
	// and verification on, the host of Dial's address is verified.
	// TeamTalk's own servers and the plain port speak no TLS: leave it nil.
	TLS *tls.Config
}

// setLoginDefaults fills the fields the login request carries.
func (o *Options) setLoginDefaults() {
	if o.ClientType == 0 {
		o.ClientType = pb.ClientType_CLIENT_TYPE_ANDROID
	}
	if o.ClientVersion == "" {
		o.ClientVersion = "teamtalk-go/1"
	}
	if o.OnlineStatus == 0 {
		o.OnlineStatus = pb.UserStatType_USER_STATUS_ONLINE
	}
}

func (o *Options) setDefaults() error {
	o.setLoginDefaults()
	if o.Heartbeat < 0 {
		o.Heartbeat = 0
	}
	if o.Heartbeat > 0 && o.HeartbeatTimeout <= 0 {
		o.HeartbeatTimeout = 3 * o.Heartbeat
	}
	if o.SeqStart == 0 {
		o.SeqStart = 1
	}
	if o.Version == 0 {
		o.Version = wire.Version
	}
	if o.EventBuffer <= 0 {
		o.EventBuffer = 64
	}
	if o.Cipher == nil {
		c, err := NewCipher(DefaultKey)
		if err != nil {
			return err
		}
		o.Cipher = c
	}
	if o.MaxFrame <= 0 {
		o.MaxFrame = wire.MaxClientFrame
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 30 * time.Second
	}
	if o.AsyncTimeout <= 0 {
		o.AsyncTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Stats are a client's counters.
type Stats struct {
	FramesIn, FramesOut uint64
	// BadBodies counts unsolicited PDUs dropped because their body failed to
	// decode (unknown command, bad protobuf, missing required field).
	BadBodies uint64
	// DroppedEvents counts events dropped on a full channel (DropEvents).
	DroppedEvents uint64
	// HeartbeatsSent and HeartbeatEchoes count 0x0701 out and in.
	HeartbeatsSent, HeartbeatEchoes uint64
	// DeliveryAcks counts the IMMsgDataAcks sent for received messages.
	DeliveryAcks uint64
	// Pending is the number of requests waiting for a reply.
	Pending int
}

// Client is one TeamTalk client connection. Its methods are safe for
// concurrent use. Close it when done.
type Client struct {
	conn   net.Conn
	opt    Options
	log    *slog.Logger
	events chan Event // nil with a Handler

	// Writing: frames are appended to out; whoever finds no flush in
	// progress writes out (and whatever others append meanwhile). While
	// corks > 0 (Cork) frames are only appended; the last Uncork writes.
	// The reader queues its delivery acks and writes them once per read.
	wmu      sync.Mutex
	out      []byte
	spare    []byte
	flushing bool
	corks    int
	werr     error

	// Pending requests by seq.
	pmu      sync.Mutex
	seq      uint16
	pending  map[uint16]*call
	nasync   int
	closed   bool
	closeErr error
	sweeping bool

	// Timers (heartbeat, async sweep). tmu guards timersStopped and the
	// timers' Reset; timerWG counts running callbacks for Close.
	tmu           sync.Mutex
	timersStopped bool
	timerWG       sync.WaitGroup
	hbTimer       *time.Timer
	swTimer       *time.Timer

	userID   atomic.Uint32
	lastRecv atomic.Int64 // unix nanoseconds
	lastBad  atomic.Int64

	framesIn, framesOut, badBodies, dropped atomic.Uint64
	hbSent, hbEcho, deliveryAcks            atomic.Uint64

	done       chan struct{} // closed when the client starts closing
	readerDone chan struct{} // closed when the reader goroutine has returned
	closeOnce  sync.Once
}

// Dial connects to the msg server at addr (host:port, see
// MsgServerInfo.Addr) and starts the client's reader. It does not log in.
func Dial(ctx context.Context, addr string, opt Options) (*Client, error) {
	var d net.Dialer
	if opt.LocalAddr != "" {
		local := opt.LocalAddr
		if _, _, err := net.SplitHostPort(local); err != nil {
			local = net.JoinHostPort(local, "0")
		}
		la, err := net.ResolveTCPAddr("tcp", local)
		if err != nil {
			return nil, fmt.Errorf("client: local address %q: %w", opt.LocalAddr, err)
		}
		d.LocalAddr = la
	}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("client: dial %s: %w", addr, err)
	}
	if opt.TLS != nil {
		cfg := opt.TLS
		if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
			cfg = cfg.Clone()
			cfg.ServerName, _, _ = net.SplitHostPort(addr)
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("client: tls handshake with %s: %w", addr, err)
		}
		conn = tc
	}
	c, err := New(conn, opt)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// New makes a Client of an established connection (a TLS one, a net.Pipe in
// tests) and starts its reader. The Client owns conn from then on.
func New(conn net.Conn, opt Options) (*Client, error) {
	if err := opt.setDefaults(); err != nil {
		return nil, err
	}
	c := &Client{
		conn:       conn,
		opt:        opt,
		log:        opt.Logger,
		seq:        opt.SeqStart - 1,
		pending:    make(map[uint16]*call),
		done:       make(chan struct{}),
		readerDone: make(chan struct{}),
	}
	if opt.Handler == nil {
		c.events = make(chan Event, opt.EventBuffer)
	}
	c.lastRecv.Store(time.Now().UnixNano())
	if opt.Heartbeat > 0 {
		c.tmu.Lock()
		c.hbTimer = time.AfterFunc(opt.Heartbeat, c.heartbeatTick)
		c.tmu.Unlock()
	}
	go c.reader()
	return c, nil
}

// Events returns the channel of unsolicited PDUs (nil when Options.Handler
// is set). It is closed when the client has stopped; Err then says why.
func (c *Client) Events() <-chan Event { return c.events }

// Done returns a channel closed when the client starts closing.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the client stopped (wrapping ErrClosed after Close), or
// nil while it runs.
func (c *Client) Err() error {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	return c.closeErr
}

// UserID returns the logged-in user's id, 0 before a successful Login.
func (c *Client) UserID() uint32 { return c.userID.Load() }

// LocalAddr returns the local address of the connection.
func (c *Client) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// Cipher returns the cipher the client encrypts text with.
func (c *Client) Cipher() *Cipher { return c.opt.Cipher }

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	c.pmu.Lock()
	n := len(c.pending)
	c.pmu.Unlock()
	return Stats{
		FramesIn: c.framesIn.Load(), FramesOut: c.framesOut.Load(),
		BadBodies: c.badBodies.Load(), DroppedEvents: c.dropped.Load(),
		HeartbeatsSent: c.hbSent.Load(), HeartbeatEchoes: c.hbEcho.Load(),
		DeliveryAcks: c.deliveryAcks.Load(), Pending: n,
	}
}

// Close closes the connection, fails every pending request with ErrClosed,
// stops the timers and waits for the reader goroutine to return. It is
// idempotent and returns nil (Err tells why a client stopped on its own).
// Do not call it from a Handler or an async callback (they run on the reader
// goroutine it waits for); call go c.Close() there.
func (c *Client) Close() error {
	c.shutdown(ErrClosed)
	<-c.readerDone
	c.timerWG.Wait()
	return nil
}

// shutdown stops the client once, recording cause.
func (c *Client) shutdown(cause error) {
	c.closeOnce.Do(func() {
		if !errors.Is(cause, ErrClosed) {
			cause = fmt.Errorf("%w: %w", ErrClosed, cause)
		}
		c.pmu.Lock()
		c.closed = true
		c.closeErr = cause
		pend := c.pending
		c.pending = nil
		c.pmu.Unlock()
		close(c.done)
		c.conn.Close()
		c.tmu.Lock()
		c.timersStopped = true
		if c.hbTimer != nil {
			c.hbTimer.Stop()
		}
		if c.swTimer != nil {
			c.swTimer.Stop()
		}
		c.tmu.Unlock()
		for _, cl := range pend {
			cl.complete(wire.Header{}, nil, cause)
		}
	})
}

// reader is the client's one goroutine: it reads frames, completes pending
// calls and emits events until the connection ends.
func (c *Client) reader() {
	defer close(c.readerDone)
	if c.events != nil {
		defer close(c.events)
	}
	dec := wire.NewDecoder(c.opt.MaxFrame)
	for {
		n, rerr := dec.Fill(c.conn)
		if n > 0 {
			c.lastRecv.Store(time.Now().UnixNano()) // once per read, not per frame
		}
		for {
			frame, err := dec.Next()
			if err != nil {
				c.shutdown(fmt.Errorf("client: read: %w", err))
				return
			}
			if frame == nil {
				break
			}
			c.dispatch(frame)
		}
		// The delivery acks of everything this read brought go out in one
		// write, before the reader waits for more.
		c.flushQueued()
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				rerr = io.ErrUnexpectedEOF
			}
			c.shutdown(fmt.Errorf("client: read: connection closed by server: %w", rerr))
			return
		}
	}
}

// dispatch handles one whole frame on the reader goroutine.
func (c *Client) dispatch(frame []byte) {
	c.framesIn.Add(1)
	h := wire.ParseHeader(frame)
	body := frame[wire.HeaderLen:h.Length]
	if h.Seq != 0 {
		c.pmu.Lock()
		cl := c.pending[h.Seq]
		if cl != nil && cl.rspCmd == h.CommandID {
			delete(c.pending, h.Seq)
			if cl.cb != nil {
				c.nasync--
			}
		} else {
			cl = nil
		}
		c.pmu.Unlock()
		if cl != nil {
			msg, err := cl.decode(h.CommandID, body)
			if res, ok := msg.(*pb.IMLoginRes); ok && res.GetResultCode() == pb.ResultType_REFUSE_REASON_NONE {
				// Known before the next frame (often a message, in the same
				// read) is dispatched: its delivery ack needs it.
				c.userID.Store(res.GetUserInfo().GetUserId())
			}
			cl.complete(h, msg, err)
			return
		}
	}
	if h.CommandID == uint16(pb.OtherCmdID_CID_OTHER_HEARTBEAT) {
		c.hbEcho.Add(1)
		return
	}
	if h.CommandID == pb.CmdMsgData && c.opt.MsgData != nil {
		if f, ok := wire.ScanMsgData(body); ok {
			if !c.opt.NoDeliveryAck {
				c.deliveryAck(f.From, f.To, f.MsgID, f.Type)
			}
			c.opt.MsgData(h, f)
			return
		}
	}
	msg, err := wire.DecodeBody(h.CommandID, body)
	if err != nil {
		c.badBodies.Add(1)
		now := time.Now().UnixNano()
		if last := c.lastBad.Load(); now-last > int64(time.Second) && c.lastBad.CompareAndSwap(last, now) {
			c.log.Warn("client: dropped a PDU with a bad body", "cmd", pb.CommandName(h.CommandID), "seq", h.Seq, "err", err)
		}
		return
	}
	if m, ok := msg.(*pb.IMMsgData); ok && !c.opt.NoDeliveryAck {
		c.deliveryAck(m.GetFromUserId(), m.GetToSessionId(), m.GetMsgId(), m.GetMsgType())
	}
	c.emit(newEvent(h, msg))
}

// deliveryAck tells the server a message arrived (PROTOCOL.md §4.3 step 6).
func (c *Client) deliveryAck(from, to, msgID uint32, t pb.MsgType) {
	me := c.UserID()
	st := sessionTypeOf(t)
	peer := to
	if st == pb.SessionType_SESSION_TYPE_SINGLE && from != me {
		peer = from
	}
	ack := &pb.IMMsgDataAck{UserId: &me, SessionId: &peer, MsgId: &msgID, SessionType: st.Enum()}
	if err := c.queue(uint16(pb.MessageCmdID_CID_MSG_DATA_ACK), 0, ack); err == nil {
		c.deliveryAcks.Add(1)
	}
}

// sessionTypeOf maps a message type to its session type.
func sessionTypeOf(t pb.MsgType) pb.SessionType {
	if t == pb.MsgType_MSG_TYPE_GROUP_TEXT || t == pb.MsgType_MSG_TYPE_GROUP_AUDIO {
		return pb.SessionType_SESSION_TYPE_GROUP
	}
	return pb.SessionType_SESSION_TYPE_SINGLE
}

// emit delivers an event to the Handler or the channel.
func (c *Client) emit(ev Event) {
	if c.opt.Handler != nil {
		c.opt.Handler(ev)
		return
	}
	if c.opt.DropEvents {
		select {
		case c.events <- ev:
		default:
			c.dropped.Add(1)
		}
		return
	}
	select {
	case c.events <- ev:
		return
	default:
	}
	// The consumer is behind: what the reader queued goes out before it
	// waits for the consumer.
	c.flushQueued()
	select {
	case c.events <- ev:
	case <-c.done:
	}
}

// timerStart is called first by every timer callback: it reports whether
// the client still runs and, if so, counts the callback for Close to wait.
func (c *Client) timerStart() bool {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	if c.timersStopped {
		return false
	}
	c.timerWG.Add(1)
	return true
}

// rearm resets t to d unless the client is closing.
func (c *Client) rearm(t *time.Timer, d time.Duration) {
	c.tmu.Lock()
	if !c.timersStopped {
		t.Reset(d)
	}
	c.tmu.Unlock()
}

// heartbeatTick sends a heartbeat, or closes the client when the server has
// been silent for the heartbeat timeout.
func (c *Client) heartbeatTick() {
	if !c.timerStart() {
		return
	}
	defer c.timerWG.Done()
	if silent := time.Since(time.Unix(0, c.lastRecv.Load())); silent > c.opt.HeartbeatTimeout {
		c.shutdown(fmt.Errorf("%w (%v silent)", ErrHeartbeatTimeout, silent.Round(time.Millisecond)))
		return
	}
	if err := c.sendHeartbeat(); err != nil {
		return
	}
	c.rearm(c.hbTimer, c.opt.Heartbeat)
}

// sendHeartbeat writes one 0x0701 with the next seq, not waited for.
func (c *Client) sendHeartbeat() error {
	c.pmu.Lock()
	seq := c.nextSeqLocked()
	c.pmu.Unlock()
	err := c.send(uint16(pb.OtherCmdID_CID_OTHER_HEARTBEAT), seq, nil)
	if err == nil {
		c.hbSent.Add(1)
	}
	return err
}

// nextSeqLocked advances the seq counter past 0; c.pmu must be held.
func (c *Client) nextSeqLocked() uint16 {
	c.seq++
	if c.seq == 0 {
		c.seq = 1
	}
	return c.seq
}

// send encodes msg as a frame with cmd and seq into the write buffer and
// flushes it (or leaves it to the flush in progress).
func (c *Client) send(cmd, seq uint16, msg proto.Message) error {
	if err := c.appendLocked(cmd, seq, msg); err != nil {
		return err
	}
	return c.releaseLocked()
}

// queue appends a frame to the write buffer without writing it: the
// reader's delivery acks, written by flushQueued once per read.
func (c *Client) queue(cmd, seq uint16, msg proto.Message) error {
	if err := c.appendLocked(cmd, seq, msg); err != nil {
		return err
	}
	c.wmu.Unlock()
	return nil
}

// appendLocked encodes a frame onto the write buffer. On success it returns
// with c.wmu held; on an error, with it released.
func (c *Client) appendLocked(cmd, seq uint16, msg proto.Message) error {
	h := wire.Header{Version: c.opt.Version, ServiceID: pb.ServiceOf(cmd), CommandID: cmd, Seq: seq, Reserved: c.opt.Reserved}
	c.wmu.Lock()
	if c.werr != nil {
		err := c.werr
		c.wmu.Unlock()
		return err
	}
	start := len(c.out)
	out, err := wire.AppendMarshal(c.out, h, msg)
	if err != nil {
		c.out = out[:start]
		c.wmu.Unlock()
		return fmt.Errorf("client: send %s: %w", pb.CommandName(cmd), err)
	}
	c.out = out
	c.framesOut.Add(1)
	return nil
}

// releaseLocked writes the buffer unless the client is corked; c.wmu must
// be held and is released.
func (c *Client) releaseLocked() error {
	if c.corks > 0 {
		c.wmu.Unlock()
		return nil
	}
	return c.flushLocked()
}

// flushQueued writes what queue left in the buffer, unless a flush is under
// way (it writes it) or the client is corked (Uncork writes it). A write
// error shuts the client down; callers learn of it from their next call.
func (c *Client) flushQueued() {
	c.wmu.Lock()
	if len(c.out) == 0 {
		c.wmu.Unlock()
		return
	}
	_ = c.releaseLocked()
}

// Cork makes the client's sends queue their frames instead of writing them,
// until the matching Uncork, so that several requests (a sender's burst of
// messages) go out in one write: fewer system calls on both ends. Corks
// nest. Hold a cork briefly, never across a wait: while corked, no goroutine's
// frames are written.
func (c *Client) Cork() {
	c.wmu.Lock()
	c.corks++
	c.wmu.Unlock()
}

// Uncork ends a Cork; the last one writes what was queued meanwhile. It
// returns the write's error, if any (the client is then shut down).
func (c *Client) Uncork() error {
	c.wmu.Lock()
	if c.corks == 0 {
		c.wmu.Unlock()
		return errors.New("client: Uncork without Cork")
	}
	c.corks--
	return c.releaseLocked()
}

// sendRaw queues a frame already encoded (header and body) and flushes.
func (c *Client) sendRaw(frame []byte) error {
	c.wmu.Lock()
	if c.werr != nil {
		err := c.werr
		c.wmu.Unlock()
		return err
	}
	c.out = append(c.out, frame...)
	c.framesOut.Add(1)
	return c.releaseLocked()
}

// maxKeep is the largest write buffer a client keeps between flushes.
const maxKeep = 64 << 10

// flushLocked writes out; c.wmu must be held and is released.
func (c *Client) flushLocked() error {
	if c.flushing {
		c.wmu.Unlock()
		return nil
	}
	c.flushing = true
	for len(c.out) > 0 {
		b := c.out
		c.out = c.spare[:0]
		c.wmu.Unlock()
		if c.opt.WriteTimeout > 0 {
			c.conn.SetWriteDeadline(time.Now().Add(c.opt.WriteTimeout))
		}
		_, err := c.conn.Write(b)
		c.wmu.Lock()
		if cap(b) <= maxKeep {
			c.spare = b[:0]
		} else {
			c.spare = nil
		}
		if err != nil {
			err = fmt.Errorf("client: write: %w", err)
			c.werr = err
			c.out = nil
			c.flushing = false
			c.wmu.Unlock()
			c.shutdown(err)
			return err
		}
	}
	c.flushing = false
	c.wmu.Unlock()
	return nil
}
