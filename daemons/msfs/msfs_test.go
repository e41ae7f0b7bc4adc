package msfs

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"teamtalk/appliance/config"
	"teamtalk/daemons"
	"teamtalk/daemons/internal/servicetest"
)

// running is one msfs started on 127.0.0.1:0 for a test.
type running struct {
	svc  *Service
	addr string // bound host:port
	dir  string // storage root
	stop func()
}

// startMsfs runs an msfs with the defaults changed by mod; stop (also run
// by t.Cleanup) cancels it and waits for Run to return.
func startMsfs(t testing.TB, dataDir string, mod func(*config.Config)) *running {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = dataDir
	cfg.Msfs.Listen = "127.0.0.1:0"
	if mod != nil {
		mod(cfg)
	}
	book := &daemons.AddressBook{}
	sv, err := New(daemons.Deps{Name: "msfs", Kind: config.Msfs, Config: cfg, Addrs: book})
	if err != nil {
		t.Fatal(err)
	}
	s := sv.(*Service)
	stop := servicetest.Start(t, s)
	addr, ok := book.Lookup("msfs.listen")
	if !ok {
		t.Fatal("msfs did not publish msfs.listen")
	}
	return &running{svc: s, addr: addr, dir: filepath.Join(dataDir, "msfs"), stop: stop}
}

const testBoundary = "----TeamTalkBoundary7MA4YWxk"

// multipartBody is an upload body as the TeamTalk clients write it.
func multipartBody(filename string, data []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\nContent-Type: image/png\r\n\r\n", testBoundary, filename)
	b.Write(data)
	fmt.Fprintf(&b, "\r\n--%s--\r\n", testBoundary)
	return b.Bytes()
}

// post sends body to the msfs with the given Content-Type and returns the
// status and body of the answer.
func post(t *testing.T, addr, contentType string, body io.Reader) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/", body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer rsp.Body.Close()
	b, err := io.ReadAll(rsp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rsp.StatusCode, b, rsp.Header
}

// upload stores data and returns the answer's path and url.
func upload(t *testing.T, addr, filename string, data []byte) (path, url string) {
	t.Helper()
	code, b, _ := post(t, addr, "multipart/form-data; boundary="+testBoundary, bytes.NewReader(multipartBody(filename, data)))
	var a struct {
		Code int    `json:"error_code"`
		Path string `json:"path"`
		URL  string `json:"url"`
	}
	if err := json.Unmarshal(b, &a); err != nil || code != 200 || a.Code != 0 {
		t.Fatalf("upload %s: %d %s (%v)", filename, code, b, err)
	}
	return a.Path, a.URL
}

