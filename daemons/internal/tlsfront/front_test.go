package tlsfront

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"teamtalk/daemons/internal/servicetest"
	"teamtalk/internal/testcert"
	"teamtalk/netloop"
	"teamtalk/wire"
)

const waitFor = 10 * time.Second

func frame(cmd uint16, body string) []byte {
	f := make([]byte, wire.HeaderLen+len(body))
	wire.Header{Length: uint32(len(f)), Version: wire.Version, ServiceID: 7, CommandID: cmd}.Put(f)
	copy(f[wire.HeaderLen:], body)
	return f
}

func readFrame(r io.Reader) ([]byte, error) {
	var h [wire.HeaderLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	f := make([]byte, binary.BigEndian.Uint32(h[:]))
	copy(f, h[:])
	_, err := io.ReadFull(r, f[wire.HeaderLen:])
	return f, err
}

// echoer writes every frame back; cmdBye is written back, then the
// connection is closed.
// It records the remote address of each connection it opened.
type echoer struct {
	mu      sync.Mutex
	remotes []string
	closes  chan error
}

const cmdBye = 0x0b0e

func (e *echoer) OnOpen(c *netloop.Conn) {
	e.mu.Lock()
	e.remotes = append(e.remotes, c.RemoteAddr().String())
	e.mu.Unlock()
}
func (e *echoer) OnFrame(c *netloop.Conn, f []byte) {
	_ = c.Write(f)
	if wire.ParseHeader(f).CommandID == cmdBye {
		c.Close()
	}
}
func (e *echoer) OnClose(_ *netloop.Conn, err error) { e.closes <- err }

type fixture struct {
	g    *netloop.Group
	f    *Front
	e    *echoer
	cert *testcert.Cert
}

func start(t *testing.T, opt Options) *fixture {
	t.Helper()
	cert, err := testcert.New(t.TempDir(), "front")
	if err != nil {
		t.Fatal(err)
	}
	certs, err := Load(cert.CertFile, cert.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	g, err := netloop.New(netloop.Options{Owner: "tlstest", Loops: 1, Tick: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	e := &echoer{closes: make(chan error, 100)}
	f, err := Listen("127.0.0.1:0", certs, g, e, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("front close: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := g.Stop(ctx); err != nil {
			t.Errorf("group stop: %v", err)
		}
	})
	return &fixture{g: g, f: f, e: e, cert: cert}
}

func (fx *fixture) dial(t *testing.T) *tls.Conn {
	t.Helper()
	d := &net.Dialer{Timeout: waitFor}
	c, err := tls.DialWithDialer(d, "tcp", fx.f.Addr().String(), fx.cert.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(waitFor))
	return c
}

// closedByServer reports whether the server ends c (EOF or reset) before
// the generous timeout; it reads and discards anything else.
func closedByServer(c net.Conn) error {
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return err
	}
	return nil
}

func TestFront(t *testing.T) {
	cases := []struct {
		name string
		opt  Options
		run  func(t *testing.T, fx *fixture)
	}{
		{"frames both ways with the client's address", Options{}, func(t *testing.T, fx *fixture) {
			c := fx.dial(t)
			for i, body := range []string{"hello", string(bytes.Repeat([]byte("x"), 100<<10)), ""} {
				in := frame(uint16(0x0300+i), body)
				if _, err := c.Write(in); err != nil {
					t.Fatal(err)
				}
				got, err := readFrame(c)
				if err != nil || !bytes.Equal(got, in) {
					t.Fatalf("frame %d: %d bytes, %v; want %d bytes back", i, len(got), err, len(in))
				}
			}
			fx.e.mu.Lock()
			remotes := fx.e.remotes
			fx.e.mu.Unlock()
			if len(remotes) != 1 || remotes[0] != c.LocalAddr().String() {
				t.Fatalf("handler saw remotes %v, want [%s]", remotes, c.LocalAddr())
			}
			if st := fx.f.Stats(); st.Handshakes != 1 || st.Active != 1 {
				t.Fatalf("stats %+v", st)
			}
		}},
		{"server close flushes then ends the TLS stream", Options{}, func(t *testing.T, fx *fixture) {
			c := fx.dial(t)
			bye := frame(cmdBye, "last words")
			if _, err := c.Write(bye); err != nil {
				t.Fatal(err)
			}
			got, err := readFrame(c)
			if err != nil || !bytes.Equal(got, bye) {
				t.Fatalf("got %q, %v", got, err)
			}
			if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
				t.Fatalf("after the server closed: %v, want io.EOF (close_notify)", err)
			}
			servicetest.Eventually(t, "bridge gone", func() bool { return fx.f.Stats().Active == 0 })
		}},
		{"client close reaches the handler", Options{}, func(t *testing.T, fx *fixture) {
			c := fx.dial(t)
			if _, err := c.Write(frame(1, "x")); err != nil {
				t.Fatal(err)
			}
			if _, err := readFrame(c); err != nil {
				t.Fatal(err)
			}
			c.Close()
			select {
			case <-fx.e.closes:
			case <-time.After(waitFor):
				t.Fatal("handler never saw the close")
			}
			servicetest.Eventually(t, "bridge gone", func() bool { return fx.f.Stats().Active == 0 })
		}},
		{"plain TCP on the TLS port is closed", Options{}, func(t *testing.T, fx *fixture) {
			c, err := net.DialTimeout("tcp", fx.f.Addr().String(), waitFor)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write(frame(0x0103, "a plain TeamTalk login")); err != nil {
				t.Fatal(err)
			}
			if err := closedByServer(c); err != nil {
				t.Fatalf("not closed: %v", err)
			}
			servicetest.Eventually(t, "failure counted", func() bool { return fx.f.Stats().HandshakeFailures == 1 })
			if st := fx.f.Stats(); st.Handshakes != 0 {
				t.Fatalf("stats %+v", st)
			}
		}},
		{"silent connection closed after the handshake timeout", Options{HandshakeTimeout: 200 * time.Millisecond}, func(t *testing.T, fx *fixture) {
			c, err := net.DialTimeout("tcp", fx.f.Addr().String(), waitFor)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := closedByServer(c); err != nil {
				t.Fatalf("not closed: %v", err)
			}
			servicetest.Eventually(t, "failure counted", func() bool { return fx.f.Stats().HandshakeFailures == 1 })
		}},
		{"idle timeout of the listen options applies", Options{Listen: netloop.ListenOptions{IdleTimeout: 200 * time.Millisecond}}, func(t *testing.T, fx *fixture) {
			c := fx.dial(t)
			if _, err := c.Write(frame(1, "x")); err != nil {
				t.Fatal(err)
			}
			if _, err := readFrame(c); err != nil {
				t.Fatal(err)
			}
			if err := closedByServer(c); err != nil {
				t.Fatalf("idle connection not closed: %v", err)
			}
			select {
			case err := <-fx.e.closes:
				if !errors.Is(err, netloop.ErrIdleTimeout) {
					t.Fatalf("closed with %v, want idle timeout", err)
				}
			case <-time.After(waitFor):
				t.Fatal("no OnClose")
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, start(t, tc.opt)) })
	}
}

// TestCloseWithLiveConnections: Close ends handshaking and bridged
// connections and leaves no goroutine behind.
func TestCloseWithLiveConnections(t *testing.T) {
	base := runtime.NumGoroutine()
	func() {
		fx := start(t, Options{})
		var conns []*tls.Conn
		for range 5 {
			c := fx.dial(t)
			if _, err := c.Write(frame(1, "up")); err != nil {
				t.Fatal(err)
			}
			if _, err := readFrame(c); err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
		}
		silent, err := net.DialTimeout("tcp", fx.f.Addr().String(), waitFor)
		if err != nil {
			t.Fatal(err)
		}
		defer silent.Close()
		servicetest.Eventually(t, "all accepted", func() bool { return fx.f.Stats().Active == 6 })
		if err := fx.f.Close(); err != nil {
			t.Fatal(err)
		}
		if st := fx.f.Stats(); st.Active != 0 {
			t.Fatalf("after Close: %+v", st)
		}
		for i, c := range conns {
			if err := closedByServer(c); err != nil {
				t.Fatalf("conn %d: %v", i, err)
			}
		}
		if err := closedByServer(silent); err != nil {
			t.Fatalf("silent conn: %v", err)
		}
		for i := range 5 {
			select {
			case <-fx.e.closes:
			case <-time.After(waitFor):
				t.Fatalf("handler saw %d of 5 closes", i)
			}
		}
		for _, c := range conns {
			c.Close()
		}
	}()
	// The fixture's cleanup (Group stop) runs at the end of the test; the
	// Front's own goroutines are gone now. Allow the Group's loop.
	servicetest.Eventually(t, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= base+1 })
}

