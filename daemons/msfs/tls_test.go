package msfs

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"teamtalk/appliance/config"
	"teamtalk/internal/testcert"
)

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	cert, err := testcert.New(dir, "msfs")
	if err != nil {
		t.Fatal(err)
	}
	next, err := testcert.New(dir, "renewed")
	if err != nil {
		t.Fatal(err)
	}
	r := startMsfs(t, t.TempDir(), func(c *config.Config) {
		c.Msfs.TLS = true
		c.TLS.CertFile, c.TLS.KeyFile = cert.CertFile, cert.KeyFile
	})
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cert.ClientConfig()}}
	defer hc.CloseIdleConnections()
	data := pngBytes(3000)

	var url string
	cases := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"upload over https answers an https url", func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, "https://"+r.addr+"/", bytes.NewReader(multipartBody("a.png", data)))
			req.Header.Set("Content-Type", "multipart/form-data; boundary="+testBoundary)
			rsp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer rsp.Body.Close()
			var a struct {
				Code int    `json:"error_code"`
				URL  string `json:"url"`
			}
			if err := json.NewDecoder(rsp.Body).Decode(&a); err != nil || a.Code != 0 {
				t.Fatalf("answer %+v, %v", a, err)
			}
			if !strings.HasPrefix(a.URL, "https://"+r.addr+"/") {
				t.Fatalf("url %q is not https on %s", a.URL, r.addr)
			}
			url = a.URL
		}},
		{"download over https", func(t *testing.T) {
			rsp, err := hc.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			defer rsp.Body.Close()
			got, _ := io.ReadAll(rsp.Body)
			if rsp.StatusCode != 200 || !bytes.Equal(got, data) {
				t.Fatalf("status %d, %d bytes", rsp.StatusCode, len(got))
			}
		}},
		{"plain http is not served", func(t *testing.T) {
			rsp, err := http.Get("http://" + r.addr + "/")
			if err == nil {
				rsp.Body.Close()
				if rsp.StatusCode != http.StatusBadRequest {
					t.Fatalf("plain http answered %d", rsp.StatusCode)
				}
			}
		}},
		{"reload presents the renewed certificate", func(t *testing.T) {
			if err := next.Install(cert.CertFile, cert.KeyFile); err != nil {
				t.Fatal(err)
			}
			if err := r.svc.Reload(config.Default()); err != nil {
				t.Fatal(err)
			}
			c, err := tls.Dial("tcp", r.addr, next.ClientConfig())
			if err != nil {
				t.Fatalf("renewed certificate not served: %v", err)
			}
			c.Close()
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, tc.run)
	}
}
