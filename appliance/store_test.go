package appliance

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"teamtalk/appliance/appliancetest"
)

func TestRedactDSN(t *testing.T) {
	cases := []struct {
		name, dsn, want string
	}{
		{name: "password hidden", dsn: "tt:s3cret@tcp(db.example:3306)/teamtalk?timeout=5s", want: "tt:xxx@tcp(db.example:3306)/teamtalk"},
		{name: "no password", dsn: "tt@tcp(127.0.0.1:3306)/im", want: "tt@tcp(127.0.0.1:3306)/im"},
		{name: "no user", dsn: "tcp(127.0.0.1:3306)/im", want: "tcp(127.0.0.1:3306)/im"},
		{name: "unix socket", dsn: "root:pw@unix(/run/mysqld/mysqld.sock)/teamtalk", want: "root:xxx@unix(/run/mysqld/mysqld.sock)/teamtalk"},
		{name: "unparsable", dsn: "tt:pw@tcp(x:1)db", want: "(unparsable DSN)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := RedactDSN(c.dsn); got != c.want {
				t.Fatalf("RedactDSN(%q) = %q, want %q", c.dsn, got, c.want)
			}
		})
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestOpenStoreErrors(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	addr := closedPort(t)
	cases := []struct {
		name    string
		backend string
		dsn     string
		init    bool
		want    []string
	}{
		{name: "mysql unreachable", backend: "mysql", dsn: "tt:Sup3rSecret@tcp(" + addr + ")/teamtalk",
			want: []string{"tt:xxx@tcp(" + addr + ")/teamtalk", "connect"}},
		{name: "init-db unreachable", backend: "mysql", dsn: "tt:Sup3rSecret@tcp(" + addr + ")/teamtalk", init: true,
			want: []string{"tt:xxx@tcp(" + addr + ")/teamtalk"}},
		{name: "init-db on bolt", backend: "bolt", init: true, want: []string{"only a mysql store"}},
		{name: "unknown backend", backend: "redis", want: []string{`"redis"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := appliancetest.Config(t.TempDir())
			cfg.Store.Backend = c.backend
			cfg.Store.MySQL.DSN = c.dsn
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var err error
			if c.init {
				_, err = InitDatabase(ctx, cfg, log)
			} else {
				var s interface{ Close() error }
				s, err = OpenStore(ctx, cfg, log)
				if err == nil {
					s.Close()
				}
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "Sup3rSecret") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

func TestOpenStoreBolt(t *testing.T) {
	cfg := appliancetest.Config(t.TempDir())
	cfg.Store.Backend = "bolt"
	s, err := OpenStore(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
