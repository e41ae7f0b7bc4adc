package boltstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"teamtalk/state"
)

// Options tune a Store. The zero value is a durable store with the defaults.
type Options struct {
	// MaxBatch is the most writes one transaction takes (default 1024).
	MaxBatch int
	// MaxWait, when positive, keeps a transaction open up to this long for
	// more writes when fewer than MaxBatch are queued. The default 0 commits
	// as soon as the queue is empty: writes that arrive during an fsync form
	// the next batch, which is group commit without added latency.
	MaxWait time.Duration
	// QueueLen is the capacity of the write queue (default 4 × MaxBatch).
	QueueLen int
	// NoSync skips fsync. For tests only: acknowledged writes may be lost.
	NoSync bool
	// Now is the clock for the times the store stamps itself (user and
	// session updates); nil means time.Now.
	Now func() time.Time
	// Logger receives the store's rare log lines; nil discards them.
	Logger *slog.Logger
}

// Stats are the committer's counters.
type Stats struct {
	Commits  uint64 // transactions committed (or failed)
	Writes   uint64 // write functions run
	MaxBatch uint64 // the largest batch seen
	Failed   uint64 // transactions whose Commit or Begin failed
	// Commit has the transactions by writes carried and by duration (begin
	// to the end of Commit, fsync included).
	Commit state.CommitSnapshot
}

// Store is the bbolt state.Store. Create it with Open; Close it when done.
type Store struct {
	db    *bolt.DB
	path  string
	opt   Options
	log   *slog.Logger
	queue chan *request

	mu     sync.RWMutex // guards closed against sends on queue
	closed bool
	// answers carries each committed batch from the committer to the
	// answerer, which runs its callbacks and wakes its waiters in commit
	// order while the committer goes on with the next transaction.
	answers chan answerBatch
	done    chan struct{} // closed when the committer and the answerer have exited

	batches     state.BatchCounts
	failed      atomic.Uint64
	commitStats state.CommitStats

	touched groupTouch // the committer's group session marks
}

var (
	_ state.Store            = (*Store)(nil)
	_ state.MessageTryQueuer = (*Store)(nil)
)

// answerBatch is a committed (or failed) batch and each write's result.
type answerBatch struct {
	reqs    []*request
	results []error
}

// request is one write waiting for the committer. Exactly one of done (a
// synchronous caller waiting) and cb (an asynchronous one) is set.
type request struct {
	ctx  context.Context
	fn   func(*wtx) error
	done chan error
	cb   func(error)
}

// Open opens (creating if needed) the store at path, runs any pending schema
// migrations and starts the committer.
func Open(path string, opt Options) (*Store, error) {
	if opt.MaxBatch <= 0 {
		opt.MaxBatch = 1024
	}
	if opt.QueueLen <= 0 {
		opt.QueueLen = 4 * opt.MaxBatch
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        time.Second,
		NoSync:         opt.NoSync,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	if err := migrate(db, migrations()); err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	s := &Store{
		db:      db,
		path:    path,
		opt:     opt,
		log:     log,
		queue:   make(chan *request, opt.QueueLen),
		answers: make(chan answerBatch, 4),
		done:    make(chan struct{}),
		touched: groupTouch{at: map[uint32]uint32{}},
	}
	go s.run()
	go s.answer()
	return s, nil
}

// Close stops accepting writes, lets the committer drain the queue, and
// closes the file. It is safe to call more than once.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return nil
	}
	s.closed = true
	close(s.queue)
	s.mu.Unlock()
	<-s.done
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("boltstore: close: %w", err)
	}
	return nil
}

// Stats returns the committer's counters.
func (s *Store) Stats() Stats {
	return Stats{
		Commits:  s.batches.Commits(),
		Writes:   s.batches.Writes(),
		MaxBatch: s.batches.MaxBatch(),
		Failed:   s.failed.Load(),
		Commit:   s.commitStats.Snapshot(),
	}
}

// Path returns the file the store lives in.
func (s *Store) Path() string { return s.path }

func (s *Store) now() uint32 { return uint32(s.opt.Now().Unix()) }

