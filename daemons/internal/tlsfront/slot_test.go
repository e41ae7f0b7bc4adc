package tlsfront

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"testing"

	"teamtalk/appliance/config"
	"teamtalk/internal/testcert"
)

func TestSlot(t *testing.T) {
	dir := t.TempDir()
	cert, err := testcert.New(dir, "slot")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.TLS.CertFile, cfg.TLS.KeyFile = cert.CertFile, cert.KeyFile
	listen := func() net.Listener {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		return ln
	}

	t.Run("off leaves the listener plain and reload does nothing", func(t *testing.T) {
		var s Slot
		ln := listen()
		got, err := s.Wrap(false, cfg, &http.Server{}, ln)
		if err != nil || got != ln {
			t.Fatalf("Wrap(false) = %v, %v", got, err)
		}
		if subject, err := s.Reload(); subject != "" || err != nil {
			t.Fatalf("Reload = %q, %v", subject, err)
		}
	})
	t.Run("on serves TLS and reloads a renewed certificate", func(t *testing.T) {
		var s Slot
		got, err := s.Wrap(true, cfg, &http.Server{}, listen())
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			if c, err := got.Accept(); err == nil {
				c.(*tls.Conn).Handshake()
				c.Close()
			}
		}()
		c, err := tls.Dial("tcp", got.Addr().String(), cert.ClientConfig())
		if err != nil {
			t.Fatalf("TLS handshake: %v", err)
		}
		c.Close()
		renewed, err := testcert.New(t.TempDir(), "renewed")
		if err != nil {
			t.Fatal(err)
		}
		if err := renewed.Install(cfg.TLS.CertFile, cfg.TLS.KeyFile); err != nil {
			t.Fatal(err)
		}
		if subject, err := s.Reload(); err != nil || subject == "" {
			t.Fatalf("Reload = %q, %v", subject, err)
		}
	})
	t.Run("a bad certificate closes the listener and fails", func(t *testing.T) {
		var s Slot
		bad := config.Default()
		bad.TLS.CertFile, bad.TLS.KeyFile = filepath.Join(dir, "missing.pem"), filepath.Join(dir, "missing.key")
		ln := listen()
		if _, err := s.Wrap(true, bad, &http.Server{}, ln); err == nil {
			t.Fatal("Wrap with missing files succeeded")
		}
		if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("listener not closed: %v", err)
		}
	})
}
