package netloop

import (
	"sort"
	"time"
)

// Counters are cumulative event counts.
type Counters struct {
	BytesIn          uint64 `json:"bytes_in"`
	BytesOut         uint64 `json:"bytes_out"`
	FramesIn         uint64 `json:"frames_in"`
	FramesOut        uint64 `json:"frames_out"`
	Writes           uint64 `json:"writes"` // write system calls: FramesOut / Writes is the batching
	Accepted         uint64 `json:"accepted"`
	Dialed           uint64 `json:"dialed"`
	SlowReaderCloses uint64 `json:"slow_reader_closes"`
	IdleCloses       uint64 `json:"idle_closes"`
	FrameErrors      uint64 `json:"frame_errors"`
	Panics           uint64 `json:"panics"`
	AcceptPauses     uint64 `json:"accept_pauses"`
}

func (c *Counters) add(o Counters) {
	c.BytesIn += o.BytesIn
	c.BytesOut += o.BytesOut
	c.FramesIn += o.FramesIn
	c.FramesOut += o.FramesOut
	c.Writes += o.Writes
	c.Accepted += o.Accepted
	c.Dialed += o.Dialed
	c.SlowReaderCloses += o.SlowReaderCloses
	c.IdleCloses += o.IdleCloses
	c.FrameErrors += o.FrameErrors
	c.Panics += o.Panics
	c.AcceptPauses += o.AcceptPauses
}

// LoopStats is one loop's (or, in Stats.Total, the whole Group's) snapshot:
// connections by state and the counters.
type LoopStats struct {
	Loop       int `json:"loop"`
	Connecting int `json:"connecting"`
	Open       int `json:"open"`
	Closing    int `json:"closing"`
	Counters
}

// TimerStats describes the Group's service timers.
type TimerStats struct {
	Count         int       `json:"count"`
	NextDue       time.Time `json:"next_due"` // zero when there is none
	Overdue       int       `json:"overdue"`  // due but not yet run: a busy loop 0
	LoopCallbacks int       `json:"loop_callbacks"`
}

// Stats is a snapshot of a Group for the control API and the console.
type Stats struct {
	Owner     string      `json:"owner"`
	Loops     []LoopStats `json:"loops"`
	Total     LoopStats   `json:"total"` // Loop is -1
	Timers    TimerStats  `json:"timers"`
	Listeners []string    `json:"listeners"`
}

// Stats takes a snapshot; it is safe from any goroutine and does not wait
// for the loops.
func (g *Group) Stats() Stats {
	s := Stats{Owner: g.opt.Owner, Total: LoopStats{Loop: -1}}
	for _, l := range g.loops {
		c := &l.counters
		ls := LoopStats{
			Loop:       l.idx,
			Connecting: int(c.connecting.Load()),
			Open:       int(c.open.Load()),
			Closing:    int(c.closing.Load()),
			Counters: Counters{
				BytesIn:          c.bytesIn.Load(),
				BytesOut:         c.bytesOut.Load(),
				FramesIn:         c.framesIn.Load(),
				FramesOut:        c.framesOut.Load(),
				Writes:           c.writes.Load(),
				Accepted:         c.accepted.Load(),
				Dialed:           c.dialed.Load(),
				SlowReaderCloses: c.slowReaders.Load(),
				IdleCloses:       c.idleCloses.Load(),
				FrameErrors:      c.frameErrors.Load(),
				Panics:           c.panics.Load(),
				AcceptPauses:     c.acceptPauses.Load(),
			},
		}
		s.Loops = append(s.Loops, ls)
		s.Total.Connecting += ls.Connecting
		s.Total.Open += ls.Open
		s.Total.Closing += ls.Closing
		s.Total.Counters.add(ls.Counters)
	}
	// Panics outside any loop's accounting (none today) still show in Total.
	if p := g.panics.Load(); p > s.Total.Panics {
		s.Total.Panics = p
	}
	now := g.mono()
	count, next, overdue := g.timers.snapshot(now)
	s.Timers = TimerStats{Count: count, Overdue: overdue, LoopCallbacks: len(*g.cbs.Load())}
	if next != 0 {
		s.Timers.NextDue = g.epoch.Add(time.Duration(next))
	}
	g.lnMu.Lock()
	for ln := range g.listeners {
		s.Listeners = append(s.Listeners, ln.addr.String())
	}
	g.lnMu.Unlock()
	sort.Strings(s.Listeners)
	return s
}

// ConnInfo describes one connection for the console.
type ConnInfo struct {
	ID          ConnID        `json:"id"`
	Loop        int           `json:"loop"`
	Local       string        `json:"local"`
	Remote      string        `json:"remote"`
	Dialed      bool          `json:"dialed"`
	State       string        `json:"state"`
	BytesIn     uint64        `json:"bytes_in"`
	BytesOut    uint64        `json:"bytes_out"`
	FramesIn    uint64        `json:"frames_in"`
	FramesOut   uint64        `json:"frames_out"`
	Queued      int           `json:"queued"`
	Idle        time.Duration `json:"idle"` // since the last received byte
	IdleTimeout time.Duration `json:"idle_timeout"`
}

// Conns lists the Group's connections, ordered by id.
func (g *Group) Conns() []ConnInfo {
	now := g.mono()
	conns := g.allConns()
	out := make([]ConnInfo, 0, len(conns))
	for _, c := range conns {
		ci := ConnInfo{
			ID:          c.id,
			Loop:        c.l.idx,
			Remote:      c.remoteString(),
			Dialed:      c.dialed,
			State:       c.State().String(),
			BytesIn:     c.bytesIn.Load(),
			BytesOut:    c.bytesOut.Load(),
			FramesIn:    c.framesIn.Load(),
			FramesOut:   c.framesOut.Load(),
			Queued:      c.Queued(),
			Idle:        time.Duration(now - c.lastRead.Load()),
			IdleTimeout: c.IdleTimeout(),
		}
		if la := c.LocalAddr(); la != nil {
			ci.Local = la.String()
		}
		out = append(out, ci)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