func TestCertsReload(t *testing.T) {
	dir := t.TempDir()
	a, err := testcert.New(dir, "a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := testcert.New(dir, "b")
	if err != nil {
		t.Fatal(err)
	}
	certs, err := Load(a.CertFile, a.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "over tls: "+r.URL.Path)
	})}
	tln := HTTP(srv, ln, certs, 2*time.Second)
	if srv.ReadHeaderTimeout != 2*time.Second {
		t.Fatalf("ReadHeaderTimeout %s", srv.ReadHeaderTimeout)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(tln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	serial := func(t *testing.T) string {
		t.Helper()
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	get := func(t *testing.T, pool *testcert.Cert) string {
		t.Helper()
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: pool.ClientConfig()}, Timeout: waitFor}
		defer hc.CloseIdleConnections()
		resp, err := hc.Get("https://" + ln.Addr().String() + "/ping")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	steps := []struct {
		name   string
		do     func() error
		errors bool
		want   *testcert.Cert
	}{
		{"first certificate", func() error { return nil }, false, a},
		{"reload after the files changed", func() error {
			if err := b.Install(a.CertFile, a.KeyFile); err != nil {
				return err
			}
			return certs.Reload()
		}, false, b},
		{"a broken file keeps the certificate in use", func() error {
			return certs.Reload()
		}, true, b},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.errors {
				if err := writeGarbage(a.KeyFile); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.do(); (err != nil) != st.errors {
				t.Fatalf("err %v, want error %v", err, st.errors)
			}
			if got, want := serial(t), st.want.Leaf.SerialNumber.String(); got != want {
				t.Fatalf("served serial %s, want %s", got, want)
			}
			if got := get(t, st.want); got != "over tls: /ping" {
				t.Fatalf("GET: %q", got)
			}
		})
	}
	if _, err := Load("", ""); !errors.Is(err, ErrNoCert) {
		t.Fatalf("Load without files: %v", err)
	}
}

func writeGarbage(path string) error {
	return os.WriteFile(path, []byte("not a key"), 0o600)
}
