package ctlserver_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"teamtalk/appliance"
	"teamtalk/state"
	"teamtalk/state/boltstore"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// openBolt opens a bolt IM store (no fsync) in dir, closed when the test
// ends (after the supervisor, started later).
func openBolt(t *testing.T, dir string) state.Store {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(dir, "im.db"), boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// socketHTTP is an HTTP client whose every connection goes to the control
// socket sock.
func socketHTTP(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
}

// request sends method path with body to the control API and returns the
// reply's status and body.
func request(t *testing.T, hc *http.Client, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://teamtalkd"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestAdminEndpoints(t *testing.T) {
	dir := t.TempDir()
	st := openBolt(t, dir)
	var logs syncBuffer
	_, sock := liveOpts(t, dir, func(o *appliance.Options) {
		o.Store = st
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	hc := socketHTTP(sock)
	const secret = "Very$ecret-7"
	tests := []struct {
		name, method, path, body string
		code                     int
		want                     string // in the reply body
	}{
		{name: "list empty", method: "GET", path: "/v1/users", code: 200, want: "[]"},
		{name: "add", method: "POST", path: "/v1/users", body: `{"name":"alice","password":"` + secret + `","nick":"Alice"}`, code: 200, want: `"nick": "Alice"`},
		{name: "add again", method: "POST", path: "/v1/users", body: `{"name":"alice","password":"` + secret + `"}`, code: 409, want: "already exists"},
		{name: "unknown field", method: "POST", path: "/v1/users", body: `{"name":"b","password":"` + secret + `","pasword":"x"}`, code: 400, want: "unknown field"},
		{name: "not json", method: "POST", path: "/v1/users", body: `name=b&password=` + secret, code: 400, want: "bad request body"},
		{name: "empty name", method: "POST", path: "/v1/users", body: `{"password":"` + secret + `"}`, code: 400, want: "empty user name"},
		{name: "empty password", method: "POST", path: "/v1/users", body: `{"name":"b"}`, code: 400, want: "empty password"},
		{name: "too big", method: "POST", path: "/v1/users", body: `{"name":"` + strings.Repeat("x", 70000) + `"}`, code: 413, want: "over 65536 bytes"},
		{name: "unknown depart", method: "POST", path: "/v1/users", body: `{"name":"b","password":"p","depart":"7"}`, code: 404, want: "no department with id 7"},
		{name: "passwd", method: "POST", path: "/v1/users/alice/password", body: `{"password":"` + secret + `2"}`, code: 200, want: `"name": "alice"`},
		{name: "passwd empty", method: "POST", path: "/v1/users/alice/password", body: `{"password":""}`, code: 400, want: "empty password"},
		{name: "passwd unknown user", method: "POST", path: "/v1/users/zed/password", body: `{"password":"x"}`, code: 404, want: `no user named \"zed\"`},
		{name: "set", method: "PATCH", path: "/v1/users/alice", body: `{"status":3}`, code: 200, want: `"status": 3`},
		{name: "set bad status", method: "PATCH", path: "/v1/users/alice", body: `{"status":9}`, code: 400, want: "status 9"},
		{name: "set nothing", method: "PATCH", path: "/v1/users/alice", body: `{}`, code: 400, want: "nothing to change"},
		{name: "import empty", method: "POST", path: "/v1/users/import", body: `{"rows":[]}`, code: 400, want: "no users given"},
		{name: "import", method: "POST", path: "/v1/users/import", body: `{"password":"` + secret + `","rows":[{"line":1,"name":"c"},{"line":2,"name":"d"}]}`, code: 200, want: `"added": 2`},
		{name: "import bad row", method: "POST", path: "/v1/users/import", body: `{"password":"p","rows":[{"line":1,"name":"e"},{"line":5,"name":"c"}]}`, code: 409, want: `line 5: user \"c\" already exists; nothing was imported`},
		{name: "departs empty", method: "GET", path: "/v1/departs", code: 200, want: "[]"},
		{name: "depart add", method: "POST", path: "/v1/departs", body: `{"name":"Eng","priority":3}`, code: 200, want: `"priority": 3`},
		{name: "depart add again", method: "POST", path: "/v1/departs", body: `{"name":"Eng"}`, code: 409, want: "already exists"},
		{name: "depart bad parent", method: "POST", path: "/v1/departs", body: `{"name":"Ops","parent":"Nope"}`, code: 404, want: "no department named"},
		{name: "depart empty name", method: "POST", path: "/v1/departs", body: `{}`, code: 400, want: "department name empty"},
		{name: "list", method: "GET", path: "/v1/users", code: 200, want: `"name": "d"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, b := request(t, hc, tc.method, tc.path, tc.body)
			if code != tc.code || !strings.Contains(string(b), tc.want) {
				t.Fatalf("%s %s = %d %s; want %d with %q", tc.method, tc.path, code, b, tc.code, tc.want)
			}
			if strings.Contains(string(b), secret) || strings.Contains(strings.ToLower(string(b)), "salt") {
				t.Fatalf("reply shows a password or salt: %s", b)
			}
		})
	}
	if strings.Contains(logs.String(), secret) {
		t.Fatalf("a password reached the log:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "user added") {
		t.Fatalf("no admin log lines:\n%s", logs.String())
	}
}
