package mysqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"teamtalk/state"
)

// Options tune a Store. The zero value gives the defaults.
type Options struct {
	// MaxOpenConns caps the connection pool (default 16). The committers
	// have a pool of their own besides, one connection each.
	MaxOpenConns int
	// MaxIdleConns is how many idle connections are kept (default
	// MaxOpenConns).
	MaxIdleConns int
	// ConnMaxLifetime recycles connections older than this (default 30
	// minutes; below a server's wait_timeout).
	ConnMaxLifetime time.Duration
	// DialTimeout, ReadTimeout and WriteTimeout bound connecting and each
	// network read/write (defaults 5 s, 30 s, 30 s) unless the DSN sets them.
	DialTimeout, ReadTimeout, WriteTimeout time.Duration
	// TxTimeout bounds one transaction, retries excluded (default 15 s).
	TxTimeout time.Duration
	// Committers is the number of message committers (default 4). A
	// conversation always goes to the same committer, so its ids and
	// order are decided in one place.
	Committers int
	// MaxBatch is the most messages one commit takes (default 128).
	MaxBatch int
	// QueueLen is each committer's queue capacity (default 4 × MaxBatch).
	QueueLen int
	// MaxRetries is how often a transaction that failed on a transient
	// error (deadlock 1213, lock wait timeout 1205, a connection that broke
	// before the commit was sent) is run again (default 5; negative: none).
	MaxRetries int
	// RetryBackoff is the first pause before a retry, doubled each time
	// (default 10 ms).
	RetryBackoff time.Duration
	// CreateSchema makes Open run InitSchema when TeamTalk's tables are
	// missing. Without it Open refuses such a database.
	CreateSchema bool
	// Now is the clock for the times the store stamps itself; nil means
	// time.Now.
	Now func() time.Time
	// Logger receives the store's rare log lines; nil discards them.
	Logger *slog.Logger
}

func (o *Options) defaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxOpenConns, 16)
	def(&o.MaxIdleConns, o.MaxOpenConns)
	defDur(&o.ConnMaxLifetime, 30*time.Minute)
	defDur(&o.DialTimeout, 5*time.Second)
	defDur(&o.ReadTimeout, 30*time.Second)
	defDur(&o.WriteTimeout, 30*time.Second)
	defDur(&o.TxTimeout, 15*time.Second)
	def(&o.Committers, 4)
	def(&o.MaxBatch, 128)
	def(&o.QueueLen, 4*o.MaxBatch)
	if o.MaxRetries == 0 {
		o.MaxRetries = 5
	}
	defDur(&o.RetryBackoff, 10*time.Millisecond)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Stats are the committers' counters, summed.
type Stats struct {
	Commits  uint64 // message transactions committed (or failed)
	Writes   uint64 // messages run through the committers
	MaxBatch uint64 // the largest batch seen
	Retries  uint64 // transactions run again after a transient error
	Failed   uint64 // transactions that failed for good
	// Fallbacks counts batches whose bulk write of one-to-one messages was
	// refused for a reason that is not transient (a counter row missing or
	// exhausted), so they ran again message by message.
	Fallbacks uint64
}

// Store is the MySQL state.Store. Create it with Open; Close it when done.
type Store struct {
	db *sql.DB
	// wdb is the committers' own pool (one connection each), whose
	// connections allow several statements in one round trip; db does not.
	wdb *sql.DB
	opt Options
	log *slog.Logger

	// base is the context of the committers' transactions; cancel ends
	// them (after Close drained the queues).
	base   context.Context
	cancel context.CancelFunc

	mu      sync.RWMutex // guards closed against sends on the queues
	closed  bool
	isClose atomic.Bool
	queues  []chan *request
	wg      sync.WaitGroup // the committers

	// rels caches committed relation ids (rows are never deleted); relMu
	// serializes their creation in this process, userMu user creation.
	relMu, userMu sync.Mutex
	relsMu        sync.RWMutex
	rels          map[[2]uint32]uint32

	batches                    state.BatchCounts
	retries, failed, fallbacks atomic.Uint64
}

// maxCachedRels bounds the relation cache; it is emptied when full.
const maxCachedRels = 1 << 20

// Isolation levels: message batches and most writes run at READ COMMITTED,
// which takes no gap locks, so committers working on different
// conversations do not deadlock on index gaps; writes that check that a
// row is absent before inserting it (user names, relations) run at
// REPEATABLE READ, whose gap locks keep two hosts from inserting the same
// row.
var (
	readCommitted  = &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	repeatableRead = &sql.TxOptions{Isolation: sql.LevelRepeatableRead}
)

var _ state.Store = (*Store)(nil)

