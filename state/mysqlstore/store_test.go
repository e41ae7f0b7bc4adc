package mysqlstore

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"

	"teamtalk/state"
	"teamtalk/state/mysqlstore/mariadbtest"
	"teamtalk/state/storetest"
)

// srv is the package's private MariaDB, started once by TestMain.
var srv *mariadbtest.Server

func TestMain(m *testing.M) { os.Exit(mariadbtest.Main(m, &srv)) }

// newDB returns the DSN of a fresh database with TeamTalk's schema.
func newDB(t *testing.T) string {
	t.Helper()
	mariadbtest.Require(t, srv)
	dsn := srv.CreateDatabase(t)
	s, err := Open(t.Context(), dsn, Options{CreateSchema: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dsn
}

func open(t *testing.T, dsn string, opt Options) *Store {
	t.Helper()
	s, err := Open(t.Context(), dsn, opt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// opener returns storetest's open function: one database per subtest,
// kept across reopens of the same subtest.
func opener(opt Options) func(t *testing.T) state.Store {
	var mu sync.Mutex
	dsns := map[string]string{}
	return func(t *testing.T) state.Store {
		mu.Lock()
		dsn, ok := dsns[t.Name()]
		mu.Unlock()
		if !ok {
			dsn = newDB(t)
			mu.Lock()
			dsns[t.Name()] = dsn
			mu.Unlock()
		}
		return open(t, dsn, opt)
	}
}

func TestConformance(t *testing.T) {
	mariadbtest.Require(t, srv)
	tests := []struct {
		name string
		opt  Options
	}{
		{"defaults", Options{}},
		{"one committer small batches", Options{Committers: 1, MaxBatch: 3, QueueLen: 1, MaxOpenConns: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { storetest.Run(t, opener(tt.opt)) })
	}
}

func TestOpenRefusesMissingSchema(t *testing.T) {
	mariadbtest.Require(t, srv)
	dsn := srv.CreateDatabase(t)
	if s, err := Open(t.Context(), dsn, Options{}); err == nil {
		s.Close()
		t.Fatal("Open accepted a database without TeamTalk's tables")
	}
	s := open(t, dsn, Options{CreateSchema: true})
	defer s.Close()
	// InitSchema again is a no-op on a complete schema.
	if err := s.InitSchema(t.Context()); err != nil {
		t.Fatalf("second InitSchema: %v", err)
	}
	var n int
	if err := s.DB().QueryRowContext(t.Context(), `SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	// 10 TeamTalk tables, 16 shards, 8 of our own.
	if n != 10+2*Shards+8 {
		t.Fatalf("%d tables after InitSchema", n)
	}
}

func TestBadDSN(t *testing.T) {
	tests := []struct{ name, dsn string }{
		{"not a dsn", "::::"},
		{"nothing listens", "root@tcp(127.0.0.1:1)/teamtalk?timeout=1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := Open(context.Background(), tt.dsn, Options{}); err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
		})
	}
}

func TestClosedStoreRefusesWrites(t *testing.T) {
	s := open(t, newDB(t), Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := s.CreateUser(t.Context(), state.NewUser{Name: "x", Password: "y"})
	if !errors.Is(err, state.ErrClosed) {
		t.Fatalf("CreateUser after Close: %v", err)
	}
}
