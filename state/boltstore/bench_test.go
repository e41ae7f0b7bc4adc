package boltstore

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"teamtalk/state"
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
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ReportAllocs()
			b.ResetTimer()
			for w := range bc.savers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					from, to := uint32(2*w+1), uint32(2*w+2)
					for next.Add(1) <= int64(b.N) {
						if _, err := s.SaveMessage(context.Background(), state.NewMessage{From: from, To: to, Type: state.MsgSingleText, Content: content}); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			st := s.Stats()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			b.ReportMetric(float64(st.Writes)/float64(max(st.Commits, 1)), "writes/commit")
			b.ReportMetric(float64(st.MaxBatch), "max-batch")
		})
	}
}