// rawGet sends a request line as is (no client-side cleaning) and returns
// the status code.
func rawGet(t *testing.T, addr, target string) int {
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

// pngBytes is a small real PNG header followed by filler.
func pngBytes(n int) []byte {
	b := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	for len(b) < n {
		b = append(b, byte(len(b)*7))
	}
	return b[:n]
}

func TestUploadErrorCodes(t *testing.T) {
	r := startMsfs(t, t.TempDir(), func(c *config.Config) {
		c.Msfs.MaxFileSize = 1000
		c.Msfs.MaxRequestSize = 4000
	})
	ct := "multipart/form-data; boundary=" + testBoundary
	part := func(headers, data, tail string) string {
		return "--" + testBoundary + "\r\n" + headers + data + tail
	}
	okHeaders := func(name string) string {
		return "Content-Disposition: form-data; name=\"file\"; filename=\"" + name + "\"\r\nContent-Type: image/png\r\n\r\n"
	}
	closing := "\r\n--" + testBoundary + "--\r\n"
	tooBig := `{"error_code":1,"error_msg": "上传文件过大","url":""}`
	bad := func(code int) string {
		return fmt.Sprintf(`{"error_code":%d,"error_msg": "格式错误","path":"","url":""}`, code)
	}
	tests := []struct {
		name, contentType, body, want string
	}{
		{"1 request over max_request_size", ct, part(okHeaders("a.png"), strings.Repeat("x", 4100), closing), tooBig},
		{"1 file over max_file_size (stored by the reference)", ct, part(okHeaders("a.png"), strings.Repeat("x", 1001), closing), tooBig},
		{"2 no Content-Disposition", ct, part("Content-Type: image/png\r\n\r\n", "data", closing), bad(2)},
		{"3 no filename", ct, part("Content-Disposition: form-data; name=\"file\"\r\nContent-Type: image/png\r\n\r\n", "data", closing), bad(3)},
		{"3 filename without quotes", ct, part("Content-Disposition: form-data; filename=a.png\r\nContent-Type: image/png\r\n\r\n", "data", closing), bad(3)},
		{"4 no boundary in Content-Type", "multipart/form-data", part(okHeaders("a.png"), "data", closing), bad(4)},
		{"5 boundary not in body", "multipart/form-data; boundary=other-boundary", part(okHeaders("a.png"), "data", closing), bad(5)},
		{"6 no Content-Type in the part", ct, part("Content-Disposition: form-data; filename=\"a.png\"\r\n\r\n", "data", closing), bad(6)},
		{"7 no blank line after the part headers", ct, part("Content-Disposition: form-data; filename=\"a.png\"\r\nContent-Type: image/png\r\n", "data", ""), bad(7)},
		{"8 no closing boundary", ct, part(okHeaders("a.png"), "data without end", ""), bad(8)},
		{"9 extension over 15 chars", ct, part(okHeaders("a.abcdefghijklmnop"), "data", closing), bad(9)},
		{"9 extension with a slash", ct, part(okHeaders("a./../../x"), "data", closing), bad(9)},
		{"9 empty extension", ct, part(okHeaders("a."), "data", closing), bad(9)},
		{"10 no dot", ct, part(okHeaders("noext"), "data", closing), bad(10)},
		{"11 filename over 255 bytes", ct, part(okHeaders(strings.Repeat("n", 256)+".png"), "data", closing), bad(11)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, b, h := post(t, r.addr, tc.contentType, strings.NewReader(tc.body))
			if code != 200 || string(b) != tc.want {
				t.Fatalf("got %d %s\nwant 200 %s", code, b, tc.want)
			}
			if got := h.Get("Content-Type"); got != "text/html;charset=utf-8" {
				t.Errorf("Content-Type %q", got)
			}
		})
	}
	t.Run("1 chunked body over max_request_size", func(t *testing.T) {
		body := part(okHeaders("a.png"), strings.Repeat("x", 5000), closing)
		// A reader without a length makes the client send it chunked.
		code, b, _ := post(t, r.addr, ct, io.MultiReader(strings.NewReader(body)))
		if code != 200 || string(b) != tooBig {
			t.Fatalf("got %d %s", code, b)
		}
	})
	if n := r.svc.Status().Counters["upload_too_big"]; n != 3 {
		t.Errorf("upload_too_big = %d, want 3", n)
	}
	if n := r.svc.Status().Counters["uploads"]; n != 0 {
		t.Errorf("uploads = %d, want 0 (nothing stored)", n)
	}
	if entries, _ := os.ReadDir(r.dir); len(entries) != 0 {
		t.Errorf("storage holds %d entries after refused uploads", len(entries))
	}
}

func TestUploadGoldenAnswer(t *testing.T) {
	r := startMsfs(t, t.TempDir(), nil)
	code, b, h := post(t, r.addr, "multipart/form-data; boundary="+testBoundary, bytes.NewReader(multipartBody("photo_200x100.png", pngBytes(300))))
	if code != 200 || h.Get("Content-Type") != "text/html;charset=utf-8" {
		t.Fatalf("status %d, Content-Type %q", code, h.Get("Content-Type"))
	}
	re := regexp.MustCompile(`^\{"error_code":0,"error_msg": "成功","path":"(g0/000/000/[0-9]{16}_[0-9a-f]{16}_200x100\.png)","url":"http://([^"]+)/(g0/[^"]+)"\}$`)
	m := re.FindSubmatch(b)
	if m == nil {
		t.Fatalf("answer %s does not match %s", b, re)
	}
	if string(m[2]) != r.addr || string(m[3]) != string(m[1]) {
		t.Fatalf("url host %s path %s; want host %s path %s", m[2], m[3], r.addr, m[1])
	}
	want := fmt.Sprintf(`{"error_code":0,"error_msg": "成功","path":"%s","url":"http://%s/%s"}`, m[1], r.addr, m[1])
	if string(b) != want {
		t.Fatalf("answer\n%s\nwant\n%s", b, want)
	}
	if _, err := os.Stat(filepath.Join(r.dir, strings.TrimPrefix(string(m[1]), "g0/"))); err != nil {
		t.Fatalf("stored file: %v", err)
	}
}