// request is one message write waiting for a committer: either a
// validated one-to-one message (single, written in bulk with the batch's
// others) or a write of its own (fn, run behind a savepoint).
type request struct {
	ctx    context.Context
	fn     func(q *txq) error
	single *pendingSingle
	// finish gets the outcome, once, on the committer's goroutine.
	finish func(error)
}

// Open connects to the database named by dsn (go-sql-driver's format,
// "user:password@tcp(host:3306)/teamtalk"), creates this package's own
// tables if missing (and TeamTalk's, if opt.CreateSchema and they are
// missing), and starts the committers. The DSN's settings are kept, except
// that the store always uses utf8mb4, client-side placeholder interpolation
// (one round trip per statement), found-rows counts and strict SQL mode;
// the committers' connections also allow several statements per round trip.
func Open(ctx context.Context, dsn string, opt Options) (*Store, error) {
	opt.defaults()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: dsn: %w", err)
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Collation = "utf8mb4_general_ci"
	cfg.Params["sql_mode"] = "'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'"
	cfg.InterpolateParams = true
	cfg.ClientFoundRows = true
	cfg.MultiStatements = false
	cfg.ParseTime = false
	if cfg.Timeout == 0 {
		cfg.Timeout = opt.DialTimeout
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = opt.ReadTimeout
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = opt.WriteTimeout
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: dsn: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(opt.MaxOpenConns)
	db.SetMaxIdleConns(opt.MaxIdleConns)
	db.SetConnMaxLifetime(opt.ConnMaxLifetime)
	where := cfg.Addr + "/" + cfg.DBName
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("mysqlstore: connect %s: %w", where, err)
	}
	wdb, err := openWriterPool(ctx, db, cfg, opt)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("mysqlstore: %s: %w", where, err)
	}
	present, err := teamtalkTablesPresent(ctx, db)
	if err == nil && !present {
		if opt.CreateSchema {
			err = initSchema(ctx, db)
		} else {
			err = fmt.Errorf("mysqlstore: database %s lacks TeamTalk's tables (create them with `teamtalkd -init-db`, or allow it with store.mysql.create_schema = true)", where)
		}
	}
	if err == nil {
		err = ensureOwnTables(ctx, db)
	}
	if err != nil {
		db.Close()
		wdb.Close()
		return nil, err
	}
	s := &Store{db: db, wdb: wdb, opt: opt, log: opt.Logger, rels: map[[2]uint32]uint32{}}
	s.base, s.cancel = context.WithCancel(context.Background())
	s.queues = make([]chan *request, opt.Committers)
	for i := range s.queues {
		s.queues[i] = make(chan *request, opt.QueueLen)
		s.wg.Add(1)
		go s.commitLoop(s.queues[i])
	}
	return s, nil
}

// openWriterPool opens the committers' pool: connections that take several
// statements per round trip and run at READ COMMITTED from the start (set
// once per connection, so BEGIN is one round trip, not two).
func openWriterPool(ctx context.Context, db *sql.DB, cfg *mysql.Config, opt Options) (*sql.DB, error) {
	// MySQL 8 and MariaDB 11.1 name it transaction_isolation, older
	// servers only tx_isolation.
	isoVar := "transaction_isolation"
	var v string
	if err := db.QueryRowContext(ctx, `SELECT @@SESSION.transaction_isolation`).Scan(&v); err != nil {
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != 1193 { // unknown system variable
			return nil, fmt.Errorf("read isolation level: %w", err)
		}
		isoVar = "tx_isolation"
	}
	wcfg := cfg.Clone()
	wcfg.MultiStatements = true
	wcfg.Params[isoVar] = "'READ-COMMITTED'"
	wconn, err := mysql.NewConnector(wcfg)
	if err != nil {
		return nil, fmt.Errorf("dsn: %w", err)
	}
	wdb := sql.OpenDB(wconn)
	wdb.SetMaxOpenConns(opt.Committers)
	wdb.SetMaxIdleConns(opt.Committers)
	wdb.SetConnMaxLifetime(opt.ConnMaxLifetime)
	return wdb, nil
}

// DB returns the store's connection pool (for tools and tests).
func (s *Store) DB() *sql.DB { return s.db }

// Close stops accepting writes, lets the committers drain their queues, and
// closes the pool. It is safe to call more than once.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	s.isClose.Store(true)
	for _, q := range s.queues {
		close(q)
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.cancel()
	werr := s.wdb.Close()
	if err := errors.Join(s.db.Close(), werr); err != nil {
		return fmt.Errorf("mysqlstore: close: %w", err)
	}
	return nil
}

// Stats returns the committers' counters.
func (s *Store) Stats() Stats {
	return Stats{
		Commits: s.batches.Commits(), Writes: s.batches.Writes(), MaxBatch: s.batches.MaxBatch(),
		Retries: s.retries.Load(), Failed: s.failed.Load(), Fallbacks: s.fallbacks.Load(),
	}
}

