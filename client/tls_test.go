package client

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"teamtalk/internal/testcert"
)

func TestDialTLS(t *testing.T) {
	dir := t.TempDir()
	good, err := testcert.New(dir, "server")
	if err != nil {
		t.Fatal(err)
	}
	other, err := testcert.New(dir, "other")
	if err != nil {
		t.Fatal(err)
	}
	kp, err := tls.LoadX509KeyPair(good.CertFile, good.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	tln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{kp}})
	if err != nil {
		t.Fatal(err)
	}
	defer tln.Close()
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	// The TLS server completes handshakes and holds connections; the plain
	// one accepts and never answers.
	done := make(chan struct{})
	defer close(done)
	for _, ln := range []net.Listener{tln, plain} {
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					if tc, ok := c.(*tls.Conn); ok {
						_ = tc.Handshake()
					}
					<-done
				}()
			}
		}()
	}
	cases := []struct {
		name    string
		addr    string
		cfg     *tls.Config
		timeout time.Duration
		wantErr string
	}{
		{"trusted certificate", tln.Addr().String(), good.ClientConfig(), 10 * time.Second, ""},
		{"unknown authority", tln.Addr().String(), other.ClientConfig(), 10 * time.Second, "certificate"},
		{"plain server: handshake bounded by the context", plain.Addr().String(), good.ClientConfig(), 300 * time.Millisecond, "tls handshake"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			c, err := Dial(ctx, tc.addr, Options{TLS: tc.cfg})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if _, ok := c.conn.(*tls.Conn); !ok {
					t.Fatalf("conn is %T, want *tls.Conn", c.conn)
				}
				return
			}
			if err == nil {
				c.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %q does not mention %q", err, tc.wantErr)
			}
		})
	}
}
