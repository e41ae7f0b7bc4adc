package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// rawServer answers every request with exactly the bytes given (status line
// and headers included), as login_server writes them, and records the paths.
func rawServer(t *testing.T, answer []byte) (*httptest.Server, chan string) {
	t.Helper()
	paths := make(chan string, 8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths <- r.URL.Path
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		buf.Write(answer)
		buf.Flush()
	}))
	t.Cleanup(srv.Close)
	return srv, paths
}

func httpAnswer(body string) []byte {
	return []byte("HTTP/1.1 200 OK\r\nConnection:close\r\nContent-Length:" + strconv.Itoa(len(body)) + "\r\nContent-Type:text/html;charset=utf-8\r\n\r\n" + body)
}

// TestResolveCapture resolves against the exact bytes login_server sent in
// vectors/http_login_msg_server.txt.
func TestResolveCapture(t *testing.T) {
	answer, err := os.ReadFile(filepath.Join(vectorsDir, "http_login_msg_server.txt"))
	if err != nil {
		t.Fatal(err)
	}
	srv, paths := rawServer(t, answer)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := Resolve(ctx, srv.URL+"/msg_server")
	if err != nil {
		t.Fatal(err)
	}
	want := MsgServerInfo{
		PriorIP: "127.0.0.1", BackupIP: "127.0.0.1", Port: 8000,
		MsfsPrior: "http://127.0.0.1:8700/", MsfsBackup: "http://127.0.0.1:8700/",
		Discovery: "http://127.0.0.1/api/discovery", Code: 0, Msg: "",
	}
	if info != want {
		t.Errorf("info = %+v\nwant   %+v", info, want)
	}
	if info.Addr() != "127.0.0.1:8000" || info.BackupAddr() != "127.0.0.1:8000" {
		t.Errorf("Addr = %s, BackupAddr = %s", info.Addr(), info.BackupAddr())
	}
	if p := <-paths; p != "/msg_server" {
		t.Errorf("path %q", p)
	}
	// A bare base URL gets /msg_server.
	if _, err := Resolve(ctx, srv.URL); err != nil {
		t.Fatal(err)
	}
	if p := <-paths; p != "/msg_server" {
		t.Errorf("path %q for a base URL", p)
	}
}

func TestResolveAnswers(t *testing.T) {
	tests := []struct {
		name     string
		answer   []byte
		wantPort int
		wantCode int // a ResolveError's code
		wantErr  bool
	}{
		{"port as a number", httpAnswer(`{"code":0,"msg":"","priorIP":"10.0.0.1","backupIP":"10.0.0.2","port":8001}`), 8001, 0, false},
		{"no msg server", httpAnswer("{\n   \"code\" : 1,\n   \"msg\" : \"没有msg_server\"\n}\n"), 0, 1, true},
		{"load too high", httpAnswer("{\n   \"code\" : 2,\n   \"msg\" : \"负载过高\"\n}\n"), 0, 2, true},
		{"bad port", httpAnswer(`{"code":0,"priorIP":"10.0.0.1","port":"eighty"}`), 0, 0, true},
		{"no address", httpAnswer(`{"code":0,"port":"8000"}`), 0, 0, true},
		{"not JSON", httpAnswer(`<html>`), 0, 0, true},
		{"HTTP error", []byte("HTTP/1.1 500 Internal Server Error\r\nContent-Length:0\r\n\r\n"), 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := rawServer(t, tt.answer)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			info, err := Resolve(ctx, srv.URL+"/msg_server")
			if tt.wantErr != (err != nil) {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			var re *ResolveError
			if tt.wantCode != 0 && (!errors.As(err, &re) || re.Code != tt.wantCode || re.Msg == "") {
				t.Errorf("err = %v, want ResolveError %d", err, tt.wantCode)
			}
			if !tt.wantErr && info.Port != tt.wantPort {
				t.Errorf("port %d, want %d", info.Port, tt.wantPort)
			}
		})
	}
	// A cancelled context ends the request.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Resolve(ctx, "http://127.0.0.1:1/msg_server"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Resolve: %v", err)
	}
}

func FuzzParseMsgServerInfo(f *testing.F) {
	f.Add([]byte("{\n   \"backupIP\" : \"127.0.0.1\",\n   \"code\" : 0,\n   \"port\" : \"8000\",\n   \"priorIP\" : \"127.0.0.1\"\n}\n"))
	f.Add([]byte(`{"code":1,"msg":"x"}`))
	f.Add([]byte(`{"code":0,"priorIP":"a","port":65536}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		info, err := ParseMsgServerInfo(body)
		if err == nil && (info.Port <= 0 || info.Port > 65535 || info.PriorIP == "" || info.Code != 0) {
			t.Fatalf("accepted %+v", info)
		}
	})
}
