package main

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// subBits is log2 of the sub-buckets per power of two: 16 sub-buckets keep
// every reported quantile within 1/16 (6.25%) above the true value.
const subBits = 4

const (
	subBuckets = 1 << subBits
	// numBuckets covers every uint64: 16 exact buckets for 0..15, then 16 per
	// power of two up to 2^64.
	numBuckets = (64-subBits)*subBuckets + subBuckets
)

// Hist is a log-bucket latency histogram (HDR style, 16 linear sub-buckets
// per power of two of nanoseconds). Record is lock-free and safe for
// concurrent use; memory is fixed (about 8 KB) whatever the count.
type Hist struct {
	buckets [numBuckets]atomic.Uint64
	count   atomic.Uint64
	sum     atomic.Uint64
	max     atomic.Uint64
}

// bucketOf returns the bucket index of v.
func bucketOf(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	e := bits.Len64(v) - subBits - 1
	return (e+1)*subBuckets + int((v>>uint(e))&(subBuckets-1))
}

// bucketUpper returns the largest value that falls in bucket i.
func bucketUpper(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	e := i/subBuckets - 1
	m := uint64(i % subBuckets)
	lower := (subBuckets + m) << uint(e)
	return lower + (uint64(1) << uint(e)) - 1
}

// Record adds one observation; negative durations count as 0.
func (h *Hist) Record(d time.Duration) {
	v := uint64(0)
	if d > 0 {
		v = uint64(d)
	}
	h.buckets[bucketOf(v)].Add(1)
	h.count.Add(1)
	h.sum.Add(v)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			break
		}
	}
}

// Count returns the number of observations.
func (h *Hist) Count() uint64 { return h.count.Load() }

// Max returns the largest observation.
func (h *Hist) Max() time.Duration { return time.Duration(h.max.Load()) }

// Mean returns the mean observation (0 when empty).
func (h *Hist) Mean() time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / n)
}

// Quantile returns the q-quantile (0 < q <= 1): the upper bound of the
// bucket holding the observation of rank ceil(q*count), never above Max.
// It is 0 when the histogram is empty.
func (h *Hist) Quantile(q float64) time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i := range h.buckets {
		seen += h.buckets[i].Load()
		if seen >= rank {
			u := bucketUpper(i)
			if m := h.max.Load(); u > m {
				u = m
			}
			return time.Duration(u)
		}
	}
	return h.Max()
}

// Latency is the summary of a Hist in milliseconds, as the report prints it.
type Latency struct {
	Count uint64  `json:"count"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
}

// Summary returns the quantiles of h in milliseconds.
func (h *Hist) Summary() Latency {
	ms := func(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }
	return Latency{
		Count: h.Count(),
		Mean:  ms(h.Mean()),
		P50:   ms(h.Quantile(0.50)),
		P90:   ms(h.Quantile(0.90)),
		P99:   ms(h.Quantile(0.99)),
		P999:  ms(h.Quantile(0.999)),
		Max:   ms(h.Max()),
	}
}
