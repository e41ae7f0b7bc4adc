package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"teamtalk/appliance/ctlclient"
	"teamtalk/client"
	"teamtalk/internal/testproc"
)

// bins holds the teamtalkd binary, built once by TestMain.
var bins string

func TestMain(m *testing.M) {
	testproc.Main(m, &bins, []string{"teamtalk/cmd/teamtalkd"})
}

// startAppliance runs teamtalkd on a fresh data dir (or dir), every
// listener on a loopback port 0 and the message rate limit lifted, and
// returns its control socket once it is ready. It is stopped at cleanup.
// provisioned starts a teamtalkd (startAppliance) with users bench1..benchN
// and returns its control socket.
func provisioned(t *testing.T, n int) string {
	t.Helper()
	sock := startAppliance(t, "")
	want := fmt.Sprintf("provisioned %d users bench1..bench%d", n, n)
	if code, out, errb := ttbench(t, "provision", "-socket", sock, "-n", strconv.Itoa(n)); code != 0 || !strings.Contains(out, want) {
		t.Fatalf("provision: code %d\n%s%s", code, out, errb)
	}
	return sock
}

func startAppliance(t *testing.T, dir string) string {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	sock := filepath.Join(dir, "teamtalkd.sock")
	args := []string{"-data", dir, "-socket", sock}
	for _, s := range []string{
		"login.http_listen=127.0.0.1:0", "login.client_listen=127.0.0.1:0", "login.msgserver_listen=127.0.0.1:0",
		"msg.listen=127.0.0.1:0", "route.listen=127.0.0.1:0", "dbproxy.listen=127.0.0.1:0",
		"file.client_listen=127.0.0.1:0", "file.msg_listen=127.0.0.1:0", "msfs.listen=127.0.0.1:0",
		"httpmsg.listen=127.0.0.1:0", "push.listen=127.0.0.1:0", "metrics.listen=127.0.0.1:0",
		`msg.dbproxy=["dbproxy"]`, `msg.route=["route"]`, `msg.login=["login"]`, `msg.file=["file"]`, "msg.push=push",
		`httpmsg.dbproxy=["dbproxy"]`, `httpmsg.route=["route"]`,
		"msg.max_msgs_per_second=0",
	} {
		args = append(args, "-set", s)
	}
	logs := &testproc.Buffer{}
	cmd := exec.Command(filepath.Join(bins, "teamtalkd"), args...)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET=")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Errorf("teamtalkd did not stop on SIGTERM\n%s", logs.String())
		}
	})
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"wait", "-socket", sock, "-timeout", "20s"}, &out, &errb); code != 0 {
		t.Fatalf("teamtalkd not ready: %s\n%s", errb.String(), logs.String())
	}
	return sock
}

