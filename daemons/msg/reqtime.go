package msg

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"teamtalk/netloop"
	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// reqShards spreads the pending requests over short mutexes by connection.
const reqShards = 16

// reqMaxAge is how long a request may wait for its reply before sweep
// forgets it (commands with no reply, replies dropped on the way).
const reqMaxAge = time.Minute

// reqTimes times client requests from their arrival at msg to the reply
// written to the client, by command, into the request_seconds histogram
// (teamtalk_msg_request_seconds). Requests are keyed by connection id and
// seq (replies keep the request's seq). It does nothing until enable.
type reqTimes struct {
	hist       atomic.Pointer[prometheus.HistogramVec]
	obs        sync.Map // command id (uint16) → prometheus.Observer
	unanswered atomic.Uint64
	shards     [reqShards]struct {
		mu sync.Mutex
		m  map[uint64]reqStart
	}
}

type reqStart struct {
	cmd uint16
	at  int64 // unix nanos
}

func reqKey(id netloop.ConnID, seq uint16) uint64 { return uint64(id)<<16 | uint64(seq) }

// enable starts timing into h (nil stops it).
func (r *reqTimes) enable(h *prometheus.HistogramVec) {
	r.hist.Store(h)
	r.obs.Clear()
}

// start notes the arrival of request seq of command cmd on connection id.
func (r *reqTimes) start(id netloop.ConnID, seq, cmd uint16) {
	if r.hist.Load() == nil || seq == 0 {
		return
	}
	sh := &r.shards[uint32(id)%reqShards]
	sh.mu.Lock()
	if sh.m == nil {
		sh.m = make(map[uint64]reqStart)
	}
	sh.m[reqKey(id, seq)] = reqStart{cmd: cmd, at: time.Now().UnixNano()}
	sh.mu.Unlock()
}

// done observes the request that frame f (written to connection id)
// answers, if one is pending.
func (r *reqTimes) done(id netloop.ConnID, f []byte) {
	h := r.hist.Load()
	if h == nil || len(f) < wire.HeaderLen {
		return
	}
	seq := wire.ParseHeader(f).Seq
	if seq == 0 {
		return
	}
	sh := &r.shards[uint32(id)%reqShards]
	sh.mu.Lock()
	st, ok := sh.m[reqKey(id, seq)]
	if ok {
		delete(sh.m, reqKey(id, seq))
	}
	sh.mu.Unlock()
	if !ok {
		return
	}
	o, found := r.obs.Load(st.cmd)
	if !found {
		o, _ = r.obs.LoadOrStore(st.cmd, h.WithLabelValues(pb.CommandName(st.cmd)))
	}
	o.(prometheus.Observer).Observe(float64(time.Now().UnixNano()-st.at) / 1e9)
}

// sweep forgets requests older than maxAge, counting them as unanswered.
func (r *reqTimes) sweep(now time.Time, maxAge time.Duration) {
	limit := now.Add(-maxAge).UnixNano()
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		for k, st := range sh.m {
			if st.at < limit {
				delete(sh.m, k)
				r.unanswered.Add(1)
			}
		}
		sh.mu.Unlock()
	}
}

// pending returns how many requests wait for their reply.
func (r *reqTimes) pending() int {
	n := 0
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// noReply are the client commands that get no reply: not timed.
func noReply(cmd uint16) bool {
	switch cmd {
	case pb.CmdMsgDataAck, pb.CmdMsgReadAck, pb.CmdSwitchP2pCmd, pb.CmdFileDelOfflineReq:
		return true
	}
	return false
}
