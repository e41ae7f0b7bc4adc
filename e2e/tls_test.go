package e2e

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"teamtalk/client"
	"teamtalk/internal/testcert"
	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// tlsAppliance starts every service with TLS on msg's second client port
// and on the HTTP ports of login, msfs and httpmsg, with a throwaway
// certificate.
func tlsAppliance(t *testing.T) (*appliance, *testcert.Cert) {
	t.Helper()
	dir := t.TempDir()
	seed(t, dir, 3)
	cert, err := testcert.New(t.TempDir(), "teamtalkd")
	if err != nil {
		t.Fatal(err)
	}
	a := start(t, "A", dir,
		"-set", "msg.tls_listen=127.0.0.1:0", "-set", "login.http_tls=true",
		"-set", "msfs.tls=true", "-set", "httpmsg.tls=true",
		"-set", "tls.cert_file="+cert.CertFile, "-set", "tls.key_file="+cert.KeyFile,
		"-set", "tls.handshake_timeout=500ms")
	return a, cert
}

// tlsLogin logs a user in over the TLS port.
func tlsLogin(t *testing.T, addr string, cert *testcert.Cert, name string) *user {
	t.Helper()
	ctx, cancel := ctx10()
	defer cancel()
	c, err := client.Dial(ctx, addr, client.Options{ClientType: android, EventBuffer: 256, TLS: cert.ClientConfig()})
	if err != nil {
		t.Fatalf("tls dial %s: %v", addr, err)
	}
	if _, err := c.Login(ctx, name, "123456"); err != nil {
		c.Close()
		t.Fatalf("login %s over tls: %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	return &user{Client: c, t: t, name: name}
}

// serverCloses reports whether the server ends c within the timeout.
func serverCloses(c net.Conn, timeout time.Duration) error {
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("still open after %v", timeout)
	}
	return nil
}

// waitClosed waits until the server closed u's connection (its events end).
func waitClosed(t *testing.T, u *user) {
	t.Helper()
	tm := time.NewTimer(10 * time.Second)
	defer tm.Stop()
	for {
		select {
		case _, ok := <-u.Events():
			if !ok {
				return
			}
		case <-tm.C:
			t.Fatalf("%s: connection still open", u.name)
		}
	}
}

// goroutines reads go_goroutines from the appliance's /metrics.
func goroutines(t *testing.T, a *appliance) int {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Get("http://" + a.status.Metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("go_goroutines %q: %v", v, err)
			}
			return int(n)
		}
	}
	t.Fatal("no go_goroutines in /metrics")
	return 0
}

