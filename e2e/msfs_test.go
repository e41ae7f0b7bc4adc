package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"teamtalk/client"
)

// msfsUpload posts data as a multipart upload (Go's mime/multipart, as an
// HTTP library would) to base and returns the decoded answer.
func msfsUpload(t *testing.T, base, filename string, data []byte) (code int, path, url string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename="%s"`, filename))
	h.Set("Content-Type", "image/png")
	w, err := mw.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	mw.Close()
	rsp, err := http.Post(base, mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	defer rsp.Body.Close()
	var a struct {
		Code int    `json:"error_code"`
		Path string `json:"path"`
		URL  string `json:"url"`
	}
	b, _ := io.ReadAll(rsp.Body)
	if rsp.StatusCode != 200 || json.Unmarshal(b, &a) != nil {
		t.Fatalf("upload answer %d %q", rsp.StatusCode, b)
	}
	return a.Code, a.Path, a.URL
}

// msfsGet fetches url and returns status, Content-Type and body.
func msfsGet(t *testing.T, url string) (int, string, []byte) {
	t.Helper()
	rsp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer rsp.Body.Close()
	b, err := io.ReadAll(rsp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rsp.StatusCode, rsp.Header.Get("Content-Type"), b
}

// rawStatus sends a request target unmodified (no client-side cleaning).
func rawStatus(t *testing.T, addr, target string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, addr)
	rsp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	rsp.Body.Close()
	return rsp.StatusCode
}

func TestMsfs(t *testing.T) {
	dir := t.TempDir()
	a := start(t, "A", dir)
	addr := a.addr("msfs.listen")
	base := "http://" + addr + "/"

	// A real PNG header, then a megabyte of varied bytes.
	img := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	for i := 0; len(img) < 1<<20; i++ {
		img = append(img, byte(i*31+i>>8))
	}
	code, path, url := msfsUpload(t, base, "photo_640x480.png", img)
	if code != 0 || !strings.HasPrefix(path, "g0/000/000/") || !strings.HasSuffix(path, "_640x480.png") || url != base+path {
		t.Fatalf("upload: code %d path %q url %q", code, path, url)
	}
	if _, err := os.Stat(filepath.Join(dir, "msfs", strings.TrimPrefix(path, "g0/"))); err != nil {
		t.Fatalf("not stored under <data_dir>/msfs: %v", err)
	}

	t.Run("download is identical", func(t *testing.T) {
		st, ct, b := msfsGet(t, url)
		if st != 200 || ct != "image/png" || sha256.Sum256(b) != sha256.Sum256(img) {
			t.Fatalf("status %d, type %q, %d bytes, same sha256: %v", st, ct, len(b), sha256.Sum256(b) == sha256.Sum256(img))
		}
	})

	t.Run("traversal refused", func(t *testing.T) {
		for _, target := range []string{
			"/g0/../../im.db", "/g0/000/000/../../../appliance.db", "/g0/%2e%2e/%2e%2e/im.db",
			"/g0/000/000/%2E%2E%2F%2E%2E%2F%2E%2E%2Fim.db", "//etc/passwd", "/g0//etc/passwd", "/g0/000/000/..%5c..%5cim.db",
		} {
			if st := rawStatus(t, addr, target); st != http.StatusBadRequest {
				t.Errorf("GET %s: %d, want 400", target, st)
			}
		}
	})

	t.Run("too big refused", func(t *testing.T) {
		code, path, _ := msfsUpload(t, base, "big.png", bytes.Repeat([]byte{7}, 5<<20+1))
		if code != 1 || path != "" {
			t.Fatalf("code %d path %q, want 1 and no path", code, path)
		}
	})

	t.Run("login hands out this msfs", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var info client.MsgServerInfo
		eventually(t, 10*time.Second, "a msg server registered with login", func() bool {
			var err error
			info, err = client.Resolve(ctx, "http://"+a.addr("login.http_listen")+"/msg_server")
			return err == nil && info.Code == 0
		})
		if info.MsfsPrior != base || info.MsfsBackup != base {
			t.Fatalf("msfsPrior %q msfsBackup %q, want %q", info.MsfsPrior, info.MsfsBackup, base)
		}
	})

	t.Run("counters", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		svcs, err := a.ctl.Services(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range svcs {
			if s.Name == "msfs" {
				c := s.Counters
				if c["uploads"] != 1 || c["downloads"] != 1 || c["bad_paths"] != 7 || c["upload_too_big"] != 1 || c["bytes_stored"] != uint64(len(img)) {
					t.Fatalf("msfs counters %v", c)
				}
				return
			}
		}
		t.Fatal("no msfs in the status")
	})

	t.Run("served after a restart of msfs", func(t *testing.T) {
		a.restart("msfs")
		st, _, b := msfsGet(t, url)
		if st != 200 || !bytes.Equal(b, img) {
			t.Fatalf("after restart: status %d, %d bytes", st, len(b))
		}
	})
}