func TestUploadUsesHostHeader(t *testing.T) {
	r := startMsfs(t, t.TempDir(), nil)
	body := multipartBody("a.jpg", []byte("\xff\xd8\xff\xe0 jpeg"))
	req, _ := http.NewRequest(http.MethodPost, "http://"+r.addr+"/anything/at/all", bytes.NewReader(body))
	req.Host = "im.example.com:8700"
	req.Header.Set("Content-Type", "multipart/form-data; boundary="+testBoundary)
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	var a struct{ URL, Path string }
	if err := json.NewDecoder(rsp.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	if a.URL != "http://im.example.com:8700/"+a.Path {
		t.Fatalf("url %q path %q", a.URL, a.Path)
	}
}

func TestUploadDownloadIdentical(t *testing.T) {
	r := startMsfs(t, t.TempDir(), nil)
	tests := []struct {
		name, filename string
		data           []byte
		ctype          string
	}{
		{"png image", "shot.png", pngBytes(64 << 10), "image/png"},
		{"PNG upper-case extension", "shot.PNG", pngBytes(1000), "image/PNG"},
		{"gif", "anim.gif", append([]byte("GIF89a"), bytes.Repeat([]byte{1}, 100)...), "image/gif"},
		{"jpeg named jpg", "p.jpg", append([]byte("\xff\xd8\xff\xe0"), bytes.Repeat([]byte{2}, 5000)...), "image/jpg"},
		{"audio clip", "1.audio", append([]byte("OggS\x00"), bytes.Repeat([]byte{3}, 3000)...), "application/ogg"},
		{"unknown binary", "1.audio", bytes.Repeat([]byte{0, 3}, 300), "application/octet-stream"},
		{"html is not served as a page", "x.png", []byte("<html><script>alert(1)</script></html>"), "application/octet-stream"},
		{"binary exactly at the limit", "big.png", pngBytes(5 << 20), "image/png"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, url := upload(t, r.addr, tc.filename, tc.data)
			rsp, err := http.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			defer rsp.Body.Close()
			got, err := io.ReadAll(rsp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if rsp.StatusCode != 200 || sha256.Sum256(got) != sha256.Sum256(tc.data) {
				t.Fatalf("status %d, %d bytes, sha256 differs: %v", rsp.StatusCode, len(got), sha256.Sum256(got) != sha256.Sum256(tc.data))
			}
			h := rsp.Header
			if h.Get("Content-Type") != tc.ctype || h.Get("X-Content-Type-Options") != "nosniff" ||
				!strings.Contains(h.Get("Cache-Control"), "max-age") || h.Get("ETag") == "" || h.Get("Last-Modified") == "" {
				t.Fatalf("headers %v, want Content-Type %s", h, tc.ctype)
			}
		})
	}
	st := r.svc.Status().Counters
	if st["uploads"] != uint64(len(tests)) || st["downloads"] != uint64(len(tests)) || st["errors"] != 0 || st["bytes_stored"] == 0 || st["bytes_served"] != st["bytes_stored"] {
		t.Fatalf("counters %v", st)
	}
}

func TestDownloadRangeAndCaching(t *testing.T) {
	r := startMsfs(t, t.TempDir(), nil)
	data := pngBytes(10000)
	_, url := upload(t, r.addr, "r.png", data)
	get := func(h map[string]string) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		rsp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer rsp.Body.Close()
		b, _ := io.ReadAll(rsp.Body)
		return rsp, b
	}
	first, _ := get(nil)
	tests := []struct {
		name    string
		headers map[string]string
		status  int
		body    []byte
	}{
		{"middle range", map[string]string{"Range": "bytes=100-199"}, 206, data[100:200]},
		{"suffix range", map[string]string{"Range": "bytes=-10"}, 206, data[len(data)-10:]},
		{"open range", map[string]string{"Range": "bytes=9990-"}, 206, data[9990:]},
		{"unsatisfiable range", map[string]string{"Range": "bytes=20000-"}, 416, nil},
		{"etag matches", map[string]string{"If-None-Match": first.Header.Get("ETag")}, 304, nil},
		{"not modified since", map[string]string{"If-Modified-Since": first.Header.Get("Last-Modified")}, 304, nil},
		{"if-range with the etag", map[string]string{"Range": "bytes=0-3", "If-Range": first.Header.Get("ETag")}, 206, data[:4]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rsp, b := get(tc.headers)
			if rsp.StatusCode != tc.status || (tc.body != nil && !bytes.Equal(b, tc.body)) {
				t.Fatalf("status %d (want %d), body %d bytes (want %d)", rsp.StatusCode, tc.status, len(b), len(tc.body))
			}
		})
	}
	req, _ := http.NewRequest(http.MethodHead, url, nil)
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rsp.Body.Close()
	if rsp.StatusCode != 200 || rsp.ContentLength != int64(len(data)) {
		t.Fatalf("HEAD: %d, length %d", rsp.StatusCode, rsp.ContentLength)
	}
}

