package state

import (
	"sync/atomic"
	"time"
)

const (
	numSizeBounds    = 12
	numSecondsBounds = 15
)

// sizeBounds are the upper bounds (writes per transaction) of the buckets
// of CommitStats' sizes; a last, unbounded bucket follows.
func sizeBounds() [numSizeBounds]float64 {
	return [numSizeBounds]float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096}
}

// secondsBounds are the upper bounds (seconds) of the buckets of
// CommitStats' durations, 50 µs to 2.5 s; a last, unbounded bucket follows.
func secondsBounds() [numSecondsBounds]float64 {
	return [numSecondsBounds]float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}
}

// CommitSizeBounds returns the upper bounds of the commit size buckets
// (writes per transaction).
func CommitSizeBounds() []float64 { b := sizeBounds(); return b[:] }

// CommitSecondsBounds returns the upper bounds of the commit duration
// buckets (seconds).
func CommitSecondsBounds() []float64 { b := secondsBounds(); return b[:] }

// CommitStats counts a store committer's transactions: how many writes each
// carried and how long it took (begin to durable commit), in fixed buckets.
// Observe is lock-free (atomic adds only), so a committer can call it on
// every batch; the zero value is ready. Prometheus collectors read it with
// Snapshot.
type CommitStats struct {
	count  atomic.Uint64
	writes atomic.Uint64
	nanos  atomic.Uint64
	sizes  [numSizeBounds + 1]atomic.Uint64
	durs   [numSecondsBounds + 1]atomic.Uint64
}

// Observe records one transaction of n writes that took d.
func (c *CommitStats) Observe(n int, d time.Duration) {
	c.count.Add(1)
	c.writes.Add(uint64(n))
	if d > 0 {
		c.nanos.Add(uint64(d))
	}
	sb, db := sizeBounds(), secondsBounds()
	c.sizes[bucket(sb[:], float64(n))].Add(1)
	c.durs[bucket(db[:], d.Seconds())].Add(1)
}

// bucket returns the index of the first bound v does not exceed
// (len(bounds) when it exceeds them all).
func bucket(bounds []float64, v float64) int {
	for i, b := range bounds {
		if v <= b {
			return i
		}
	}
	return len(bounds)
}

// CommitSnapshot is a copy of CommitStats' counters. The bucket slices hold
// per-bucket (not cumulative) counts, one per bound of CommitSizeBounds /
// CommitSecondsBounds plus the unbounded last.
type CommitSnapshot struct {
	Transactions uint64   // transactions observed
	Writes       uint64   // writes they carried
	Seconds      float64  // their summed duration
	Sizes        []uint64 // transactions by writes carried
	Durations    []uint64 // transactions by duration
}

// Snapshot copies the counters. Concurrent Observes may make the buckets
// and the totals differ by the transactions in flight.
func (c *CommitStats) Snapshot() CommitSnapshot {
	s := CommitSnapshot{
		Transactions: c.count.Load(),
		Writes:       c.writes.Load(),
		Seconds:      float64(c.nanos.Load()) / 1e9,
		Sizes:        make([]uint64, len(c.sizes)),
		Durations:    make([]uint64, len(c.durs)),
	}
	for i := range c.sizes {
		s.Sizes[i] = c.sizes[i].Load()
	}
	for i := range c.durs {
		s.Durations[i] = c.durs[i].Load()
	}
	return s
}

// BatchCounts counts a committer's batches: how many, the writes they
// carried, and the largest. Add is lock-free; the zero value is ready.
type BatchCounts struct {
	commits, writes, maxBatch atomic.Uint64
}

// Add records one batch of n writes.
func (b *BatchCounts) Add(n int) {
	u := uint64(n)
	b.commits.Add(1)
	b.writes.Add(u)
	for {
		m := b.maxBatch.Load()
		if u <= m || b.maxBatch.CompareAndSwap(m, u) {
			return
		}
	}
}

// Commits returns how many batches were recorded.
func (b *BatchCounts) Commits() uint64 { return b.commits.Load() }

// Writes returns the writes the batches carried.
func (b *BatchCounts) Writes() uint64 { return b.writes.Load() }

// MaxBatch returns the largest batch's writes.
func (b *BatchCounts) MaxBatch() uint64 { return b.maxBatch.Load() }