func (s *Store) now() uint32 { return uint32(s.opt.Now().Unix()) }

// guard refuses calls on a closed store.
func (s *Store) guard() error {
	if s.isClose.Load() {
		return state.ErrClosed
	}
	return nil
}

// closedErr maps database/sql's "closed" error to state.ErrClosed.
func closedErr(err error) error {
	if err != nil && err.Error() == "sql: database is closed" {
		return fmt.Errorf("%w: %w", state.ErrClosed, err)
	}
	return err
}

// txq is a transaction with the context its statements run under.
type txq struct {
	ctx context.Context
	tx  *sql.Tx
}

func (q *txq) exec(query string, args ...any) (sql.Result, error) {
	return q.tx.ExecContext(q.ctx, query, args...)
}

// affected runs an exec and returns the rows it matched (found rows).
func (q *txq) affected(query string, args ...any) (int64, error) {
	res, err := q.exec(query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q *txq) queryRow(query string, args ...any) *sql.Row {
	return q.tx.QueryRowContext(q.ctx, query, args...)
}

func (q *txq) query(query string, args ...any) (*sql.Rows, error) {
	return q.tx.QueryContext(q.ctx, query, args...)
}

// transient reports whether err leaves the transaction uncommitted and is
// worth retrying: a deadlock (1213; also Galera's certification failure), a
// lock wait timeout (1205), or a connection that broke before anything was
// sent (driver.ErrBadConn).
func transient(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1213 || me.Number == 1205
	}
	return errors.Is(err, driver.ErrBadConn)
}

// brokenConn reports a connection lost mid-statement: inside a transaction
// (before the commit) nothing was committed, so a retry is safe.
func brokenConn(err error) bool {
	return errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, driver.ErrBadConn)
}

// errUnknownOutcome marks a commit whose connection broke after COMMIT was
// sent: the writes may or may not be durable. It is never retried.
var errUnknownOutcome = errors.New("mysqlstore: connection lost during commit, outcome unknown")

// backoff sleeps before retry n (0-based) unless ctx ends first.
func (s *Store) backoff(ctx context.Context, n int) error {
	d := s.opt.RetryBackoff << min(n, 10)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// txn runs fn in its own transaction and commits it, retrying the whole
// transaction on transient errors. fn may run more than once and must
// reset whatever it reports.
func (s *Store) txn(ctx context.Context, fn func(q *txq) error) error {
	return s.txnIso(ctx, readCommitted, fn)
}

// txnIso is txn at the given isolation level.
func (s *Store) txnIso(ctx context.Context, iso *sql.TxOptions, fn func(q *txq) error) error {
	if err := s.guard(); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		err := s.txnOnce(ctx, iso, fn)
		if err == nil {
			return nil
		}
		if !s.retryable(err) || attempt >= s.opt.MaxRetries || ctx.Err() != nil {
			return closedErr(err)
		}
		s.retries.Add(1)
		s.log.Debug("mysqlstore: retrying transaction", "attempt", attempt+1, "err", err)
		if berr := s.backoff(ctx, attempt); berr != nil {
			return err
		}
	}
}

func (s *Store) retryable(err error) bool {
	return !errors.Is(err, errUnknownOutcome) && (transient(err) || brokenConn(err))
}

func (s *Store) txnOnce(ctx context.Context, iso *sql.TxOptions, fn func(q *txq) error) error {
	tctx, cancel := context.WithTimeout(ctx, s.opt.TxTimeout)
	defer cancel()
	tx, err := s.db.BeginTx(tctx, iso)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(&txq{ctx: tctx, tx: tx}); err != nil {
		_ = tx.Rollback()
		return err
	}
	return commit(tx)
}

// commit commits tx, telling a lost connection after COMMIT was sent
// (unknown outcome) from errors that certainly left nothing committed.
func commit(tx *sql.Tx) error {
	err := tx.Commit()
	switch {
	case err == nil:
		return nil
	case transient(err):
		return fmt.Errorf("commit: %w", err)
	case brokenConn(err):
		return fmt.Errorf("%w: %w", errUnknownOutcome, err)
	}
	return fmt.Errorf("commit: %w", err)
}

// enqueue hands fn to the committer of key and waits for its transaction.
// fn runs inside a transaction shared with other messages, behind a
// savepoint: an error from fn undoes only fn's own statements. fn may run
// more than once (when the batch is retried) and must reset its outputs.
func (s *Store) enqueue(ctx context.Context, key uint64, fn func(q *txq) error) error {
	return s.wait(ctx, key, &request{ctx: ctx, fn: fn})
}

// wait queues req and waits for its outcome.
func (s *Store) wait(ctx context.Context, key uint64, req *request) error {
	done := make(chan error, 1)
	req.finish = func(err error) { done <- err }
	if err := s.submit(ctx, key, req); err != nil {
		return err
	}
	return <-done
}

