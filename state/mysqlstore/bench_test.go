package mysqlstore

import (
	"context"
	"fmt"
	"testing"

	"teamtalk/state/mysqlstore/mariadbtest"
	"teamtalk/state/storetest"
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
			storetest.SaveConcurrently(b, s, bc.savers, content)
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
