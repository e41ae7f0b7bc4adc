package msfs

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// BenchmarkParseUpload measures the multipart search over a 1 MiB upload.
func BenchmarkParseUpload(b *testing.B) {
	body := multipartBody("photo_640x480.png", pngBytes(1<<20))
	ct := "multipart/form-data; boundary=" + testBoundary
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, code := ParseUpload(ct, body); code != CodeOK {
			b.Fatal(code)
		}
	}
}

// BenchmarkUploadDownload measures one 100 KiB image stored (synced to
// disk) and read back over HTTP on loopback.
func BenchmarkUploadDownload(b *testing.B) {
	r := startMsfs(b, b.TempDir(), nil)
	body := multipartBody("a.png", pngBytes(100<<10))
	ct := "multipart/form-data; boundary=" + testBoundary
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		rsp, err := http.Post("http://"+r.addr+"/", ct, bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		ans, _ := io.ReadAll(rsp.Body)
		rsp.Body.Close()
		url := answerURL(b, ans)
		g, err := http.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, g.Body)
		g.Body.Close()
		if g.StatusCode != 200 || n != 100<<10 {
			b.Fatalf("GET %s: %d, %d bytes", url, g.StatusCode, n)
		}
	}
}

// answerURL returns the url of a successful upload answer.
func answerURL(b *testing.B, ans []byte) string {
	var a struct {
		Code int    `json:"error_code"`
		URL  string `json:"url"`
	}
	if err := json.Unmarshal(ans, &a); err != nil || a.Code != 0 {
		b.Fatalf("answer %s: %v", ans, err)
	}
	return a.URL
}