// submit queues req (whose finish is set) on the committer of key. It
// blocks while that queue is full; an error means req was not queued and
// finish will not run.
func (s *Store) submit(ctx context.Context, key uint64, req *request) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return state.ErrClosed
	}
	q := s.queues[key%uint64(len(s.queues))]
	select {
	case q <- req:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	return nil
}

// commitLoop is one committer: it drains its queue into batches until the
// queue is closed and empty.
func (s *Store) commitLoop(queue chan *request) {
	defer s.wg.Done()
	batch := make([]*request, 0, s.opt.MaxBatch)
	for req := range queue {
		batch = append(batch[:0], req)
	drain:
		for len(batch) < s.opt.MaxBatch {
			select {
			case r, ok := <-queue:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		s.runBatch(batch)
		clear(batch)
	}
}

// runBatch commits a batch in one transaction, retrying it whole on
// transient errors, and answers every waiter after the commit returned.
func (s *Store) runBatch(batch []*request) {
	s.batches.Add(len(batch))
	results := make([]error, len(batch))
	var err error
	bulk := true
	for attempt := 0; ; attempt++ {
		clear(results)
		err = s.batchOnce(batch, results, bulk)
		if bulk && errors.Is(err, errBulk) {
			s.fallbacks.Add(1)
			s.log.Debug("mysqlstore: bulk write refused, writing the batch message by message", "messages", len(batch), "err", err)
			bulk = false
			attempt--
			continue
		}
		if err == nil || !s.retryable(err) || attempt >= s.opt.MaxRetries {
			break
		}
		s.retries.Add(1)
		s.log.Debug("mysqlstore: retrying message batch", "attempt", attempt+1, "messages", len(batch), "err", err)
		if s.backoff(s.base, attempt) != nil {
			break
		}
	}
	if err != nil {
		s.failed.Add(1)
		s.log.Error("mysqlstore: message batch failed", "messages", len(batch), "err", err)
		err = closedErr(fmt.Errorf("mysqlstore: message batch: %w", err))
		for i := range results {
			if results[i] == nil {
				results[i] = err
			}
		}
	}
	for i, r := range batch {
		s.finish(r, results[i])
	}
}

// batchOnce runs the batch in one transaction. With bulk, its one-to-one
// messages are written together (saveSingles) and only the other writes
// run behind savepoints; without it, every write runs behind its own. A
// request's own error is put in results (its savepoint rolled back); an
// error that spoils the transaction is returned (errBulk when the bulk
// write failed for a reason that is not transient).
func (s *Store) batchOnce(batch []*request, results []error, bulk bool) error {
	var singles []pendingSingle
	var rest []int // indexes of the requests run one by one
	for i, r := range batch {
		switch {
		case r.ctx.Err() != nil:
			results[i] = r.ctx.Err()
		case bulk && r.single != nil:
			singles = append(singles, *r.single)
		default:
			rest = append(rest, i)
		}
	}
	if len(singles) == 0 && len(rest) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(s.base, s.opt.TxTimeout)
	defer cancel()
	tx, err := s.wdb.BeginTx(ctx, nil) // READ COMMITTED: the session's level
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	q := &txq{ctx: ctx, tx: tx}
	if len(singles) > 0 {
		if err := saveSingles(q, singles); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	alone := len(singles) == 0 && len(rest) == 1 // no savepoint needed
	ran := len(singles)
	for _, i := range rest {
		r := batch[i]
		fn := r.fn
		if r.single != nil {
			p := r.single
			fn = func(q *txq) error { return saveSingle(q, p.rel, p.m) }
		}
		if !alone {
			if _, err := q.exec("SAVEPOINT m"); err != nil {
				_ = tx.Rollback()
				return fmt.Errorf("savepoint: %w", err)
			}
		}
		err := runFn(q, fn)
		if err == nil {
			ran++
			continue
		}
		if transient(err) || brokenConn(err) || alone {
			_ = tx.Rollback()
			if alone && !transient(err) && !brokenConn(err) {
				results[i] = err
				return nil
			}
			return err
		}
		results[i] = err
		if _, err := q.exec("ROLLBACK TO SAVEPOINT m"); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("rollback to savepoint: %w", err)
		}
	}
	if ran == 0 {
		_ = tx.Rollback()
		return nil
	}
	return commit(tx)
}

// finish hands a request its outcome; a panic in an asynchronous caller's
// callback is logged, and the committer goes on.
func (s *Store) finish(r *request, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("mysqlstore: panic in a save callback", "panic", p)
		}
	}()
	r.finish(err)
}

// runFn runs one write, turning a panic into an error (the committer must
// survive).
func runFn(q *txq, fn func(*txq) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("mysqlstore: panic in write: %v", p)
		}
	}()
	return fn(q)
}
