package appliance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"

	"teamtalk/appliance/config"
	"teamtalk/appliance/ctlapi"
	"teamtalk/state"
	"teamtalk/state/boltstore"
	"teamtalk/state/mysqlstore"
)

// NeedsStore reports whether a service enabled in cfg uses the IM store
// (dbproxy); only then does teamtalkd open it.
func NeedsStore(cfg *config.Config) bool {
	return slices.Contains(cfg.Enabled(), config.DBProxy)
}

// OpenStore opens the IM store that cfg.Store selects: im.db under the data
// directory (bolt), or the MySQL-compatible database of store.mysql.dsn, with
// max_conns as its pool size and create_schema allowing it to create
// TeamTalk's tables in an empty database. Errors name the database by
// RedactDSN, never with its password.
func OpenStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (state.Store, error) {
	switch cfg.Store.Backend {
	case "bolt":
		path := filepath.Join(cfg.DataDir, "im.db")
		s, err := boltstore.Open(path, boltstore.Options{Logger: log.With("svc", "store")})
		if err != nil {
			return nil, fmt.Errorf("open im store %s: %w", path, err)
		}
		return s, nil
	case "mysql":
		return openMySQL(ctx, cfg.Store.MySQL, cfg.Store.MySQL.CreateSchema, log)
	}
	return nil, fmt.Errorf("store.backend %q is not one of bolt, mysql", cfg.Store.Backend)
}

func openMySQL(ctx context.Context, m config.MySQL, create bool, log *slog.Logger) (*mysqlstore.Store, error) {
	where := RedactDSN(m.DSN)
	s, err := mysqlstore.Open(ctx, m.DSN, mysqlstore.Options{
		MaxOpenConns: m.MaxConns,
		Committers:   m.Committers,
		CreateSchema: create,
		Logger:       log.With("svc", "store"),
	})
	if err != nil {
		return nil, fmt.Errorf("open mysql store %s: %w", where, redactErr(err, m.DSN))
	}
	log.Info("mysql store open", "dsn", where, "max_conns", m.MaxConns, "committers", m.Committers)
	return s, nil
}

// InitDatabase creates TeamTalk's schema and the store's own tables in the
// database of cfg's store.mysql.dsn, skipping tables that exist (what
// `teamtalkd -init-db` runs). It never drops or alters anything. It returns
// the redacted DSN it worked on.
func InitDatabase(ctx context.Context, cfg *config.Config, log *slog.Logger) (string, error) {
	if cfg.Store.Backend != "mysql" {
		return "", fmt.Errorf("store.backend is %q: only a mysql store has a schema to create (bolt creates im.db by itself)", cfg.Store.Backend)
	}
	s, err := openMySQL(ctx, cfg.Store.MySQL, true, log)
	if err != nil {
		return "", err
	}
	defer s.Close()
	where := RedactDSN(cfg.Store.MySQL.DSN)
	if err := s.InitSchema(ctx); err != nil {
		return "", fmt.Errorf("init schema of %s: %w", where, err)
	}
	return where, nil
}

// schemaIniter is a store that can create its schema (mysqlstore).
type schemaIniter interface {
	InitSchema(ctx context.Context) error
}

// DBInit creates the missing tables of the IM store this teamtalkd holds
// (POST ctlapi.PathDBInit): idempotent on a complete schema.
func (s *Supervisor) DBInit(ctx context.Context) (ctlapi.DBInitResult, error) {
	st, err := s.imStore()
	if err != nil {
		return ctlapi.DBInitResult{}, err
	}
	cfg := s.config()
	res := ctlapi.DBInitResult{Backend: cfg.Store.Backend}
	si, ok := st.(schemaIniter)
	if !ok {
		res.Message = "the " + cfg.Store.Backend + " store needs no schema: nothing to do"
		return res, nil
	}
	res.Database = RedactDSN(cfg.Store.MySQL.DSN)
	if err := si.InitSchema(ctx); err != nil {
		if errors.Is(err, state.ErrClosed) {
			return res, ctlapi.Errorf(http.StatusServiceUnavailable, "init schema: %v", err)
		}
		return res, fmt.Errorf("appliance: init schema of %s: %w", res.Database, redactErr(err, cfg.Store.MySQL.DSN))
	}
	res.Message = "TeamTalk's tables and the store's own tables exist in " + res.Database
	return res, nil
}

