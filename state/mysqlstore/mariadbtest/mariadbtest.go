// Package mariadbtest runs a private MariaDB server for tests: mariadbd in a
// directory of its own, on a free loopback port, without grant tables (root,
// no password), stopped (killed and waited for) when the tests end. Tests
// get a fresh database each from CreateDatabase.
//
// A package's TestMain calls Main; tests call Require, which skips loudly
// when the server binaries are missing, except under CI=true, where Main
// already failed the run.
package mariadbtest

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Install names what to install when the binaries are missing.
const Install = "apt-get install mariadb-server"

// Server is a running private mariadbd.
type Server struct {
	// Addr is host:port of the server (127.0.0.1).
	Addr   string
	dir    string
	server string // the mariadbd binary
	data   string
	tmp    string
	asRoot bool
	port   int
	cmd    *exec.Cmd
	done   chan struct{} // closed when the process has exited
	err    error         // the process's exit, valid after done
	admin  *sql.DB
	next   atomic.Int64
}

// Binaries finds mariadbd and mariadb-install-db (or their mysql names).
func Binaries() (server, installDB string, err error) {
	find := func(names ...string) string {
		for _, n := range names {
			if p, err := exec.LookPath(n); err == nil {
				return p
			}
			for _, d := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"} {
				if p := filepath.Join(d, n); isExec(p) {
					return p
				}
			}
		}
		return ""
	}
	server = find("mariadbd", "mysqld")
	installDB = find("mariadb-install-db", "mysql_install_db")
	if server == "" || installDB == "" {
		return "", "", fmt.Errorf("mariadbtest: mariadbd or mariadb-install-db not found (%s)", Install)
	}
	return server, installDB, nil
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// Start initialises a data directory under dir and starts mariadbd on a
// free 127.0.0.1 port, waiting until it answers.
func Start(dir string) (*Server, error) {
	server, installDB, err := Binaries()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	tmp := filepath.Join(dir, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("mariadbtest: %w", err)
	}
	asRoot := os.Geteuid() == 0
	args := []string{"--no-defaults", "--datadir=" + data, "--auth-root-authentication-method=normal", "--skip-test-db"}
	if asRoot {
		args = append(args, "--user=root")
	}
	if out, err := exec.Command(installDB, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("mariadbtest: %s: %w\n%s", installDB, err, out)
	}
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("mariadbtest: free port: %w", err)
		}
		s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), dir: dir, server: server, data: data, tmp: tmp, asRoot: asRoot, port: port}
		lastErr = s.run()
		if lastErr == nil {
			return s, nil
		}
	}
	return nil, lastErr
}

// Restart starts a stopped server again (killing it first if it still
// runs: a crash, so InnoDB recovers on the way up) on the same address and
// data directory, and waits until it answers. Databases made before
// survive. Tests use it to take the database away under load.
func (s *Server) Restart() error {
	s.Stop()
	var err error
	for range 3 { // the port may be taken for a moment (an ephemeral port of a client)
		if err = s.run(); err == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// run starts mariadbd with s's settings and waits until it answers.
func (s *Server) run() error {
	server, dir, data, tmp, asRoot, port := s.server, s.dir, s.data, s.tmp, s.asRoot, s.port
	logPath := filepath.Join(dir, "error.log")
	args := []string{
		"--no-defaults", "--datadir=" + data, "--tmpdir=" + tmp,
		"--socket=" + filepath.Join(dir, "mysqld.sock"), "--pid-file=" + filepath.Join(dir, "mysqld.pid"),
		"--port=" + strconv.Itoa(port), "--bind-address=127.0.0.1", "--skip-name-resolve",
		"--skip-grant-tables", "--skip-log-bin", "--log-error=" + logPath,
		"--max-connections=1000", "--innodb-buffer-pool-size=128M",
	}
	if asRoot {
		args = append(args, "--user=root")
	}
	s.done = make(chan struct{})
	s.err = nil
	s.cmd = exec.Command(server, args...)
	var out bytes.Buffer
	s.cmd.Stdout, s.cmd.Stderr = &out, &out
	if err := s.cmd.Start(); err != nil {
		close(s.done)
		return fmt.Errorf("mariadbtest: start %s: %w", server, err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	cfg := mysql.NewConfig()
	cfg.User, cfg.Net, cfg.Addr = "root", "tcp", s.Addr
	cfg.Timeout = time.Second
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		s.Stop()
		return fmt.Errorf("mariadbtest: %w", err)
	}
	s.admin = sql.OpenDB(conn)
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := s.admin.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.done:
			logText, _ := os.ReadFile(logPath)
			s.admin.Close()
			return fmt.Errorf("mariadbtest: mariadbd exited (%v) before answering:\n%s%s", s.err, out.String(), tail(logText))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("mariadbtest: mariadbd did not answer on %s within 60s: %w", s.Addr, err)
		}
	}
}

func tail(b []byte) string {
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// DSN returns the go-sql-driver DSN of database db on the server.
func (s *Server) DSN(db string) string {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Net, cfg.Addr, cfg.DBName = "root", "tcp", s.Addr, db
	return cfg.FormatDSN()
}

// CreateDatabase creates a fresh, empty database for the test, drops it
// when the test ends, and returns its DSN.
func (s *Server) CreateDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("tt_test_%d", s.next.Add(1))
	if _, err := s.admin.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"); err != nil {
		t.Fatalf("mariadbtest: create database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := s.admin.Exec("DROP DATABASE IF EXISTS " + name); err != nil {
			t.Errorf("mariadbtest: drop database %s: %v", name, err)
		}
	})
	return s.DSN(name)
}

// Stop kills the server and waits for it to exit. It is safe to call more
// than once.
func (s *Server) Stop() {
	if s.admin != nil {
		s.admin.Close()
	}
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

// Main runs a package's tests with a private server in *srv (nil when the
// binaries are missing: tests then skip through Require, and under CI=true
// the run fails instead). It returns the exit code for os.Exit.
func Main(m *testing.M, srv **Server) int {
	if _, _, err := Binaries(); err != nil {
		if os.Getenv("CI") == "true" {
			fmt.Fprintf(os.Stderr, "FAIL: %v; CI=true requires it\n", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "\n*** SKIPPING MariaDB tests: %v ***\n\n", err)
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "mariadbtest")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	s, err := Start(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Stop()
	*srv = s
	return m.Run()
}

// Require skips the test, naming what to install, when s is nil (no
// server binaries).
func Require(t testing.TB, s *Server) {
	t.Helper()
	if s == nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mariadbd missing under CI=true (%s)", Install)
		}
		t.Skipf("SKIP: mariadbd not installed (%s)", Install)
	}
}
