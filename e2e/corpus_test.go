package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"teamtalk/appliance/ctlapi"
	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// framePort is one listener of the appliance that speaks TeamTalk frames.
type framePort struct {
	key string // its bound address in /v1/status
	max int    // the largest frame it accepts
	cmd uint16 // a command it serves, for garbage bodies
}

// framePorts are every frame listener of a default appliance.
var framePorts = []framePort{
	{"msg.listen", wire.MaxClientFrame, cmdMsgData},
	{"login.client_listen", wire.HeaderLen + 1024, uint16(pb.OtherCmdID_CID_OTHER_MSG_SERV_INFO)},
	{"login.msgserver_listen", wire.MaxServerFrame, uint16(pb.OtherCmdID_CID_OTHER_MSG_SERV_INFO)},
	{"route.listen", wire.MaxServerFrame, uint16(pb.OtherCmdID_CID_OTHER_USER_STATUS_UPDATE)},
	{"dbproxy.listen", wire.MaxServerFrame, uint16(pb.OtherCmdID_CID_OTHER_VALIDATE_REQ)},
	{"file.client_listen", wire.MaxClientFrame, uint16(pb.FileCmdID_CID_FILE_LOGIN_REQ)},
	{"file.msg_listen", wire.MaxServerFrame, uint16(pb.OtherCmdID_CID_OTHER_FILE_TRANSFER_REQ)},
	{"push.listen", wire.MaxServerFrame, uint16(pb.OtherCmdID_CID_OTHER_PUSH_TO_USER_REQ)},
}

// alive requires a fresh connection to addr to get a heartbeat back (the
// echo of ours, or the link's own) within 10 s: the port still serves.
func alive(t *testing.T, addr string, max int) {
	t.Helper()
	r := dialRaw(t, addr, max)
	defer r.close()
	r.send(wire.AppendFrame(nil, wire.NewHeader(cmdHeartbeat, 4242), nil))
	r.next("a heartbeat on a fresh connection", func(h wire.Header) bool { return h.CommandID == cmdHeartbeat })
}

// droppedOrClosed sends what a port may drop (an unknown command, a body
// that does not decode) and requires the port to either drop it and keep
// the connection (it still answers a heartbeat) or close it, sending
// nothing but heartbeats either way.
func droppedOrClosed(t *testing.T, r *rawConn) string {
	t.Helper()
	r.send(wire.AppendFrame(nil, wire.NewHeader(cmdHeartbeat, 999), nil))
	tm := time.NewTimer(10 * time.Second)
	defer tm.Stop()
	for {
		select {
		case f, ok := <-r.frames:
			if !ok {
				return "closed"
			}
			h := wire.ParseHeader(f)
			if h.CommandID != cmdHeartbeat {
				t.Fatalf("answered %s", pb.CommandName(h.CommandID))
			}
			return "dropped, connection kept"
		case <-tm.C:
			t.Fatal("neither a heartbeat nor a close within 10 s")
		}
	}
}

// applianceRSS is teamtalkd's resident and peak resident memory in KiB.
func applianceRSS(t *testing.T, a *appliance) (rss, hwm int64) {
	t.Helper()
	return procStatus(t, a.cmd.Process.Pid, "VmRSS"), procStatus(t, a.cmd.Process.Pid, "VmHWM")
}

// serviceHTTPIdle is how long the appliance's own HTTP listeners (metrics,
// the control socket) wait for a request's headers or an idle keep-alive
// connection's next request: fixed, not configured.
const serviceHTTPIdle = 10 * time.Second

// httpTarget is one HTTP listener: how to reach it and a request it
// answers when healthy.
type httpTarget struct {
	name  string
	dial  func() (net.Conn, error)
	path  string // a path it serves
	probe func(t *testing.T)
	idle  time.Duration // how long it keeps an idle or unfinished connection at most
	valid string        // a whole request it answers (empty: GET path)
}

// exchange writes req on a fresh connection, half-closes nothing, and
// reads until the server closes (or 20 s pass), returning the status of
// every response it sent and whether it closed.
func exchange(t *testing.T, tg httpTarget, req string) (statuses []int, closed bool) {
	t.Helper()
	c, err := tg.dial()
	if err != nil {
		t.Fatalf("dial %s: %v", tg.name, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	go io.WriteString(c, req) // the server may close before reading it all
	br := bufio.NewReader(c)
	for {
		rsp, err := http.ReadResponse(br, nil)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return statuses, false
			}
			// EOF or a reset: closed. Anything half-read is not a response.
			return statuses, true
		}
		statuses = append(statuses, rsp.StatusCode)
		if _, err := io.Copy(io.Discard, rsp.Body); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return statuses, false
			}
			return statuses, true
		}
		rsp.Body.Close()
	}
}

