package dbproxy

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"teamtalk/appliance/config"
	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// BenchmarkMsgDataRoundTrip measures IMMsgData round trips through dbproxy
// (decode, ordered worker, durable group-committed save with fsync, reply)
// with 1 and 32 senders, each its own link and its own conversation, one
// request outstanding per sender as msg's clients would have.
func BenchmarkMsgDataRoundTrip(b *testing.B) {
	for _, senders := range []int{1, 32} {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) {
			f := newFixture(b, func(c *config.Config) { c.DBProxy.Workers = 16 }, durable)
			peers := make([]*peer, senders)
			for i := range peers {
				peers[i] = f.dial()
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, senders)
			b.ResetTimer()
			for i, p := range peers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					from, to := uint32(1000+2*i), uint32(1001+2*i)
					for seq := uint16(1); next.Add(1) <= int64(b.N); seq++ {
						fr, err := wire.Marshal(wire.NewHeader(pb.CmdMsgData, seq),
							textMsg(from, to, pb.MsgType_MSG_TYPE_SINGLE_TEXT, "benchmark message body, about sixty bytes of ciphertext"))
						if err != nil {
							errs <- err
							return
						}
						if _, err := p.conn.Write(fr); err != nil {
							errs <- err
							return
						}
						rep, err := p.readFrame(30e9)
						if err != nil {
							errs <- err
							return
						}
						if h := wire.ParseHeader(rep); h.Seq != seq {
							errs <- fmt.Errorf("seq %d, want %d", h.Seq, seq)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			if st := f.store.Stats(); st.Commits > 0 {
				b.ReportMetric(float64(st.Writes)/float64(st.Commits), "writes/commit")
			}
		})
	}
}