// ttbench runs one ttbench command in process and returns its exit code,
// stdout and stderr.
func ttbench(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

// lastResult parses the JSON line that ends a scenario's output.
func lastResult(t *testing.T, out string) Result {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	var r Result
	if err := json.Unmarshal([]byte(last), &r); err != nil {
		t.Fatalf("last line is not a JSON result: %v\n%s", err, out)
	}
	return r
}

func TestScenariosAgainstAppliance(t *testing.T) {
	sock := provisioned(t, 16)
	st, err := (&ctlclient.Client{Socket: sock}).Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, r Result)
	}{
		{"login", []string{"login", "-n", "16", "-c", "4", "-count", "40"}, func(t *testing.T, r Result) {
			if r.Ops != 40 || r.Latency.Count != 40 {
				t.Errorf("logins %d (latency count %d), want 40", r.Ops, r.Latency.Count)
			}
		}},
		{"login at a set rate (open loop)", []string{"login", "-n", "16", "-c", "4", "-count", "40", "-rate", "200"}, func(t *testing.T, r Result) {
			// The 40th login is due 195 ms after the first: the run
			// cannot be shorter, however fast the server.
			if r.Ops != 40 || r.Params["rate"] != 200.0 || r.Seconds < 0.19 {
				t.Errorf("logins %d rate %v in %.2fs, want 40 at 200/s in >= 0.19s", r.Ops, r.Params["rate"], r.Seconds)
			}
		}},
		{"login with the HTTP step, msg by login URL", []string{"login", "-login", "http://" + st.Addresses["login.http_listen"] + "/msg_server", "-http", "-n", "8", "-c", "2"}, func(t *testing.T, r Result) {
			if r.Ops != 8 || r.Params["http_step"] != true {
				t.Errorf("logins %d http_step %v, want 8 true", r.Ops, r.Params["http_step"])
			}
		}},
		{"login for a duration, PC clients", []string{"login", "-n", "16", "-c", "4", "-duration", "500ms", "-type", "windows"}, func(t *testing.T, r Result) {
			if r.Ops == 0 || r.ClientType != "windows" {
				t.Errorf("logins %d client type %q", r.Ops, r.ClientType)
			}
		}},
		{"p2p", []string{"p2p", "-pairs", "4", "-inflight", "4", "-duration", "1s"}, func(t *testing.T, r Result) {
			p := r.P2P
			if p == nil {
				t.Fatal("no p2p section")
			}
			if p.Acked == 0 || p.Lost != 0 || p.Duplicates != 0 || p.OutOfOrder != 0 || p.Unknown != 0 || p.Delivered != p.Acked || p.Sent != p.Acked {
				t.Errorf("p2p check: %+v", *p)
			}
			if r.Latency.Count != p.Acked || r.Latency.P99 <= 0 || p.Delivery.Count != p.Delivered {
				t.Errorf("latency %+v delivery %+v", r.Latency, p.Delivery)
			}
		}},
		{"p2p from a msg address, iOS, big messages", []string{"p2p", "-msg", st.Addresses["msg.listen"], "-type", "ios", "-pairs", "2", "-inflight", "1", "-size", "3000", "-duration", "500ms", "-prefix", "bench", "-grace", "2s"}, func(t *testing.T, r Result) {
			if p := r.P2P; p == nil || p.Acked == 0 || p.Lost != 0 || p.Delivered != p.Acked {
				t.Errorf("p2p check: %+v", r.P2P)
			}
		}},
		{"group", []string{"group", "-size", "8", "-senders", "2", "-inflight", "4", "-duration", "500ms"}, func(t *testing.T, r Result) {
			g := r.Group
			if g == nil {
				t.Fatal("no group section")
			}
			if g.Acked == 0 || g.Sent != g.Acked || g.Expected != g.Acked*7 || g.Delivered != g.Expected || r.Ops != g.Delivered ||
				g.Lost != 0 || g.Duplicates != 0 || g.ToSender != 0 || g.Unknown != 0 || g.MembersLost != 0 || g.Members != 8 || g.Senders != 2 {
				t.Errorf("group check: %+v", *g)
			}
			if r.Latency.Count != g.Delivered || g.Ack.Count != g.Acked || g.MinPerMember == 0 {
				t.Errorf("latency %+v ack %+v min per member %d", r.Latency, g.Ack, g.MinPerMember)
			}
		}},
		{"mixed", []string{"mixed", "-users", "16", "-active", "0.5", "-groups", "2", "-group-size", "4", "-duration", "1500ms",
			"-login-rate", "4", "-p2p-rate", "20", "-group-rate", "6", "-history-rate", "6", "-unread-rate", "6", "-sessions-rate", "4", "-heartbeat", "1s"}, func(t *testing.T, r Result) {
			if len(r.Mixed) != 6 {
				t.Fatalf("operations %v, want 6", r.Mixed)
			}
			var sum uint64
			for name, o := range r.Mixed {
				if o.Ops == 0 || o.Errors != 0 || o.Latency.Count != o.Ops || o.Rate <= 0 || o.Asked <= 0 {
					t.Errorf("%s: %+v", name, o)
				}
				sum += o.Ops
			}
			if r.Ops != sum || r.Latency.Count != sum {
				t.Errorf("ops %d latency count %d, want the sum %d", r.Ops, r.Latency.Count, sum)
			}
			if r.Deliveries == 0 {
				t.Error("no message received")
			}
		}},
		{"idle", []string{"idle", "-n", "16", "-c", "4", "-heartbeat", "200ms", "-duration", "1s"}, func(t *testing.T, r Result) {
			i := r.Idle
			if i == nil {
				t.Fatal("no idle section")
			}
			if i.Conns != 16 || i.Alive != 16 || i.HeartbeatsSent < 16 || i.HeartbeatEchoes < 16 {
				t.Errorf("idle: %+v", *i)
			}
			if i.PID != st.PID || i.RSSBeforeKB == 0 || i.RSSAfterKB == 0 {
				t.Errorf("server RSS not measured from the socket's pid %d: %+v", st.PID, *i)
			}
		}},
	}
	var lines []string
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if !strings.Contains(strings.Join(args, " "), "-login ") && !strings.Contains(strings.Join(args, " "), "-msg ") {
				args = append(args, "-socket", sock)
			}
			code, out, errb := ttbench(t, args...)
			if code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errb)
			}
			r := lastResult(t, out)
			if !r.OK || len(r.Errors) != 0 || r.Rate <= 0 || r.Latency.Max < r.Latency.P50 {
				t.Errorf("result: ok %v errors %v rate %v latency %+v", r.OK, r.Errors, r.Rate, r.Latency)
			}
			// getrusage counts in clock ticks: a tiny scenario may honestly
			// use less than one, so only a negative figure is wrong.
			if r.ClientCPU < 0 {
				t.Errorf("client CPU %v", r.ClientCPU)
			}
			tc.check(t, r)
			lines = append(lines, strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:]))
		})
	}

	t.Run("table", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "results.jsonl")
		if err := os.WriteFile(f, []byte("noise\n"+strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, errb := ttbench(t, "table", f)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errb)
		}
		rows := strings.Split(strings.TrimSpace(out), "\n")
		// One row per result, and one per operation of the mixed result.
		if len(rows) != len(lines)+1+6 || !strings.Contains(out, "lost 0 dup 0 ooo 0") || !strings.Contains(out, "mixed/unread") || !strings.Contains(out, "B/conn") {
			t.Errorf("table of %d results:\n%s", len(lines), out)
		}
	})

	// The appliance's /metrics after that traffic: the per-command request
	// latencies of msg and dbproxy, the store's commits, messages persisted,
	// logins and online users per msg server.
	t.Run("metrics after traffic", func(t *testing.T) {
		resp, err := http.Get("http://" + st.Metrics + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("/metrics: %d %v", resp.StatusCode, err)
		}
		body := string(b)
		acked := 0.0
		for _, l := range lines {
			var r Result
			if json.Unmarshal([]byte(l), &r) == nil {
				switch {
				case r.P2P != nil:
					acked += float64(r.P2P.Acked)
				case r.Group != nil:
					acked += float64(r.Group.Acked)
				case r.Mixed != nil:
					acked += float64(r.Mixed["p2p"].Ops + r.Mixed["group"].Ops)
				}
			}
		}
		tests := []struct {
			name, family, labels string
			min                  float64
		}{
			{"msg: message requests timed", "teamtalk_msg_request_seconds_count", `command="CID_MSG_DATA"`, acked},
			{"msg: logins timed", "teamtalk_msg_request_seconds_count", `command="CID_LOGIN_REQ_USERLOGIN"`, 40},
			{"msg: history calls timed", "teamtalk_msg_request_seconds_count", `command="CID_MSG_LIST_REQUEST"`, 1},
			{"msg: request seconds summed", "teamtalk_msg_request_seconds_sum", `command="CID_MSG_DATA"`, 1e-9},
			{"dbproxy: requests timed", "teamtalk_dbproxy_request_seconds_count", "", acked},
			{"store: commits", "teamtalkd_store_commits_total", `backend="bolt"`, 1},
			{"store: commit durations", "teamtalkd_store_commit_seconds_count", `backend="bolt"`, 1},
			{"store: writes per commit", "teamtalkd_store_commit_writes_sum", `backend="bolt"`, acked},
			{"store: writes per commit under 4096", "teamtalkd_store_commit_writes_bucket", `le="4096"`, 1},
			{"messages persisted", "teamtalkd_messages_persisted_total", `service="msg"`, acked},
			{"logins", "teamtalkd_logins_total", `service="msg"`, 40},
			{"online users (a gauge, present)", "teamtalkd_online_users", `service="msg"`, 0},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				v, n := sampleSum(body, tc.family, tc.labels)
				if n == 0 || v < tc.min {
					t.Errorf("%s{%s}: %d samples summing to %v, want at least %v", tc.family, tc.labels, n, v, tc.min)
				}
			})
		}
		if v, _ := sampleSum(body, "teamtalk_msg_request_seconds_count", `command="CID_MSG_DATA"`); v > acked*1.5+100 {
			t.Errorf("%v message requests timed for %v acked: timed twice?", v, acked)
		}
	})

	t.Run("unknown user is an error by kind", func(t *testing.T) {
		code, out, _ := ttbench(t, "login", "-socket", sock, "-prefix", "nobody", "-n", "2", "-c", "1")
		if code != 1 {
			t.Fatalf("exit %d, want 1", code)
		}
		r := lastResult(t, out)
		if r.OK || r.Errors["login_refused_db_validate_failed"] != 2 {
			t.Errorf("ok %v errors %v, want 2 login_refused_db_validate_failed", r.OK, r.Errors)
		}
	})
}

