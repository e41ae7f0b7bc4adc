package mariadbtest

import (
	"database/sql"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// TestRestart starts a private server, writes a row, kills and restarts
// the server, and reads the row back at the same address.
func TestRestart(t *testing.T) {
	if _, _, err := Binaries(); err != nil {
		Require(t, nil)
	}
	s, err := Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop) // after the database's drop
	dsn := s.CreateDatabase(t)
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE t (v INT) ENGINE=InnoDB"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO t VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr
	if err := s.Restart(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if s.Addr != addr {
		t.Fatalf("restarted at %s, want %s", s.Addr, addr)
	}
	var v int
	if err := db.QueryRow("SELECT v FROM t").Scan(&v); err != nil || v != 42 {
		t.Fatalf("after restart: %d, %v", v, err)
	}
}