func TestDownloadRefusals(t *testing.T) {
	dataDir := t.TempDir()
	r := startMsfs(t, dataDir, nil)
	path, _ := upload(t, r.addr, "a.png", pngBytes(100))
	// Something outside the storage root an escape would reach.
	if err := os.WriteFile(filepath.Join(dataDir, "secret.txt"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.dir, "000", "000", ".hidden.png"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, target string
		status       int
	}{
		{"the stored file", "/" + path, 200},
		{"any group name", "/g7/" + strings.TrimPrefix(path, "g0/"), 200},
		{"dot dot", "/g0/../../secret.txt", 400},
		{"dot dot inside the path", "/g0/000/../../../secret.txt", 400},
		{"encoded dot dot", "/g0/%2e%2e/%2e%2e/secret.txt", 400},
		{"encoded upper-case dot dot", "/g0/000/000/%2E%2E%2F%2E%2E%2F%2E%2E%2Fsecret.txt", 400},
		{"encoded slashes and dots", "/g0%2f..%2f..%2fsecret.txt", 400},
		{"absolute path", "//etc/passwd", 400},
		{"absolute path after the group", "/g0//etc/passwd", 400},
		{"absolute path as the name", "/g0/000/000//etc/passwd", 400},
		{"backslashes", "/g0/000/000/..%5c..%5csecret.txt", 400},
		{"backslash", "/g0/000/000/a%5cb.png", 400},
		{"NUL byte", "/g0/000/000/a%00.png", 400},
		{"hidden file", "/g0/000/000/.hidden.png", 400},
		{"the counter file", "/g0/000/000/../../filecnt", 400},
		{"trailing slash", "/g0/000/000/", 400},
		{"missing file", "/g0/000/000/1426576822906531_0000000000000000.png", 404},
		{"no slash", "/nofile", 404},
		{"too few segments", "/g0/000/a.png", 404},
		{"too many segments", "/g0/000/000/000/a.png", 404},
		{"directory numbers not three digits", "/g0/0/000/a.png", 404},
		{"a directory", "/g0/000/000/000", 404},
		{"query strings ignored", "/" + path + "?w=100", 200},
		{"dot dot in the query", "/" + path + "?x=../../secret.txt", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := rawGet(t, r.addr, tc.target); got != tc.status {
				t.Fatalf("GET %s: %d, want %d", tc.target, got, tc.status)
			}
		})
	}
	for _, m := range []string{http.MethodPut, http.MethodDelete, http.MethodOptions} {
		req, _ := http.NewRequest(m, "http://"+r.addr+"/"+path, nil)
		rsp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		rsp.Body.Close()
		if rsp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", m, rsp.StatusCode)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dataDir, "secret.txt")); string(b) != "secret" {
		t.Fatal("secret changed")
	}
	st := r.svc.Status().Counters
	if st["bad_paths"] != 15 || st["not_found"] != 6 || st["forbidden"] != 3 {
		t.Fatalf("counters %v", st)
	}
}

func TestLayoutAndCountSurviveRestart(t *testing.T) {
	dataDir := t.TempDir()
	one := func(c *config.Config) { c.Msfs.FilesPerDir = 1 }
	r := startMsfs(t, dataDir, one)
	var paths []string
	for i := range 3 {
		p, _ := upload(t, r.addr, fmt.Sprintf("f%d.png", i), pngBytes(50+i))
		paths = append(paths, p)
	}
	r.stop()
	r = startMsfs(t, dataDir, one)
	p, _ := upload(t, r.addr, "f3.png", pngBytes(60))
	paths = append(paths, p)
	for i, want := range []string{"g0/000/000/", "g0/000/001/", "g0/000/002/", "g0/000/003/"} {
		if !strings.HasPrefix(paths[i], want) {
			t.Errorf("file %d at %s, want under %s", i, paths[i], want)
		}
		// Files stored before the restart are still served.
		if got := rawGet(t, r.addr, "/"+paths[i]); got != 200 {
			t.Errorf("GET %s after restart: %d", paths[i], got)
		}
	}
	if n := r.svc.Status().Counters["files"]; n != 4 {
		t.Errorf("files = %d, want 4", n)
	}
	tmp, _ := filepath.Glob(filepath.Join(r.dir, "*", "*", ".tmp-*"))
	if len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}

func TestConfiguredDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "images")
	r := startMsfs(t, t.TempDir(), func(c *config.Config) { c.Msfs.Dir = dir })
	p, _ := upload(t, r.addr, "a.png", pngBytes(10))
	if _, err := os.Stat(filepath.Join(dir, strings.TrimPrefix(p, "g0/"))); err != nil {
		t.Fatal(err)
	}
}

func TestIdleConnectionClosed(t *testing.T) {
	r := startMsfs(t, t.TempDir(), func(c *config.Config) { c.Msfs.IdleTimeout = config.Duration(200 * time.Millisecond) })
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Half a request, then silence: the server closes the connection.
	fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000\r\n\r\nabc")
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("connection not closed by the server: %v", err)
	}
	if strings.Contains(string(b), "error_code\":0") {
		t.Fatalf("answered %q", b)
	}
}

func TestLeaf(t *testing.T) {
	tests := []struct {
		n, k uint64
		want string
	}{
		{0, 30000, "000/000"},
		{29999, 30000, "000/000"},
		{30000, 30000, "000/001"},
		{30000 * 254, 30000, "000/254"},
		{30000 * 255, 30000, "001/000"},
		{30000*255*255 + 30000*3, 30000, "255/003"},
		{30000 * 255 * 256, 30000, "000/000"}, // wraps past 255
		{7, 1, "000/007"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.n, "/", tc.k), func(t *testing.T) {
			if got := leaf(tc.n, tc.k); got != tc.want {
				t.Fatalf("leaf(%d, %d) = %s, want %s", tc.n, tc.k, got, tc.want)
			}
		})
	}
}

func TestContentType(t *testing.T) {
	png := pngBytes(100)
	tests := []struct {
		name, file string
		head       []byte
		want       string
	}{
		{"png", "a.png", png, "image/png"},
		{"reference's upper-case rule", "a.JPEG", []byte("\xff\xd8\xff\xe0"), "image/JPEG"},
		{"png bytes named jpg keep the reference's type", "a.jpg", png, "image/jpg"},
		{"image under another extension", "a.bmp", []byte("BM\x00\x00\x00\x00\x00\x00\x00\x00"), "image/bmp"},
		{"html named png", "a.png", []byte("<!DOCTYPE html><p>"), "application/octet-stream"},
		{"svg", "a.svg", []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>`), "application/octet-stream"},
		{"plain text", "a.txt", []byte("hello"), "application/octet-stream"},
		{"unknown binary", "1.audio", []byte{0, 1, 2, 3}, "application/octet-stream"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ContentType(tc.file, tc.head); got != tc.want {
				t.Fatalf("ContentType(%s) = %q, want %q", tc.file, got, tc.want)
			}
		})
	}
}

func TestDims(t *testing.T) {
	tests := []struct{ base, want string }{
		{"photo_200x100", "_200x100"},
		{"a_b_0640x0480", "_640x480"},
		{"photo", ""},
		{"photo_12345x1", ""},
		{"photo_x100", ""},
		{"photo_100x", ""},
		{"photo_1ax2", ""},
		{"photo_1x2x3", ""},
	}
	for _, tc := range tests {
		t.Run(tc.base, func(t *testing.T) {
			if got := dims(tc.base); got != tc.want {
				t.Fatalf("dims(%q) = %q, want %q", tc.base, got, tc.want)
			}
		})
	}
}

func TestNewRejectsBadSettings(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*config.MsfsCfg)
	}{
		{"files per dir", func(c *config.MsfsCfg) { c.FilesPerDir = 0 }},
		{"max file size", func(c *config.MsfsCfg) { c.MaxFileSize = 0 }},
		{"request below file", func(c *config.MsfsCfg) { c.MaxRequestSize = c.MaxFileSize - 1 }},
		{"idle timeout", func(c *config.MsfsCfg) { c.IdleTimeout = 0 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			tc.mod(&cfg.Msfs)
			if _, err := New(daemons.Deps{Name: "msfs", Config: cfg, Addrs: &daemons.AddressBook{}}); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
}