// RedactDSN returns dsn in go-sql-driver's format with the password
// replaced by "xxx" (user@tcp(host:port)/db when it has none), for logs
// and errors. A DSN that does not parse is shown as "(unparsable DSN)".
func RedactDSN(dsn string) string {
	c, err := mysql.ParseDSN(dsn)
	if err != nil {
		return "(unparsable DSN)"
	}
	out := ""
	if c.User != "" {
		out = c.User
		if c.Passwd != "" {
			out += ":xxx"
		}
		out += "@"
	}
	return out + c.Net + "(" + c.Addr + ")/" + c.DBName
}

// redactErr keeps err's chain but, should its text contain the DSN's
// password, replaces it.
func redactErr(err error, dsn string) error {
	c, perr := mysql.ParseDSN(dsn)
	if perr != nil || c.Passwd == "" {
		return err
	}
	return redacted{err: err, pw: c.Passwd}
}

type redacted struct {
	err error
	pw  string
}

func (r redacted) Error() string { return strings.ReplaceAll(r.err.Error(), r.pw, "xxx") }
func (r redacted) Unwrap() error { return r.err }

// storeCollector reports the IM store's committer counters at scrape time:
// transactions, writes, failures and retries, and histograms of the writes
// per transaction and of the commit duration (from state.CommitStats, when
// the backend keeps them).
type storeCollector struct {
	st state.Store

	commits, writes, failed, retries, maxBatch *prometheus.Desc
	sizes, seconds                             *prometheus.Desc
}

func newStoreCollector(st state.Store) *storeCollector {
	l := []string{"backend"}
	return &storeCollector{
		st:       st,
		commits:  prometheus.NewDesc("teamtalkd_store_commits_total", "Write transactions of the IM store's committers (committed or failed).", l, nil),
		writes:   prometheus.NewDesc("teamtalkd_store_writes_total", "Writes carried by the committers' transactions.", l, nil),
		failed:   prometheus.NewDesc("teamtalkd_store_commit_failures_total", "Committer transactions that failed for good.", l, nil),
		retries:  prometheus.NewDesc("teamtalkd_store_commit_retries_total", "Committer transactions run again after a transient error (MySQL).", l, nil),
		maxBatch: prometheus.NewDesc("teamtalkd_store_commit_max_writes", "The most writes one transaction carried so far.", l, nil),
		sizes:    prometheus.NewDesc("teamtalkd_store_commit_writes", "Writes per committer transaction (group commit size).", l, nil),
		seconds:  prometheus.NewDesc("teamtalkd_store_commit_seconds", "Duration of a committer transaction, begin to durable commit.", l, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.commits, c.writes, c.failed, c.retries, c.maxBatch, c.sizes, c.seconds} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	var (
		backend                           string
		commits, writes, failed, maxBatch uint64
		retries                           *uint64
		snap                              *state.CommitSnapshot
	)
	switch st := c.st.(type) {
	case *boltstore.Store:
		s := st.Stats()
		backend, commits, writes, failed, maxBatch, snap = "bolt", s.Commits, s.Writes, s.Failed, s.MaxBatch, &s.Commit
	case *mysqlstore.Store:
		s := st.Stats()
		backend, commits, writes, failed, maxBatch, retries = "mysql", s.Commits, s.Writes, s.Failed, s.MaxBatch, &s.Retries
	default:
		return
	}
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), backend)
	}
	counter(c.commits, commits)
	counter(c.writes, writes)
	counter(c.failed, failed)
	if retries != nil {
		counter(c.retries, *retries)
	}
	ch <- prometheus.MustNewConstMetric(c.maxBatch, prometheus.GaugeValue, float64(maxBatch), backend)
	if snap == nil {
		return
	}
	ch <- prometheus.MustNewConstHistogram(c.sizes, snap.Transactions, float64(snap.Writes), cumulative(state.CommitSizeBounds(), snap.Sizes), backend)
	ch <- prometheus.MustNewConstHistogram(c.seconds, snap.Transactions, snap.Seconds, cumulative(state.CommitSecondsBounds(), snap.Durations), backend)
}

// cumulative turns per-bucket counts (one per bound, then the unbounded
// last) into Prometheus' cumulative buckets by upper bound.
func cumulative(bounds []float64, counts []uint64) map[float64]uint64 {
	m := make(map[float64]uint64, len(bounds))
	var sum uint64
	for i, b := range bounds {
		if i < len(counts) {
			sum += counts[i]
		}
		m[b] = sum
	}
	return m
}