func TestProvisionIntoStoppedStore(t *testing.T) {
	dir := t.TempDir()
	if code, out, errb := ttbench(t, "provision", "-data", dir, "-n", "5", "-batch", "2", "-prefix", "u"); code != 0 || !strings.Contains(out, "provisioned 5 users u1..u5 (ids 1..5") {
		t.Fatalf("provision: code %d\n%s%s", code, out, errb)
	}
	sock := startAppliance(t, dir)
	// The users log in, and the running appliance's lock refuses -data.
	if code, out, errb := ttbench(t, "login", "-socket", sock, "-prefix", "u", "-n", "5", "-c", "5"); code != 0 {
		t.Fatalf("login: %d\n%s%s", code, out, errb)
	}
	code, _, errb := ttbench(t, "provision", "-data", dir, "-n", "1", "-from", "6", "-prefix", "u")
	if code != 1 || !strings.Contains(errb, "locked") {
		t.Errorf("provision into a running appliance's store: code %d, %s", code, errb)
	}
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"no scenario", nil, 2},
		{"unknown scenario", []string{"storm"}, 2},
		{"help", []string{"help"}, 0},
		{"bad flag", []string{"login", "-bogus"}, 2},
		{"provision needs a place", []string{"provision", "-n", "3"}, 2},
		{"p2p tiny size", []string{"p2p", "-msg", "127.0.0.1:1", "-size", "3"}, 2},
		{"no server", []string{"login", "-n", "1"}, 1},
		{"bad client type", []string{"idle", "-msg", "127.0.0.1:1", "-type", "pager"}, 1},
		{"http step without a login URL", []string{"login", "-msg", "127.0.0.1:1", "-http"}, 1},
		{"table of nothing", []string{"table", os.DevNull}, 1},
		{"group of one", []string{"group", "-msg", "127.0.0.1:1", "-size", "1"}, 2},
		{"group more senders than members", []string{"group", "-msg", "127.0.0.1:1", "-size", "4", "-senders", "5"}, 2},
		{"mixed with one active user", []string{"mixed", "-msg", "127.0.0.1:1", "-users", "10", "-active", "0.1"}, 2},
		{"mixed group bigger than the active users", []string{"mixed", "-msg", "127.0.0.1:1", "-users", "10", "-group-size", "6"}, 2},
		{"mixed negative rate", []string{"mixed", "-msg", "127.0.0.1:1", "-users", "10", "-active", "1", "-group-size", "4", "-p2p-rate", "-1"}, 2},
		{"mixed all rates zero", []string{"mixed", "-msg", "127.0.0.1:1", "-users", "10", "-active", "1", "-login-rate", "0", "-p2p-rate", "0", "-group-rate", "0", "-history-rate", "0", "-unread-rate", "0", "-sessions-rate", "0"}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if code, out, errb := ttbench(t, tc.args...); code != tc.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tc.code, out, errb)
			}
		})
	}
}

