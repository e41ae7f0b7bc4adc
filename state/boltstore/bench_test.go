package boltstore

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"teamtalk/state"
	"teamtalk/state/storetest"
)

// BenchmarkSaveMessage measures durable (fsync) message saves per second with
// 1, 16 and 100 concurrent savers, and reports the average and largest commit
// batch. Each saver writes to its own pair, as distinct conversations do.
func BenchmarkSaveMessage(b *testing.B) {
	for _, bc := range []struct {
		savers int
		opt    Options
	}{
		{1, Options{}},
		{16, Options{}},
		{100, Options{}},
		{100, Options{MaxWait: 200_000}}, // 200µs
	} {
		name := fmt.Sprintf("savers=%d", bc.savers)
		if bc.opt.MaxWait > 0 {
			name += fmt.Sprintf("/maxwait=%s", bc.opt.MaxWait)
		}
		b.Run(name, func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "im.db"), bc.opt)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			content := make([]byte, 120)
			storetest.SaveConcurrently(b, s, bc.savers, content)
			st := s.Stats()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			b.ReportMetric(float64(st.Writes)/float64(max(st.Commits, 1)), "writes/commit")
			b.ReportMetric(float64(st.MaxBatch), "max-batch")
		})
	}
}

// BenchmarkSaveMessageAsync measures durable saves with many messages in
// flight through SaveMessageAsync (as dbproxy queues them), for a few batch
// limits: at most inflight saves are queued at any time, over 100
// conversations.
func BenchmarkSaveMessageAsync(b *testing.B) {
	for _, bc := range []struct {
		inflight, maxBatch int
	}{
		{1000, 256},
		{1000, 1024},
		{1000, 4096},
	} {
		b.Run(fmt.Sprintf("inflight=%d/maxbatch=%d", bc.inflight, bc.maxBatch), func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "im.db"), Options{MaxBatch: bc.maxBatch})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			content := make([]byte, 120)
			slots := make(chan struct{}, bc.inflight)
			var wg sync.WaitGroup
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				slots <- struct{}{}
				wg.Add(1)
				from := uint32(2*(i%100) + 1)
				s.SaveMessageAsync(context.Background(), state.NewMessage{From: from, To: from + 1, Type: state.MsgSingleText, Content: content},
					func(_ state.Message, err error) {
						if err != nil {
							b.Error(err)
						}
						<-slots
						wg.Done()
					})
			}
			wg.Wait()
			b.StopTimer()
			st := s.Stats()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			b.ReportMetric(float64(st.Writes)/float64(max(st.Commits, 1)), "writes/commit")
		})
	}
}
