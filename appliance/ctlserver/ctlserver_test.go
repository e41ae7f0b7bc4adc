package ctlserver_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"teamtalk/appliance"
	"teamtalk/appliance/appliancetest"
	"teamtalk/appliance/ctlapi"
	"teamtalk/appliance/ctlclient"
	"teamtalk/appliance/ctlserver"
	"teamtalk/state/records"
)

// live starts a supervisor with fake route and msg services and the control
// API on a socket in a temp dir; it returns a client for it.
func live(t *testing.T) (*ctlclient.Client, string) {
	t.Helper()
	return liveOpts(t, t.TempDir(), nil)
}

// liveOpts is live in dir with the supervisor's options edited by mod.
func liveOpts(t *testing.T, dir string, mod func(*appliance.Options)) (*ctlclient.Client, string) {
	t.Helper()
	rec, err := records.Open(filepath.Join(dir, "appliance.db"), records.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rec.Close() })
	fakes := &appliancetest.Fakes{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	opts := appliance.Options{Config: appliancetest.Config(dir), Table: fakes.Table("route", "msg"), Logger: log, Records: rec}
	if mod != nil {
		mod(&opts)
	}
	log = opts.Logger
	sup, err := appliance.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "t.sock")
	ln, err := ctlserver.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	supDone, srvDone := make(chan error, 1), make(chan error, 1)
	go func() { supDone <- sup.Run(ctx, func() { close(ready) }) }()
	go func() { srvDone <- ctlserver.New(sup, log).Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		for _, c := range []chan error{supDone, srvDone} {
			select {
			case err := <-c:
				if err != nil {
					t.Errorf("stop: %v", err)
				}
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
	return &ctlclient.Client{Socket: sock}, sock
}

func TestAPI(t *testing.T) {
	c, sock := live(t)
	ctx := context.Background()
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket mode: %v %v", fi.Mode(), err)
	}
	st, err := c.Status(ctx)
	if err != nil || !st.Ready || len(st.Services) != 8 {
		t.Fatalf("status: %+v %v", st, err)
	}
	svcs, err := c.Services(ctx)
	if err != nil || len(svcs) != 8 {
		t.Fatalf("services: %v", err)
	}
	for _, s := range svcs {
		want := ctlapi.StateUnavailable
		if s.Name == "route" || s.Name == "msg" {
			want = ctlapi.StateRunning
		}
		if s.State != want {
			t.Errorf("%s state %s, want %s", s.Name, s.State, want)
		}
	}
	tests := []struct {
		name   string
		call   func() error
		status int
	}{
		{"msgservers empty", func() error { l, err := c.MsgServers(ctx); return nonNil(l == nil, err) }, 0},
		{"sockets", func() error { _, err := c.Sockets(ctx); return err }, 0},
		{"timers", func() error { _, err := c.Timers(ctx); return err }, 0},
		{"online", func() error { _, err := c.Online(ctx); return err }, 0},
		{"events", func() error { e, err := c.Events(ctx, 0, 10); return nonNil(len(e) == 0, err) }, 0},
		{"history", func() error { _, err := c.History(ctx, 10); return err }, 0},
		{"kick by id", func() error { _, err := c.Kick(ctx, ctlapi.KickRequest{User: "42"}); return err }, 0},
		{"kick by name", func() error { _, err := c.Kick(ctx, ctlapi.KickRequest{User: "bob"}); return err }, 400},
		{"restart unknown", func() error { _, err := c.Restart(ctx, "nope"); return err }, 404},
		{"restart unavailable", func() error { _, err := c.Restart(ctx, "login"); return err }, 409},
		{"restart route", func() error { _, err := c.Restart(ctx, "route"); return err }, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var ce *ctlapi.Error
			switch {
			case tc.status == 0 && err != nil:
				t.Fatalf("err = %v", err)
			case tc.status != 0 && (!errors.As(err, &ce) || ce.Status != tc.status || ce.Message == ""):
				t.Fatalf("err = %v, want status %d", err, tc.status)
			}
		})
	}
}

func nonNil(bad bool, err error) error {
	if err == nil && bad {
		return errors.New("empty or nil result")
	}
	return err
}

func TestWatch(t *testing.T) {
	c, _ := live(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := c.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		select {
		case s, ok := <-ch:
			if !ok || len(s.Services) != 8 || s.Status.Version == "" {
				t.Fatalf("snapshot %d: %+v", i, s.Status)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no snapshot")
		}
	}
}

func TestListen(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		prepare func(path string) func()
		wantErr string
	}{
		{name: "fresh", prepare: func(string) func() { return func() {} }},
		{name: "stale socket removed", prepare: func(p string) func() {
			ln, err := net.Listen("unix", p)
			if err != nil {
				t.Fatal(err)
			}
			ln.(*net.UnixListener).SetUnlinkOnClose(false)
			ln.Close()
			return func() {}
		}},
		{name: "already running", prepare: func(p string) func() {
			ln, err := net.Listen("unix", p)
			if err != nil {
				t.Fatal(err)
			}
			return func() { ln.Close() }
		}, wantErr: "already running"},
		{name: "regular file kept", prepare: func(p string) func() {
			os.WriteFile(p, []byte("x"), 0o600)
			return func() {}
		}, wantErr: "not a socket"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, string(rune('a'+i))+".sock")
			defer tc.prepare(p)()
			ln, err := ctlserver.Listen(p)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ln.Close()
		})
	}
	if _, err := ctlserver.Listen("/tmp/" + strings.Repeat("x", 110)); err == nil || !strings.Contains(err.Error(), "108") {
		t.Fatalf("long path: %v", err)
	}
}

func TestNotRunning(t *testing.T) {
	c := &ctlclient.Client{Socket: filepath.Join(t.TempDir(), "none.sock")}
	_, err := c.Status(context.Background())
	if !errors.Is(err, ctlclient.ErrNotRunning) || !strings.Contains(err.Error(), "no socket at") {
		t.Fatalf("err = %v", err)
	}
}
