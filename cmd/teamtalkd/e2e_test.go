package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"teamtalk/internal/testproc"
)

// bins holds teamtalkd and ttctl, built once per test run by TestMain.
var bins string

func TestMain(m *testing.M) {
	testproc.Main(m, &bins, []string{"teamtalk/cmd/teamtalkd", "teamtalk/cmd/ttctl"})
}

func ttctl(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(bins, "ttctl"), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), code
}

func TestAppliance(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "teamtalkd.sock")
	var logs bytes.Buffer
	cmd := exec.Command(filepath.Join(bins, "teamtalkd"), "-data", dir, "-set", "services=[]", "-set", "metrics.listen=127.0.0.1:0")
	cmd.Stderr = &logs
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET=")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if out, code := ttctl(t, "-socket", sock, "status"); code == 0 && regexp.MustCompile(`(?m)^ready\s+true$`).MatchString(out) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("teamtalkd not ready; logs:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	out, code := ttctl(t, "services", "-socket", sock)
	if code != 0 || !strings.HasPrefix(out, "SERVICE") {
		t.Fatalf("services: %d %s", code, out)
	}
	// A second teamtalkd on the same socket is refused.
	second := exec.Command(filepath.Join(bins, "teamtalkd"), "-data", t.TempDir(), "-socket", sock, "-set", "services=[]")
	if msg, err := second.CombinedOutput(); err == nil || !strings.Contains(string(msg), "already running") {
		t.Fatalf("second teamtalkd: %v %s", err, msg)
	}
	// Keep a live watch stream open across SIGTERM.
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	resp, err := hc.Get("http://teamtalkd/v1/watch")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v; logs:\n%s", err, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("no exit after SIGTERM; logs:\n%s", logs.String())
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
	if !strings.Contains(logs.String(), "stopped cleanly") {
		t.Errorf("logs:\n%s", logs.String())
	}
}

func TestBadConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "t.toml")
	os.WriteFile(cfg, []byte("services = []\n\n[msg]\nmax_msg_per_second = 5\n"), 0o644)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{name: "unknown key in file", args: []string{"-config", cfg, "-data", dir}, want: []string{cfg + ":4", "msg.max_msg_per_second", "unknown key"}},
		{name: "bad -set", args: []string{"-data", dir, "-set", "msg.max_conns=lots"}, want: []string{"-set", "msg.max_conns"}},
		{name: "check-config", args: []string{"-config", cfg, "-check-config"}, want: []string{"msg.max_msg_per_second"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command(filepath.Join(bins, "teamtalkd"), tc.args...).CombinedOutput()
			if err == nil {
				t.Fatalf("accepted: %s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output %q lacks %q", out, w)
				}
			}
		})
	}
}

func TestPrintConfig(t *testing.T) {
	out, err := exec.Command(filepath.Join(bins, "teamtalkd"), "-print-config", "-set", "msg.max_msgs_per_second=0").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "max_msgs_per_second = 0") {
		t.Fatalf("%v %s", err, out)
	}
}
