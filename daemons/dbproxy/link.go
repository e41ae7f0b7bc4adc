package dbproxy

import (
	"context"
	"errors"
	"time"

	"google.golang.org/protobuf/proto"

	"teamtalk/netloop"
	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// linkHandler is the netloop.Handler of the proxy's accepted links. Its
// methods run on a loop goroutine: they decode and queue, never touch the
// store.
type linkHandler Service

// OnOpen remembers when the link opened (the heartbeat clock starts there).
func (h *linkHandler) OnOpen(c *netloop.Conn) {
	c.SetContext(time.Now())
	h.log.Info("dbproxy: link open", "conn", c.ID(), "remote", c.RemoteAddr())
}

// OnClose logs the link's end.
func (h *linkHandler) OnClose(c *netloop.Conn, err error) {
	h.log.Info("dbproxy: link closed", "conn", c.ID(), "remote", c.RemoteAddr(), "err", err)
}

// OnFrame decodes one request and queues it on the worker pool.
func (h *linkHandler) OnFrame(c *netloop.Conn, frame []byte) {
	(*Service)(h).onFrame(c.ID(), frame)
}

func (s *Service) onFrame(conn netloop.ConnID, frame []byte) {
	hdr := wire.ParseHeader(frame)
	switch hdr.CommandID {
	case pb.CmdOtherHeartbeat, pb.CmdOtherStopRecvPacket:
		return // the idle clock was reset by the read; db never echoes
	}
	hd := s.handlers[hdr.CommandID]
	if hd == nil {
		s.unknownCmds.Add(1)
		if ok, n := s.unknownLog.allow(); ok {
			s.log.Warn("dbproxy: unknown command dropped", "cmd", hdr.CommandID, "conn", conn, "suppressed", n)
		}
		return
	}
	if hdr.CommandID == pb.CmdMsgData && s.queueScannedMsg(conn, hdr, hd, frame) {
		return
	}
	_, req, err := wire.DecodeFrame(frame)
	if err != nil {
		s.badBodies.Add(1)
		hd.errors.Add(1)
		if ok, n := s.badLog.allow(); ok {
			s.log.Warn("dbproxy: bad body dropped", "cmd", hd.name, "conn", conn, "err", err, "suppressed", n)
		}
		return
	}
	hd.requests.Add(1)
	j := &job{conn: conn, hdr: hdr, h: hd, req: req, arrived: time.Now()}
	var key uint64
	if hd.key != nil {
		key = hd.key(req)
	}
	if !s.pool.submit(j, key, hd.key != nil) {
		s.overloaded(hd, conn)
	}
}

// overloaded counts and logs (rate-limited) a request dropped because its
// queue was full.
func (s *Service) overloaded(hd *handler, conn netloop.ConnID) {
	s.overloads.Add(1)
	hd.errors.Add(1)
	if ok, n := s.overLog.allow(); ok {
		s.log.Warn("dbproxy: queue full, request dropped", "cmd", hd.name, "conn", conn, "suppressed", n)
	}
}

// run executes one job on a worker and writes its reply on the link it came
// from. An asynchronous handler returns at once and replies from its
// completion; the job counts as pending until then.
func (s *Service) run(ctx context.Context, j *job) {
	if j.raw != nil {
		s.pool.pending.Add(1)
		s.saveScannedMsg(ctx, j, nil)
		s.msgBacklog.Add(-1)
		return
	}
	if j.h.async != nil {
		s.pool.pending.Add(1)
		j.h.async(s, ctx, j.req, func(rep proto.Message, err error) {
			s.finish(j, rep, err)
			s.pool.pending.Add(-1)
		})
		return
	}
	rep, err := j.h.fn(s, ctx, j.req)
	s.finish(j, rep, err)
}

// finish sends a job's reply and records its latency. It is quick and
// never blocks (the store's committer or answerer calls it).
func (s *Service) finish(j *job, rep proto.Message, err error) {
	s.failed(j, err)
	var frame []byte
	if rep != nil && j.h.reply != 0 {
		f, err := wire.Marshal(j.hdr.Reply(j.h.reply), rep)
		if err != nil {
			j.h.errors.Add(1)
			s.logErr("dbproxy: encode reply", err, "cmd", j.h.name)
		}
		frame = f
	}
	s.finishFrame(j, frame)
}

// failed counts and logs (rate-limited) a job's error; nil is none.
func (s *Service) failed(j *job, err error) {
	if err != nil {
		j.h.errors.Add(1)
		s.logErr("dbproxy: request failed", err, "cmd", j.h.name, "conn", j.conn)
	}
}

// finishFrame writes a job's encoded reply (nil: none) and records its
// latency. It is quick and never blocks.
func (s *Service) finishFrame(j *job, frame []byte) {
	if frame != nil {
		if g := s.grp.Load(); g != nil {
			if err := g.Write(j.conn, frame); err != nil && !errors.Is(err, netloop.ErrClosed) {
				s.logErr("dbproxy: write reply", err, "cmd", j.h.name, "conn", j.conn)
			}
		}
	}
	d := time.Since(j.arrived)
	us := uint64(d.Microseconds())
	j.h.latencyUS.Add(us)
	for {
		m := j.h.maxUS.Load()
		if us <= m || j.h.maxUS.CompareAndSwap(m, us) {
			break
		}
	}
	if o := j.h.observer.Load(); o != nil {
		(*o).Observe(d.Seconds())
	}
}

// logErr logs a failure, at most one line per second.
func (s *Service) logErr(msg string, err error, args ...any) {
	if ok, n := s.errLog.allow(); ok {
		s.log.Error(msg, append(args, "err", err, "suppressed", n)...)
	}
}