// update queues fn for the committer and waits until its transaction is
// durable (or failed). fn runs exactly once, inside a transaction shared with
// other writes. It must return an error only before it wrote anything; an
// error after a write aborts the whole batch. Once queued, the write is
// carried out unless ctx is already done when the committer reaches it, and
// update waits for the answer, so the caller always knows the outcome.
func (s *Store) update(ctx context.Context, fn func(*wtx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req := &request{ctx: ctx, fn: fn, done: make(chan error, 1)}
	if _, err := s.enqueue(req, true); err != nil {
		return err
	}
	return <-req.done
}

// enqueue hands req to the committer. While the queue is full it waits
// (until req.ctx is done) when wait is set, and reports false otherwise.
func (s *Store) enqueue(req *request, wait bool) (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return false, state.ErrClosed
	}
	if !wait {
		select {
		case s.queue <- req:
			return true, nil
		default:
			return false, nil
		}
	}
	select {
	case s.queue <- req:
		return true, nil
	case <-req.ctx.Done():
		return false, req.ctx.Err()
	}
}

// view runs fn in a read-only transaction.
func (s *Store) view(ctx context.Context, fn func(*rtx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.db.View(func(tx *bolt.Tx) error { return fn(&rtx{tx: tx}) })
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return state.ErrClosed
	}
	return err
}

// run is the committer: it owns the write side of the database until the
// queue is closed and drained.
func (s *Store) run() {
	defer close(s.answers)
	batch := make([]*request, 0, s.opt.MaxBatch)
	var timer *time.Timer
	for req := range s.queue {
		batch = append(batch[:0], req)
		open := true
	drain:
		for len(batch) < s.opt.MaxBatch {
			select {
			case r, ok := <-s.queue:
				if !ok {
					open = false
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		if open && s.opt.MaxWait > 0 && len(batch) < s.opt.MaxBatch {
			if timer == nil {
				timer = time.NewTimer(s.opt.MaxWait)
			} else {
				timer.Reset(s.opt.MaxWait)
			}
		wait:
			for len(batch) < s.opt.MaxBatch {
				select {
				case r, ok := <-s.queue:
					if !ok {
						break wait
					}
					batch = append(batch, r)
				case <-timer.C:
					break wait
				}
			}
			timer.Stop()
		}
		s.commit(batch)
		clear(batch)
	}
}

// commit runs a batch in one transaction and answers its waiters after
// Commit returned.
func (s *Store) commit(batch []*request) {
	s.batches.Add(len(batch))
	results := make([]error, len(batch))
	began := time.Now()
	failAll := func(err error) {
		s.failed.Add(1)
		for i := range results {
			if results[i] == nil {
				results[i] = err
			}
		}
	}
	tx, err := s.db.Begin(true)
	if err != nil {
		failAll(fmt.Errorf("boltstore: begin: %w", err))
	} else {
		w := &wtx{rtx: rtx{tx: tx}, touched: &s.touched}
		var abort error
		for i, r := range batch {
			if err := r.ctx.Err(); err != nil {
				results[i] = err
				continue
			}
			w.dirty = false
			err := runWrite(w, r.fn)
			if err == nil {
				continue
			}
			results[i] = err
			if w.dirty {
				abort = fmt.Errorf("boltstore: transaction aborted by a failed write: %w", err)
				break
			}
		}
		if abort != nil {
			_ = tx.Rollback()
			failAll(abort)
			s.log.Error("boltstore: write batch aborted", "writes", len(batch), "err", abort)
		} else if err := tx.Commit(); err != nil {
			failAll(fmt.Errorf("boltstore: commit: %w", err))
			s.log.Error("boltstore: commit failed", "writes", len(batch), "err", err)
		} else {
			w.committed()
		}
	}
	s.commitStats.Observe(len(batch), time.Since(began))
	s.answers <- answerBatch{reqs: slices.Clone(batch), results: results}
}

// answer runs the answerer: the callbacks and waiters of each batch, in
// commit order, off the committer (whose next transaction is under way
// meanwhile). It exits, closing done, after the committer has.
func (s *Store) answer() {
	defer close(s.done)
	for a := range s.answers {
		for i, r := range a.reqs {
			if r.cb != nil {
				s.callback(r.cb, a.results[i])
			} else {
				r.done <- a.results[i]
			}
		}
	}
}

// callback runs an asynchronous writer's completion; a panic there is
// logged, not allowed to stop the committer.
func (s *Store) callback(cb func(error), err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("boltstore: panic in a write callback", "panic", p)
		}
	}()
	cb(err)
}

// runWrite runs one write function, turning a panic into an error that
// aborts the batch (the committer must survive).
func runWrite(w *wtx, fn func(*wtx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			w.dirty = true
			err = fmt.Errorf("boltstore: panic in write: %v", p)
		}
	}()
	return fn(w)
}
