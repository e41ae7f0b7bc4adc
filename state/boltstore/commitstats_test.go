package boltstore

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"teamtalk/state"
)

// TestCommitStats: every committed transaction is in Stats().Commit, with
// its size and a duration.
func TestCommitStats(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "im.db"), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := range 5 {
		if _, err := s.CreateDepart(ctx, state.NewDepart{Name: fmt.Sprintf("d%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	st := s.Stats()
	c := st.Commit
	if c.Transactions != st.Commits || c.Writes != st.Writes || c.Writes < 5 || c.Seconds <= 0 {
		t.Errorf("commit stats %+v, counters %+v", c, st)
	}
	var sizes, durs uint64
	for _, v := range c.Sizes {
		sizes += v
	}
	for _, v := range c.Durations {
		durs += v
	}
	if sizes != c.Transactions || durs != c.Transactions {
		t.Errorf("buckets hold %d sizes and %d durations for %d transactions", sizes, durs, c.Transactions)
	}
}