// TestCorpusEveryListener replays the malformed-input corpus at every
// listener of one appliance that PROTOCOL.md does not leave to
// TestBadInput alone: every frame port (msg, login's client and msg server
// ports, route, dbproxy, file's client and msg ports, push) and every HTTP
// listener (login, msfs, httpmsg, metrics, the control socket), while alice
// and bob keep chatting. Framing errors close the connection, what a port
// may drop is dropped or closed and never answered, HTTP smuggling
// attempts get at most one answer and a close, huge headers and bodies are
// refused, partial headers and idle connections are closed by the idle
// timeout; afterwards the memory peak stayed bounded and no service
// restarted.
func TestCorpusEveryListener(t *testing.T) {
	dir := t.TempDir()
	seed(t, dir, 0)
	const idle = 2 * time.Second
	a := start(t, "corpus", dir, "-set", `httpmsg.api_keys=["`+apiKey+`"]`,
		"-set", "msfs.idle_timeout=2s", "-set", "httpmsg.idle_timeout=2s", "-set", "login.http_idle_timeout=2s")
	msgAddr := a.addr("msg.listen")
	alice := login(t, msgAddr, "alice", android)
	bob := login(t, msgAddr, "bob", windows)
	round := 0
	check := func(t *testing.T) {
		t.Helper()
		round++
		chat(t, alice.Client, bob.Client, fmt.Sprintf("corpus %d", round))
	}
	check(t)
	_, hwm0 := applianceRSS(t, a)

	frameCases := []struct {
		name string
		run  func(t *testing.T, r *rawConn, p framePort)
	}{
		{"length 0xffffffff: closed", func(t *testing.T, r *rawConn, _ framePort) {
			r.send(header(0xffffffff, cmdHeartbeat))
			r.closedByServer()
		}},
		{"length over the port's limit: closed", func(t *testing.T, r *rawConn, p framePort) {
			r.send(header(uint32(p.max)+1, cmdHeartbeat))
			r.closedByServer()
		}},
		{"length 0: closed", func(t *testing.T, r *rawConn, _ framePort) {
			r.send(header(0, cmdHeartbeat))
			r.closedByServer()
		}},
		{"length 15: closed", func(t *testing.T, r *rawConn, _ framePort) {
			r.send(append(header(15, cmdHeartbeat), make([]byte, 16)...))
			r.closedByServer()
		}},
		{"random bytes: closed", func(t *testing.T, r *rawConn, _ framePort) {
			b := randomBytes(11, 64<<10)
			b[0] |= 0x80 // a length no port takes
			r.send(b)
			r.closedByServer()
		}},
		{"half a header, then close", func(t *testing.T, r *rawConn, _ framePort) {
			r.send(header(64, cmdHeartbeat)[:7])
		}},
		{"truncated frame, then close", func(t *testing.T, r *rawConn, p framePort) {
			r.send(wire.AppendFrame(nil, wire.NewHeader(p.cmd, 3), make([]byte, 64))[:40])
		}},
		{"unknown command id: dropped or closed, never answered", func(t *testing.T, r *rawConn, _ framePort) {
			r.send(wire.AppendFrame(nil, wire.NewHeader(cmdUnknown, 1), []byte{0x08, 0x01}))
			t.Log(droppedOrClosed(t, r))
		}},
		{"garbage body of a served command: dropped or closed, never answered", func(t *testing.T, r *rawConn, p framePort) {
			r.send(wire.AppendFrame(nil, wire.NewHeader(p.cmd, 2), []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0x0a, 0x80}))
			t.Log(droppedOrClosed(t, r))
		}},
		{"10,000 heartbeats in one write: all echoed or closed", func(t *testing.T, r *rawConn, _ framePort) {
			var b []byte
			for i := 0; i < 10000; i++ {
				b = wire.AppendFrame(b, wire.NewHeader(cmdHeartbeat, uint16(i)), nil)
			}
			go r.c.Write(b)
			t.Log(droppedOrClosed(t, r))
		}},
	}
	for _, p := range framePorts {
		addr := a.addr(p.key)
		for _, tc := range frameCases {
			t.Run(p.key+"/"+tc.name, func(t *testing.T) {
				r := dialRaw(t, addr, p.max)
				tc.run(t, r, p)
				r.close()
				alive(t, addr, p.max)
			})
		}
		t.Run(p.key+"/still chatting", check)
	}

	// Big frames announced and never finished: 8 connections per port each
	// claim the port's largest frame, send 1 MiB of it (or what the port
	// takes) and stall. Memory must follow what was sent, not what was
	// claimed.
	t.Run("big frames claimed and stalled: memory follows the bytes sent", func(t *testing.T) {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		sent := 0
		for _, p := range framePorts {
			n := min(p.max-wire.HeaderLen-1, 1<<20)
			for i := 0; i < 8; i++ {
				c, err := net.DialTimeout("tcp", a.addr(p.key), 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				conns = append(conns, c)
				c.SetWriteDeadline(time.Now().Add(10 * time.Second))
				if _, err := c.Write(append(header(uint32(p.max), p.cmd), make([]byte, n)...)); err != nil {
					t.Fatalf("%s: write: %v", p.key, err)
				}
				sent += n
			}
		}
		time.Sleep(500 * time.Millisecond)
		_, hwm := applianceRSS(t, a)
		t.Logf("%d connections sent %d MiB of frames they claimed to be up to 64 MiB: peak RSS %d -> %d MiB", len(conns), sent>>20, hwm0>>10, hwm>>10)
		if grown := hwm - hwm0; grown > int64(sent>>10)*2+64<<10 {
			t.Fatalf("peak RSS grew by %d MiB for %d MiB sent", grown>>10, sent>>20)
		}
		for _, c := range conns {
			c.Close()
		}
		conns = nil
		for _, p := range framePorts {
			alive(t, a.addr(p.key), p.max)
		}
		check(t)
	})

	// The HTTP listeners.
	addrOf := func(key string) string {
		if key == "metrics.listen" {
			if a.status.Metrics == "" {
				t.Fatal("no metrics address in /v1/status")
			}
			return a.status.Metrics
		}
		return a.addr(key)
	}
	tcp := func(key string) func() (net.Conn, error) {
		addr := addrOf(key)
		return func() (net.Conn, error) { return net.DialTimeout("tcp", addr, 5*time.Second) }
	}
	getOK := func(url string, want int) func(t *testing.T) {
		return func(t *testing.T) {
			t.Helper()
			rsp, err := http.Get(url)
			if err != nil {
				t.Fatalf("GET %s: %v", url, err)
			}
			io.Copy(io.Discard, rsp.Body)
			rsp.Body.Close()
			if rsp.StatusCode != want {
				t.Fatalf("GET %s: %d, want %d", url, rsp.StatusCode, want)
			}
		}
	}
	sock := filepath.Join(dir, "teamtalkd.sock")
	targets := []httpTarget{
		{name: "login.http", dial: tcp("login.http_listen"), path: "/msg_server", idle: idle,
			probe: getOK("http://"+a.addr("login.http_listen")+"/msg_server", 200)},
		{name: "msfs", dial: tcp("msfs.listen"), path: "/", idle: idle,
			probe: getOK("http://"+a.addr("msfs.listen")+"/g0/000/000/none.png", 404)},
		{name: "httpmsg", dial: tcp("httpmsg.listen"), path: "/query/CreateGroup", idle: idle,
			valid: "POST /query/CreateGroup HTTP/1.1\r\nHost: x\r\nContent-Length: 28\r\n\r\n{\"app_key\":\"wrong-key-0000\"}",
			probe: func(t *testing.T) {
				m := apiPost(t, a, "CreateGroup", `{"req_user_id":1,"app_key":"wrong-key-0000","group_name":"x","group_type":1,"group_avatar":"","user_id_list":[1,2]}`)
				if m["error_code"] == nil || m["error_code"] == float64(0) {
					t.Fatalf("CreateGroup with a wrong key: %v", m)
				}
			}},
		{name: "metrics", dial: tcp("metrics.listen"), path: "/metrics", idle: serviceHTTPIdle,
			probe: getOK("http://"+addrOf("metrics.listen")+"/metrics", 200)},
		{name: "control", dial: func() (net.Conn, error) { return net.DialTimeout("unix", sock, 5*time.Second) },
			path: ctlapi.PathUsers, idle: serviceHTTPIdle,
			probe: func(t *testing.T) {
				ctx, cancel := ctx10()
				defer cancel()
				if _, err := a.ctl.Status(ctx); err != nil {
					t.Fatalf("control API: %v", err)
				}
			}},
	}
	type httpCase struct {
		name    string
		req     func(path string) string
		answers int  // the most responses allowed
		refused bool // every response must be 4xx/5xx
	}
	httpCases := []httpCase{
		{"conflicting Content-Length", func(p string) string {
			return "POST " + p + " HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 48\r\n\r\nhelloGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
		}, 1, true},
		{"Content-Length and Transfer-Encoding with a request behind", func(p string) string {
			return "POST " + p + " HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
		}, 1, false},
		{"obfuscated Transfer-Encoding", func(p string) string {
			return "POST " + p + " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
		}, 1, true},
		{"two Transfer-Encodings", func(p string) string {
			return "POST " + p + " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
		}, 1, true},
		{"negative Content-Length", func(p string) string {
			return "POST " + p + " HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"
		}, 1, true},
		{"chunk size overflowing 64 bits", func(p string) string {
			return "POST " + p + " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\nxx\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
		}, 1, false},
		{"2 MiB of headers", func(p string) string {
			return "GET " + p + " HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("p", 1000)+"\r\n", 2048) + "\r\n"
		}, 1, true},
		{"2 MiB request line", func(p string) string {
			return "GET " + p + "?" + strings.Repeat("q", 2<<20) + " HTTP/1.1\r\nHost: x\r\n\r\n"
		}, 1, true},
		{"random bytes", func(string) string { return string(randomBytes(12, 64<<10)) }, 1, true},
		{"NUL in a header", func(p string) string {
			return "GET " + p + " HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n"
		}, 1, true},
	}
	for _, tg := range targets {
		for _, hc := range httpCases {
			t.Run(tg.name+"/"+hc.name, func(t *testing.T) {
				statuses, closed := exchange(t, tg, hc.req(tg.path))
				if !closed {
					t.Fatalf("not closed within 20 s (answers %v)", statuses)
				}
				if len(statuses) > hc.answers {
					t.Fatalf("answered %v: a smuggled request was served", statuses)
				}
				for _, s := range statuses {
					if hc.refused && s < 400 {
						t.Fatalf("answered %v, want a refusal", statuses)
					}
				}
				tg.probe(t)
			})
		}
	}
	t.Run("control/bad JSON and huge bodies refused", func(t *testing.T) {
		tg := targets[len(targets)-1]
		post := func(body string) string {
			return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", ctlapi.PathUsers, len(body), body)
		}
		for _, body := range []string{"{", `{"name": 5}`, "[]", `{"name":"x","password":"y"}` + "garbage", `{"name":"` + strings.Repeat("n", 32<<20) + `"}`} {
			statuses, closed := exchange(t, tg, post(body))
			if !closed || len(statuses) != 1 || statuses[0] < 400 || statuses[0] >= 500 {
				t.Fatalf("body %.40q...: answered %v (closed %v), want one 4xx", body, statuses, closed)
			}
		}
		tg.probe(t)
	})
	t.Run("partial headers and idle connections closed by the idle timeout", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 4*len(targets))
		for _, tg := range targets {
			for _, slow := range []bool{true, false} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- slowClient(tg, slow)
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		for _, tg := range targets {
			tg.probe(t)
		}
	})
	check(t)

	t.Run("memory bounded, every service running, never restarted", func(t *testing.T) {
		rss, hwm := applianceRSS(t, a)
		t.Logf("teamtalkd RSS %d MiB, peak %d MiB (peak %d MiB before the corpus)", rss>>10, hwm>>10, hwm0>>10)
		if hwm-hwm0 > 256<<10 {
			t.Errorf("peak RSS grew by %d MiB over the corpus", (hwm-hwm0)>>10)
		}
		ctx, cancel := ctx10()
		defer cancel()
		st, err := a.ctl.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range st.Services {
			if s.State == ctlapi.StateUnavailable {
				continue
			}
			if s.State != ctlapi.StateRunning || s.Restarts != 0 || s.LastError != "" {
				t.Errorf("service %s: %s, %d restarts, last error %q", s.Name, s.State, s.Restarts, s.LastError)
			}
		}
	})
}

