package mysqlstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"teamtalk/state"
	"teamtalk/state/mysqlstore/mariadbtest"
)

// BenchmarkSaveMessage measures durable one-to-one message saves per second
// (innodb_flush_log_at_trx_commit=1, the server default) with 1, 16 and 100
// concurrent savers, each on its own pair, and reports the average and
// largest commit batch.
func BenchmarkSaveMessage(b *testing.B) {
	mariadbtest.Require(b, srv)
	for _, bc := range []struct {
		savers int
		opt    Options
	}{
		{1, Options{}},
		{16, Options{}},
		{100, Options{}},
		{100, Options{Committers: 1}},
		{100, Options{Committers: 2}},
		{100, Options{Committers: 8}},
	} {
		committers := bc.opt.Committers
		if committers == 0 {
			committers = 4 // the default
		}
		name := fmt.Sprintf("savers=%d/committers=%d", bc.savers, committers)
		b.Run(name, func(b *testing.B) {
			dsn := srv.CreateDatabase(b)
			s, err := Open(context.Background(), dsn, Options{CreateSchema: true, Committers: bc.opt.Committers})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			content := make([]byte, 120)
			for i := range content {
				content[i] = 'a' + byte(i%26)
			}
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
			b.ReportMetric(float64(st.Retries), "retries")
			if st.Fallbacks != 0 {
				b.Errorf("%d batches fell back to message-by-message writes", st.Fallbacks)
			}
		})
	}
}
