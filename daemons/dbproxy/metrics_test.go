package dbproxy

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// TestRequestLatencyMetric: every answered request lands in its command's
// request_seconds series, asynchronous message saves included.
func TestRequestLatencyMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newFixture(t, func(s *Service) { s.d.Metrics = reg })
	f.seed()
	p := f.dial()
	const n = 3
	for i := range n {
		fr, err := wire.Marshal(wire.NewHeader(pb.CmdMsgData, uint16(i)), textMsg(1, 2, pb.MsgType_MSG_TYPE_SINGLE_TEXT, "m"))
		if err != nil {
			t.Fatal(err)
		}
		p.writeRaw(fr)
		if _, err := p.readFrame(10 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	count := func(command string) uint64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "teamtalk_dbproxy_request_seconds" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "command" && l.GetValue() == command {
						return m.GetHistogram().GetSampleCount()
					}
				}
			}
		}
		return 0
	}
	// The reply is written just before the sample is taken.
	deadline := time.Now().Add(10 * time.Second)
	for count("IMMsgData") < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := count("IMMsgData"); got != n {
		t.Fatalf("IMMsgData samples = %d, want %d", got, n)
	}
}
