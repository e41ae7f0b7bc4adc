// Package link keeps TeamTalk server-to-server links alive on netloop: an
// outbound Pool that dials every configured peer entry, reconnects with
// backoff, sends heartbeats when idle, closes silent links and picks a link
// (any usable one, the master, or all); and an Inbound tracker that does the
// heartbeat and silence rules for links a service accepts (PROTOCOL.md §1.5,
// §1.7).
//
// Threading: callbacks (Callbacks.Confirmed, Frame, Closed, Master) run on a
// netloop loop goroutine and must not block. Every method of Pool, Link and
// Inbound is safe from any goroutine.
package link

import (
	"time"

	"teamtalk/appliance/config"
	"teamtalk/appliance/ctlapi"
	"teamtalk/netloop"
	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// CmdHeartbeat is CID_OTHER_HEARTBEAT (0x0701), sent with SID_OTHER and an
// empty body on every server link.
const CmdHeartbeat = pb.CmdOtherHeartbeat

// CmdStopReceive is CID_OTHER_STOP_RECV_PACKET (0x0702): a db proxy that is
// shutting down sends it, and the link is unusable until it closes.
const CmdStopReceive = pb.CmdOtherStopRecvPacket

// Config holds the timings of every server link ([link] in the config).
type Config struct {
	// Heartbeat: a link that sent nothing for this long sends a heartbeat.
	Heartbeat time.Duration
	// Timeout: a link that received nothing for this long is closed.
	Timeout time.Duration
	// ReconnectMin is the first reconnect delay; it doubles on every failed
	// attempt up to ReconnectMax and returns to ReconnectMin once a connect
	// succeeds.
	ReconnectMin time.Duration
	// ReconnectMax bounds the reconnect delay.
	ReconnectMax time.Duration
}

// ConfigFrom reads the [link] section.
func ConfigFrom(c *config.Config) Config {
	return Config{
		Heartbeat:    time.Duration(c.Link.Heartbeat),
		Timeout:      time.Duration(c.Link.Timeout),
		ReconnectMin: time.Duration(c.Link.ReconnectMin),
		ReconnectMax: time.Duration(c.Link.ReconnectMax),
	}.withDefaults()
}

func (c Config) withDefaults() Config {
	if c.Heartbeat <= 0 {
		c.Heartbeat = 5 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.ReconnectMin <= 0 {
		c.ReconnectMin = 2 * time.Second
	}
	if c.ReconnectMax < c.ReconnectMin {
		c.ReconnectMax = c.ReconnectMin
	}
	return c
}

// Tick returns the netloop Options.Tick a service with these links should
// use: fine enough that heartbeats and timeouts keep their meaning (a quarter
// of the shorter one), never coarser than one second nor finer than 5 ms.
func (c Config) Tick() time.Duration {
	c = c.withDefaults()
	t := min(c.Heartbeat, c.Timeout) / 4
	return max(min(t, time.Second), 5*time.Millisecond)
}

// sweepEvery is how often the heartbeat sweep runs.
func (c Config) sweepEvery() time.Duration {
	return c.Tick()
}

// Heartbeat returns a new heartbeat frame (16 bytes: SID_OTHER, 0x0701,
// seq 0, empty body).
func Heartbeat() []byte {
	return wire.AppendFrame(make([]byte, 0, wire.HeaderLen), wire.NewHeader(CmdHeartbeat, 0), nil)
}

// IsHeartbeat reports whether frame is a heartbeat (dispatch is on the
// command id alone, PROTOCOL.md §1.4).
func IsHeartbeat(frame []byte) bool {
	return len(frame) >= wire.HeaderLen && wire.ParseHeader(frame).CommandID == CmdHeartbeat
}

// needsHeartbeat reports whether a link that opened at opened and last wrote
// at lastWrite (zero: never) is due a heartbeat at now.
func needsHeartbeat(now, opened, lastWrite time.Time, every time.Duration) bool {
	last := lastWrite
	if last.IsZero() || last.Before(opened) {
		last = opened
	}
	return now.Sub(last) >= every
}

// Sockets lists g's connections and listeners for the console (SocketLister),
// labelled with service; kind names a connection's kind ("peer-in",
// "peer-out", "client"), nil means "peer-in" for accepted and "peer-out" for
// dialled connections.
func Sockets(g *netloop.Group, service string, kind func(netloop.ConnInfo) string) []ctlapi.Socket {
	if g == nil {
		return nil
	}
	st := g.Stats()
	out := make([]ctlapi.Socket, 0, len(st.Listeners))
	for _, l := range st.Listeners {
		out = append(out, ctlapi.Socket{Service: service, Kind: "listen", Local: l})
	}
	now := time.Now()
	for _, ci := range g.Conns() {
		k := "peer-in"
		if ci.Dialed {
			k = "peer-out"
		}
		if kind != nil {
			k = kind(ci)
		}
		out = append(out, ctlapi.Socket{
			Service: service, Loop: ci.Loop, ID: uint32(ci.ID), Kind: k, Local: ci.Local, Remote: ci.Remote,
			LastRead: now.Add(-ci.Idle), BytesIn: ci.BytesIn, BytesOut: ci.BytesOut, Queued: ci.Queued,
		})
	}
	return out
}
