package httpguard

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHandler pipelines a request behind another on one connection and
// counts the answers: behind a chunked request (with or without a
// conflicting Content-Length) the second is never served, behind a plain
// one it is.
func TestHandler(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, r.URL.Path)
	})), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	const behind = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	tests := []struct {
		name  string
		first string
		want  []string
	}{
		{"chunked and Content-Length", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", []string{"/a"}},
		{"chunked", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", []string{"/a"}},
		{"Content-Length only: keep-alive works", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", []string{"/a", "/smuggled"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(2 * time.Second))
			if _, err := io.WriteString(c, tc.first+behind); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			var got []string
			for len(got) < 2 {
				rsp, err := http.ReadResponse(br, nil)
				if err != nil {
					break // closed, or (keep-alive after both answers) the deadline
				}
				b, _ := io.ReadAll(rsp.Body)
				got = append(got, string(b))
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("answered %v, want %v", got, tc.want)
			}
		})
	}
}