func TestTLS(t *testing.T) {
	a, cert := tlsAppliance(t)
	plainAddr, tlsAddr := a.addr("msg.listen"), a.addr("msg.tls_listen")

	t.Run("login over https hands out msg's plain port", func(t *testing.T) {
		ctx, cancel := ctx10()
		defer cancel()
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cert.ClientConfig()}}
		defer hc.CloseIdleConnections()
		var info client.MsgServerInfo
		eventually(t, 10*time.Second, "msg registered with login", func() bool {
			var err error
			info, err = client.ResolveWith(ctx, hc, "https://"+a.addr("login.http_listen")+"/msg_server")
			return err == nil
		})
		if info.Addr() != plainAddr {
			t.Fatalf("login handed out %s, want the plain port %s (TeamTalk clients speak no TLS)", info.Addr(), plainAddr)
		}
		// Plain HTTP on the HTTPS port gets no answer from login.
		_, err := client.Resolve(ctx, "http://"+a.addr("login.http_listen")+"/msg_server")
		if err == nil {
			t.Fatal("plain http answered on the https port")
		}
	})

	t.Run("msfs and httpmsg over https", func(t *testing.T) {
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cert.ClientConfig()}}
		defer hc.CloseIdleConnections()
		ctx, cancel := ctx10()
		defer cancel()
		info, err := client.ResolveWith(ctx, hc, "https://"+a.addr("login.http_listen")+"/msg_server")
		if err != nil {
			t.Fatal(err)
		}
		if want := "https://" + a.addr("msfs.listen") + "/"; info.MsfsPrior != want {
			t.Fatalf("login hands out msfs %q, want %q", info.MsfsPrior, want)
		}
		rsp, err := hc.Get(info.MsfsPrior + "g0/000/000/nothing.png")
		if err != nil {
			t.Fatalf("msfs over https: %v", err)
		}
		rsp.Body.Close()
		if rsp.StatusCode != http.StatusNotFound {
			t.Fatalf("msfs answered %d for a missing file, want 404", rsp.StatusCode)
		}
		rsp, err = hc.Post("https://"+a.addr("httpmsg.listen")+"/query/CreateGroup", "application/json",
			strings.NewReader(`{"req_user_id":1,"app_key":"not-a-configured-key","group_name":"x","group_type":1,"group_avatar":"","user_id_list":[1,2]}`))
		if err != nil {
			t.Fatalf("httpmsg over https: %v", err)
		}
		body, _ := io.ReadAll(rsp.Body)
		rsp.Body.Close()
		if !strings.Contains(string(body), `"error_code"`) {
			t.Fatalf("httpmsg answered %d %q", rsp.StatusCode, body)
		}
	})

	alice := tlsLogin(t, tlsAddr, cert, "alice")
	bob := login(t, plainAddr, "bob", android)
	carol := tlsLogin(t, tlsAddr, cert, "carol")

	t.Run("chat between TLS and plain clients", func(t *testing.T) {
		ctx, cancel := ctx10()
		defer cancel()
		pairs := []struct {
			from, to *user
			text     string
		}{
			{alice, bob, "tls to plain"},
			{bob, alice, "plain to tls"},
			{alice, carol, "tls to tls"},
			{carol, alice, strings.Repeat("a long one over tls ", 500)},
		}
		for _, p := range pairs {
			id, err := p.from.SendText(ctx, p.to.UserID(), p.text)
			if err != nil || id == 0 {
				t.Fatalf("%s -> %s: id %d, %v", p.from.name, p.to.name, id, err)
			}
			m, text := p.to.message(p.from.UserID())
			if text != p.text || m.GetMsgId() != id {
				t.Fatalf("%s got %.40q id %d, want id %d", p.to.name, text, m.GetMsgId(), id)
			}
		}
		if _, err := carol.Unread(ctx); err != nil {
			t.Fatalf("a request/reply over tls: %v", err)
		}
	})

	t.Run("msg sees the TLS client's own address", func(t *testing.T) {
		ctx, cancel := ctx10()
		defer cancel()
		socks, err := a.ctl.Sockets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := alice.LocalAddr().String()
		var found, listener bool
		for _, s := range socks {
			if s.Service == "msg" && s.Remote == want {
				found = s.UserID == alice.UserID() && s.Local == tlsAddr
			}
			if s.Service == "msg" && s.Kind == "listen-tls" && s.Local == tlsAddr {
				listener = true
			}
		}
		if !found || !listener {
			t.Fatalf("msg's sockets lack alice's connection from %s on %s (found %v) or the tls listener (%v): %+v", want, tlsAddr, found, listener, socks)
		}
	})

	t.Run("plain TeamTalk client on the TLS port is closed", func(t *testing.T) {
		c, err := net.DialTimeout("tcp", tlsAddr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		f := make([]byte, wire.HeaderLen+8)
		wire.Header{Length: uint32(len(f)), Version: wire.Version, ServiceID: uint16(pb.ServiceID_SID_LOGIN),
			CommandID: uint16(pb.LoginCmdID_CID_LOGIN_REQ_USERLOGIN)}.Put(f)
		if _, err := c.Write(f); err != nil {
			t.Fatal(err)
		}
		if err := serverCloses(c, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("silent connection is closed after the handshake timeout", func(t *testing.T) {
		c, err := net.DialTimeout("tcp", tlsAddr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := serverCloses(c, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if n := msgStatus(t, a).Counters["tls_handshake_failures"]; n < 2 {
			t.Fatalf("msg counted %d failed handshakes, want at least 2", n)
		}
	})

	t.Run("restart of msg with live TLS connections leaks nothing", func(t *testing.T) {
		for _, u := range []*user{alice, carol} {
			u.Close()
		}
		// Settle: the connections above are gone, then measure.
		var base int
		eventually(t, 10*time.Second, "goroutines settle", func() bool {
			b1 := goroutines(t, a)
			time.Sleep(200 * time.Millisecond)
			base = goroutines(t, a)
			return base == b1
		})
		for round := range 2 {
			var live []*user
			for _, name := range []string{"user1", "user2", "user3"} {
				live = append(live, tlsLogin(t, tlsAddr, cert, name))
			}
			silent, err := net.DialTimeout("tcp", tlsAddr, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			a.restart("msg")
			for _, u := range live {
				waitClosed(t, u)
			}
			if err := serverCloses(silent, 10*time.Second); err != nil {
				t.Fatalf("round %d: silent connection: %v", round, err)
			}
			silent.Close()
			for _, u := range live {
				u.Close()
			}
			eventually(t, 30*time.Second, fmt.Sprintf("round %d: goroutines back to %d", round, base), func() bool {
				return goroutines(t, a) <= base
			})
			a.waitReady()
			tlsAddr = a.addr("msg.tls_listen")
		}
	})

	t.Run("SIGHUP reloads the certificate of every TLS port", func(t *testing.T) {
		renewed, err := testcert.New(t.TempDir(), "renewed")
		if err != nil {
			t.Fatal(err)
		}
		if err := renewed.Install(cert.CertFile, cert.KeyFile); err != nil {
			t.Fatal(err)
		}
		if err := a.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"msg.tls_listen", "login.http_listen", "msfs.listen", "httpmsg.listen"} {
			eventually(t, 10*time.Second, key+" presents the renewed certificate", func() bool {
				c, err := tls.Dial("tcp", a.addr(key), renewed.ClientConfig())
				if err != nil {
					return false
				}
				c.Close()
				return true
			})
		}
		// The renewed certificate serves logins too.
		u := tlsLogin(t, a.addr("msg.tls_listen"), renewed, "user2")
		u.Close()
		cert = renewed
	})

	t.Run("SIGTERM with live TLS connections exits cleanly", func(t *testing.T) {
		u := tlsLogin(t, tlsAddr, cert, "user1")
		silent, err := net.DialTimeout("tcp", tlsAddr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer silent.Close()
		a.stop()
		waitClosed(t, u)
	})
}
