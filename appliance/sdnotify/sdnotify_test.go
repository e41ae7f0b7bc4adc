package sdnotify

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

func TestNotify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	n := New(func(k string) string {
		if k == "NOTIFY_SOCKET" {
			return path
		}
		return ""
	})
	tests := []struct {
		name string
		send func() error
		want string
	}{
		{"ready", n.Ready, "READY=1"},
		{"stopping", n.Stopping, "STOPPING=1"},
		{"watchdog", n.Watchdog, "WATCHDOG=1"},
		{"status", func() error { return n.Status("3 services up") }, "STATUS=3 services up"},
	}
	buf := make([]byte, 256)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.send(); err != nil {
				t.Fatal(err)
			}
			ln.SetReadDeadline(time.Now().Add(5 * time.Second))
			k, err := ln.Read(buf)
			if err != nil || string(buf[:k]) != tc.want {
				t.Fatalf("got %q, %v; want %q", buf[:k], err, tc.want)
			}
		})
	}
}

func TestUnset(t *testing.T) {
	n := New(func(string) string { return "" })
	if n != nil {
		t.Fatal("want nil notifier without NOTIFY_SOCKET")
	}
	if err := n.Ready(); err != nil {
		t.Fatalf("nil notifier: %v", err)
	}
}

func TestWatchdogInterval(t *testing.T) {
	tests := []struct {
		name     string
		usec     string
		pid      string
		want     time.Duration
		wantOkay bool
	}{
		{name: "unset", usec: ""},
		{name: "enabled", usec: "20000000", want: 10 * time.Second, wantOkay: true},
		{name: "our pid", usec: "2000000", pid: "42", want: time.Second, wantOkay: true},
		{name: "other pid", usec: "2000000", pid: "7"},
		{name: "garbage", usec: "soon"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"WATCHDOG_USEC": tc.usec, "WATCHDOG_PID": tc.pid}
			got, ok := WatchdogInterval(func(k string) string { return env[k] }, 42)
			if got != tc.want || ok != tc.wantOkay {
				t.Fatalf("= %v, %v", got, ok)
			}
		})
	}
}
