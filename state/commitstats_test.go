package state

import (
	"testing"
	"time"
)

func TestCommitStats(t *testing.T) {
	tests := []struct {
		name     string
		n        int
		d        time.Duration
		sizeIdx  int
		durIdx   int
		wantSecs float64
	}{
		{"one write, fast", 1, 10 * time.Microsecond, 0, 0, 0.00001},
		{"on a bound", 4, time.Millisecond, 2, 4, 0.001},
		{"between bounds", 100, 3 * time.Millisecond, 7, 6, 0.003},
		{"over every bound", 5000, 10 * time.Second, numSizeBounds, numSecondsBounds, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c CommitStats
			c.Observe(tc.n, tc.d)
			s := c.Snapshot()
			if s.Transactions != 1 || s.Writes != uint64(tc.n) || s.Seconds != tc.wantSecs {
				t.Errorf("snapshot %+v", s)
			}
			if len(s.Sizes) != len(CommitSizeBounds())+1 || len(s.Durations) != len(CommitSecondsBounds())+1 {
				t.Fatalf("%d size and %d duration buckets", len(s.Sizes), len(s.Durations))
			}
			for i, v := range s.Sizes {
				if want := uint64(0); i == tc.sizeIdx && v != 1 || i != tc.sizeIdx && v != want {
					t.Errorf("size bucket %d = %d (want the write in %d)", i, v, tc.sizeIdx)
				}
			}
			for i, v := range s.Durations {
				if i == tc.durIdx && v != 1 || i != tc.durIdx && v != 0 {
					t.Errorf("duration bucket %d = %d (want the commit in %d)", i, v, tc.durIdx)
				}
			}
		})
	}
}