func TestBenchText(t *testing.T) {
	c, err := client.NewCipher(client.DefaultKey)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		pair, seq, sz int
	}{
		{"small", 0, 0, 24},
		{"padded", 17, 123456, 100},
		{"large", 99, 7, 4000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text := benchText(nil, tc.pair, tc.seq, tc.sz)
			if len(text) != tc.sz {
				t.Fatalf("len %d, want %d", len(text), tc.sz)
			}
			p, s, ok := parseBenchText(c, nil, c.Encrypt(text))
			if !ok || p != tc.pair || s != tc.seq {
				t.Fatalf("parse = %d %d %v", p, s, ok)
			}
		})
	}
	for _, bad := range [][]byte{nil, []byte("not base64!"), c.Encrypt([]byte("hello world")), c.Encrypt([]byte("ttb x 1 "))} {
		if _, _, ok := parseBenchText(c, nil, bad); ok {
			t.Errorf("parseBenchText(%q) ok", bad)
		}
	}
}

// sampleSum sums the samples of a metric family in Prometheus' text format
// whose label set contains labels, and counts them.
func sampleSum(body, family, labels string) (float64, int) {
	var sum float64
	n := 0
	for l := range strings.SplitSeq(body, "\n") {
		name, rest, ok := strings.Cut(l, "{")
		if !ok {
			name, rest, ok = strings.Cut(l, " ")
			rest = "} " + rest
		}
		if !ok || name != family {
			continue
		}
		lbls, val, ok := strings.Cut(rest, "} ")
		if !ok || !strings.Contains(lbls, labels) {
			continue
		}
		val, _, _ = strings.Cut(strings.TrimSpace(val), " ")
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		sum += v
		n++
	}
	return sum, n
}