// slowClient plays slowloris against tg (slow: headers one byte every
// 200 ms, never finished) or an idle keep-alive client (one whole request,
// then silence), and requires the server to close the connection within
// its idle timeout and a margin.
func slowClient(tg httpTarget, slow bool) error {
	what := tg.name + " idle keep-alive"
	if slow {
		what = tg.name + " slowloris"
	}
	c, err := tg.dial()
	if err != nil {
		return fmt.Errorf("%s: dial: %w", what, err)
	}
	defer c.Close()
	limit := tg.idle + 5*time.Second
	started := time.Now()
	c.SetDeadline(started.Add(limit))
	closed := make(chan error, 1)
	go func() {
		br := bufio.NewReader(c)
		if !slow {
			rsp, err := http.ReadResponse(br, nil)
			if err != nil {
				closed <- fmt.Errorf("%s: the request was not answered: %w", what, err)
				return
			}
			io.Copy(io.Discard, rsp.Body)
			rsp.Body.Close()
		}
		_, err := io.Copy(io.Discard, br)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			closed <- fmt.Errorf("%s: still open after %v", what, limit)
			return
		}
		closed <- nil
	}()
	if !slow {
		req := tg.valid
		if req == "" {
			req = "GET " + tg.path + " HTTP/1.1\r\nHost: x\r\n\r\n"
		}
		if _, err := io.WriteString(c, req); err != nil {
			return fmt.Errorf("%s: write: %w", what, err)
		}
		return <-closed
	}
	req := "GET " + tg.path + " HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("s", 1000)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case err := <-closed:
			return err
		case <-tick.C:
			if _, err := c.Write([]byte{req[i%len(req)]}); err != nil {
				return nil // closed by the server
			}
		}
	}
}
