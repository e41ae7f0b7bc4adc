package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestBucketsContiguous(t *testing.T) {
	// Every bucket's upper bound + 1 starts the next bucket, and bucketOf
	// maps both ends of each bucket back to it.
	for i := 0; i < numBuckets-1; i++ {
		u := bucketUpper(i)
		if got := bucketOf(u); got != i {
			t.Fatalf("bucketOf(upper(%d)=%d) = %d", i, u, got)
		}
		if got := bucketOf(u + 1); got != i+1 {
			t.Fatalf("bucketOf(upper(%d)+1=%d) = %d, want %d", i, u+1, got, i+1)
		}
	}
	if got := bucketOf(math.MaxUint64); got != numBuckets-1 {
		t.Fatalf("bucketOf(max) = %d, want %d", got, numBuckets-1)
	}
}

func TestHistQuantiles(t *testing.T) {
	tests := []struct {
		name string
		vals func() []time.Duration
	}{
		{"empty", func() []time.Duration { return nil }},
		{"one", func() []time.Duration { return []time.Duration{1234 * time.Microsecond} }},
		{"small exact", func() []time.Duration { return []time.Duration{0, 1, 2, 3, 15, -5} }},
		{"uniform 1..10000us", func() []time.Duration {
			var v []time.Duration
			for i := 1; i <= 10000; i++ {
				v = append(v, time.Duration(i)*time.Microsecond)
			}
			return v
		}},
		{"lognormal", func() []time.Duration {
			r := rand.New(rand.NewPCG(1, 2))
			var v []time.Duration
			for range 50000 {
				v = append(v, time.Duration(math.Exp(r.NormFloat64()*1.5+13)))
			}
			return v
		}},
		{"outlier", func() []time.Duration {
			v := make([]time.Duration, 999, 1000)
			for i := range v {
				v[i] = time.Millisecond
			}
			return append(v, 3*time.Second)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h Hist
			vals := tc.vals()
			for _, v := range vals {
				h.Record(v)
			}
			if h.Count() != uint64(len(vals)) {
				t.Fatalf("count %d, want %d", h.Count(), len(vals))
			}
			if len(vals) == 0 {
				if h.Quantile(0.99) != 0 || h.Max() != 0 {
					t.Fatalf("empty histogram: p99 %v max %v", h.Quantile(0.99), h.Max())
				}
				return
			}
			sorted := slices.Clone(vals)
			for i, v := range sorted {
				sorted[i] = max(v, 0)
			}
			slices.Sort(sorted)
			if h.Max() != sorted[len(sorted)-1] {
				t.Fatalf("max %v, want %v", h.Max(), sorted[len(sorted)-1])
			}
			for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
				rank := int(math.Ceil(q * float64(len(sorted))))
				want := sorted[max(rank, 1)-1]
				got := h.Quantile(q)
				// The bucket's upper bound is at most 1/16 above any value in it.
				if got < want || float64(got) > float64(want)*(1+1.0/subBuckets)+1 {
					t.Errorf("q%v = %v, true %v (allowed up to +6.25%%)", q, got, want)
				}
			}
		})
	}
}

func TestHistConcurrent(t *testing.T) {
	var h Hist
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				h.Record(time.Duration(g*1000+i) * time.Microsecond)
			}
		}()
	}
	wg.Wait()
	if h.Count() != 8000 {
		t.Fatalf("count %d", h.Count())
	}
	if h.Max() != 7999*time.Microsecond {
		t.Fatalf("max %v", h.Max())
	}
}

func BenchmarkHistRecord(b *testing.B) {
	var h Hist
	b.RunParallel(func(pb *testing.PB) {
		d := time.Duration(1)
		for pb.Next() {
			h.Record(d)
			d = d*7 + 13
			if d > time.Second {
				d = 1
			}
		}
	})
}
