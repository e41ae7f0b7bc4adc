package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"teamtalk/appliance/ctlapi"
	"teamtalk/state/mysqlstore/mariadbtest"
)

// mariadb is the private MariaDB server of this package's MySQL tests,
// started by the first test that asks for a database and stopped by
// TestMain (stopMariaDB), so runs without MySQL tests pay nothing.
var mariadb struct {
	once sync.Once
	dir  string
	srv  *mariadbtest.Server
	err  error
}

// mysqlDatabase returns the DSN of a fresh, empty database on the private
// server (dropped when t ends). Without mariadbd the test skips, naming what
// to install; under CI=true it fails.
func mysqlDatabase(t *testing.T) string {
	t.Helper()
	if _, _, err := mariadbtest.Binaries(); err != nil {
		mariadbtest.Require(t, nil)
	}
	mariadb.once.Do(func() {
		mariadb.dir, mariadb.err = os.MkdirTemp("", "teamtalk-e2e-mariadb")
		if mariadb.err == nil {
			mariadb.srv, mariadb.err = mariadbtest.Start(mariadb.dir)
		}
	})
	if mariadb.err != nil {
		t.Fatalf("start mariadbd: %v", mariadb.err)
	}
	return mariadb.srv.CreateDatabase(t)
}

// stopMariaDB stops the private server if a test started it.
func stopMariaDB() {
	if mariadb.srv != nil {
		mariadb.srv.Stop()
	}
	if mariadb.dir != "" {
		os.RemoveAll(mariadb.dir)
	}
}

// withPassword returns dsn with a password set (the private server skips
// grant checks, so any password logs in), to check that it never shows.
func withPassword(t *testing.T, dsn, pw string) string {
	t.Helper()
	c, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	c.Passwd = pw
	return c.FormatDSN()
}

// storeArgs are the -set flags that put an appliance's IM store on dsn.
func storeArgs(dsn string, createSchema bool) []string {
	return []string{
		"-set", "store.backend=mysql",
		"-set", fmt.Sprintf("store.mysql.dsn=%q", dsn),
		"-set", fmt.Sprintf("store.mysql.create_schema=%v", createSchema),
	}
}

// mysqlBackend is a fresh database that A creates the schema in on its
// first start, with the users created through A's control API.
func mysqlBackend(t *testing.T) backend {
	dsn := mysqlDatabase(t)
	return backend{args: storeArgs(dsn, true), postseed: seedCtl}
}

// seedCtl creates, through the control API of a (what `ttctl user add`
// does), what seed writes into im.db: department "dev", alice, bob, carol
// (password 123456) and user1..userN, in that order (ids 1, 2, 3, ...).
func seedCtl(t *testing.T, a *appliance, extra int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := a.ctl.AddDepart(ctx, ctlapi.DepartAdd{Name: "dev"}); err != nil {
		t.Fatalf("seed: depart: %v", err)
	}
	names := []string{"alice", "bob", "carol"}
	for i := 1; i <= extra; i++ {
		names = append(names, fmt.Sprintf("user%d", i))
	}
	for i, n := range names {
		u, err := a.ctl.AddUser(ctx, ctlapi.UserAdd{Name: n, Password: "123456", Nick: strings.ToUpper(n[:1]) + n[1:], Depart: "dev"})
		if err != nil {
			t.Fatalf("seed: user %s: %v", n, err)
		}
		if u.ID != uint32(i+1) {
			t.Fatalf("seed: user %s got id %d, want %d", n, u.ID, i+1)
		}
		sign := "hi from " + n
		if _, err := a.ctl.SetUser(ctx, n, ctlapi.UserSet{SignInfo: &sign}); err != nil {
			t.Fatalf("seed: sign info of %s: %v", n, err)
		}
	}
}

// TestEndToEndMySQL runs TestEndToEnd's scenarios with A's IM store on
// MariaDB (TeamTalk's schema, created by A's first start).
func TestEndToEndMySQL(t *testing.T) {
	endToEnd(t, mysqlBackend(t))
}

// teamtalkd runs the binary to completion and returns its exit code and
// combined output.
func teamtalkd(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bins, "teamtalkd"), args...)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET=")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("teamtalkd %v: no exit within 90 s\n%s", args, out)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, string(out)
}

// TestMySQLStartRefusals checks that teamtalkd refuses, naming the database
// without its password, a MySQL store it cannot use, and that -init-db
// makes an empty database usable.
func TestMySQLStartRefusals(t *testing.T) {
	const pw = "Pa55-not-shown"
	empty := withPassword(t, mysqlDatabase(t), pw)
	unreachable := "tt:" + pw + "@tcp(" + closedAddr(t) + ")/teamtalk?timeout=2s"
	redacted := func(dsn string) string {
		c, _ := mysql.ParseDSN(dsn)
		return c.User + ":xxx@tcp(" + c.Addr + ")/" + c.DBName
	}
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{name: "unreachable", args: storeArgs(unreachable, true), code: 1,
			want: []string{redacted(unreachable), "connect"}},
		{name: "empty database without create_schema", args: storeArgs(empty, false), code: 1,
			want: []string{redacted(empty), "lacks TeamTalk's tables", "teamtalkd -init-db"}},
		{name: "init-db unreachable", args: append(storeArgs(unreachable, false), "-init-db"), code: 1,
			want: []string{redacted(unreachable)}},
		{name: "init-db creates the schema", args: append(storeArgs(empty, false), "-init-db"), code: 0,
			want: []string{"TeamTalk schema ready in " + redacted(empty)}},
		{name: "init-db again is harmless", args: append(storeArgs(empty, false), "-init-db"), code: 0,
			want: []string{"TeamTalk schema ready"}},
		{name: "bolt has no schema to init", args: []string{"-init-db"}, code: 1,
			want: []string{"only a mysql store"}},
		{name: "mysql without dsn", args: []string{"-set", "store.backend=mysql", "-check-config"}, code: 1,
			want: []string{"store.mysql.dsn"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string{"-data", dir, "-socket", filepath.Join(dir, "s.sock")}, fastArgs()...)
			code, out := teamtalkd(t, append(args, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", code, tc.code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, pw) {
				t.Errorf("the password shows:\n%s", out)
			}
		})
	}
	// After -init-db the empty database serves; `ttctl db init` on the
	// running appliance is harmless and names the database.
	dir := t.TempDir()
	a := start(t, "A", dir, storeArgs(empty, false)...)
	out, err := exec.Command(filepath.Join(bins, "ttctl"), "-socket", filepath.Join(dir, "teamtalkd.sock"), "db", "init").CombinedOutput()
	if err != nil || !strings.Contains(string(out), redacted(empty)) || strings.Contains(string(out), pw) {
		t.Fatalf("ttctl db init: %v: %s", err, out)
	}
	a.stop()
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	c, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := c.Addr().String()
	c.Close()
	return addr
}
