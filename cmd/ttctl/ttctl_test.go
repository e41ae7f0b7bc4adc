package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"teamtalk/appliance"
	"teamtalk/appliance/appliancetest"
	"teamtalk/appliance/config"
	"teamtalk/appliance/ctlserver"
	"teamtalk/daemons"
	"teamtalk/state"
	"teamtalk/state/records"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// live runs a supervisor with fake route and msg services and the control
// API on a socket in a temp dir, and returns the socket path.
func live(t testing.TB) (string, string) {
	t.Helper()
	return liveWith(t, t.TempDir(), nil, nil, nil)
}

// liveWith is live in dir with an IM store (nil: none), a service table (nil:
// fake route and msg) and a config edit (nil: none).
func liveWith(t testing.TB, dir string, store state.Store, table daemons.Table, edit func(*config.Config)) (string, string) {
	t.Helper()
	rec, err := records.Open(filepath.Join(dir, "appliance.db"), records.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rec.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sock := filepath.Join(dir, "t.sock")
	fakes := &appliancetest.Fakes{}
	cfg := appliancetest.Config(dir)
	if edit != nil {
		edit(cfg)
	}
	if table == nil {
		table = fakes.Table("route", "msg")
	}
	sup, err := appliance.New(appliance.Options{Config: cfg, Table: table, Logger: log, Records: rec, Socket: sock, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := ctlserver.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan struct{}, 2)
	go func() { sup.Run(ctx, func() { close(ready) }); done <- struct{}{} }()
	go func() { ctlserver.New(sup, log).Serve(ctx, ln); done <- struct{}{} }()
	t.Cleanup(func() {
		cancel()
		for i := 0; i < 2; i++ {
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Error("did not stop")
			}
		}
	})
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}
	return sock, dir
}

// normalize replaces what changes between runs: ports, ages, pids, paths, times.
func normalize(s, dir string) string {
	s = strings.ReplaceAll(s, dir, "DIR")
	for _, r := range []struct{ re, with string }{
		{`127\.0\.0\.1:\d+`, "127.0.0.1:PORT"},
		{`(?m)^pid( +)\d+`, "pid${1}PID"},
		{`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d`, "YYYY-MM-DD hh:mm:ss"},
		{`\b\d+[smhd]\b`, "AGE"},
	} {
		s = regexp.MustCompile(r.re).ReplaceAllString(s, r.with)
	}
	return s
}

func TestGolden(t *testing.T) {
	sock, dir := live(t)
	tests := []struct {
		name string
		args []string
		code int
	}{
		{name: "status", args: []string{"-socket", sock, "status"}},
		{name: "services", args: []string{"services", "-socket", sock}},
		{name: "sockets", args: []string{"sockets", "-socket=" + sock}},
		{name: "events", args: []string{"-socket", sock, "events"}},
		{name: "kick_not_numeric", args: []string{"kick", "bob", "-socket", sock}, code: 1},
		{name: "restart_unknown", args: []string{"-socket", sock, "restart", "nope"}, code: 1},
		{name: "tui", args: []string{"tui", "-socket", sock}, code: 1},
		{name: "not_running", args: []string{"-socket", filepath.Join(dir, "none.sock"), "status"}, code: 1},
		{name: "unknown_command", args: []string{"frobnicate"}, code: 2},
		{name: "missing_arg", args: []string{"restart", "-socket", sock}, code: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := ttctl(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.code, errs)
			}
			got := normalize("$ ttctl "+strings.Join(tc.args, " ")+"\n"+out+errs, dir)
			checkGolden(t, tc.name, strings.ReplaceAll(got, sock, "SOCK"))
		})
	}
}

func TestJSON(t *testing.T) {
	sock, _ := live(t)
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"services", "-json", "-socket", sock}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.HasPrefix(out.String(), "[") || !strings.Contains(out.String(), `"state": "running"`) {
		t.Fatalf("json: %s", out.String())
	}
}

func TestParseAnywhere(t *testing.T) {
	tests := []struct {
		name string
		args []string
		pos  string
		pw   string
	}{
		{name: "flag after args", args: []string{"user", "add", "NAME", "-password", "X"}, pos: "user add NAME", pw: "X"},
		{name: "flag between", args: []string{"user", "import", "-password", "X", "FILE"}, pos: "user import FILE", pw: "X"},
		{name: "double dash", args: []string{"kick", "--", "-5"}, pos: "kick -5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			pw := fs.String("password", "", "")
			pos, err := parseAnywhere(fs, tc.args)
			if err != nil || strings.Join(pos, " ") != tc.pos || *pw != tc.pw {
				t.Fatalf("= %v %q %v", pos, *pw, err)
			}
		})
	}
}
