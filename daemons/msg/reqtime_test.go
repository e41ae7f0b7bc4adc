package msg

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"teamtalk/netloop"
	"teamtalk/wire"
	"teamtalk/wire/pb"
)

func TestReqTimes(t *testing.T) {
	reply := func(cmd, seq uint16) []byte {
		f := make([]byte, wire.HeaderLen)
		wire.NewHeader(cmd, seq).Put(f)
		return f
	}
	tests := []struct {
		name         string
		startSeq     uint16
		replyID      uint32
		replySeq     uint16
		wantObserved int
		wantPending  int
	}{
		{"answered", 7, 1, 7, 1, 0},
		{"another seq", 7, 1, 8, 0, 1},
		{"another connection", 7, 2, 7, 0, 1},
		{"unsolicited seq 0 is not a request", 0, 1, 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "request_seconds"}, []string{"command"})
			var r reqTimes
			r.start(1, 5, pb.CmdMsgTimeRequest) // before enable: not timed
			r.enable(h)
			r.start(1, tc.startSeq, pb.CmdMsgTimeRequest)
			r.done(1, reply(pb.CmdMsgTimeResponse, 5))
			r.done(netloop.ConnID(tc.replyID), reply(pb.CmdMsgTimeResponse, tc.replySeq))
			if n := seriesOf(h); n != tc.wantObserved {
				t.Errorf("%d series, want %d", n, tc.wantObserved)
			}
			if tc.wantObserved > 0 {
				var m dto.Metric
				if err := h.WithLabelValues(pb.CommandName(pb.CmdMsgTimeRequest)).(prometheus.Metric).Write(&m); err != nil {
					t.Fatal(err)
				}
				if c := m.GetHistogram().GetSampleCount(); c != 1 || m.GetHistogram().GetSampleSum() < 0 {
					t.Errorf("%s observed %d times (sum %v), want 1", pb.CommandName(pb.CmdMsgTimeRequest), c, m.GetHistogram().GetSampleSum())
				}
			}
			if p := r.pending(); p != tc.wantPending {
				t.Errorf("pending %d, want %d", p, tc.wantPending)
			}
			r.sweep(time.Now().Add(2*reqMaxAge), reqMaxAge)
			if r.pending() != 0 || r.unanswered.Load() != uint64(tc.wantPending) {
				t.Errorf("after sweep: pending %d unanswered %d", r.pending(), r.unanswered.Load())
			}
		})
	}
}

// seriesOf counts the series c collects.
func seriesOf(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 16)
	go func() { c.Collect(ch); close(ch) }()
	n := 0
	for range ch {
		n++
	}
	return n
}
