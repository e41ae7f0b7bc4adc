package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// floodConns is how many connections TestConnectionFlood opens:
// $TT_FLOOD_CONNS, else 2,000.
func floodConns(t *testing.T) int { return envInt(t, "TT_FLOOD_CONNS", 2000) }

// flood opens n connections to addr from 32 goroutines; every other one
// sends half a header, the rest nothing. It returns the connections that
// were established (a refused or failed dial is counted, not fatal);
// progress (if not nil) counts the dials as they finish.
func flood(addr string, n int, progress *atomic.Int64) (conns []net.Conn, failed int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err == nil && i%2 == 1 {
					_, err = c.Write(header(64, cmdHeartbeat)[:7])
				}
				if progress != nil {
					progress.Add(1)
				}
				mu.Lock()
				if err != nil {
					failed++
					if c != nil {
						c.Close()
					}
				} else {
					conns = append(conns, c)
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return conns, failed
}

// waitFloodClosed requires every connection to be closed by the server within
// timeout (a read ends with EOF or a reset, not the deadline).
func waitFloodClosed(t *testing.T, conns []net.Conn, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := 0
	sem := make(chan struct{}, 256)
	for _, c := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c.SetReadDeadline(deadline)
			_, err := io.Copy(io.Discard, c)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				mu.Lock()
				open++
				mu.Unlock()
			}
			c.Close()
		}()
	}
	wg.Wait()
	if open > 0 {
		t.Fatalf("%d of %d flood connections still open after %v", open, len(conns), timeout)
	}
}

// netMetric scrapes a's /metrics for teamtalkd_netloop_NAME_total of
// service svc.
func netMetric(t *testing.T, a *appliance, name, svc string) uint64 {
	t.Helper()
	rsp, err := http.Get("http://" + a.status.Metrics + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer rsp.Body.Close()
	prefix := fmt.Sprintf("teamtalkd_netloop_%s_total{service=%q}", name, svc)
	sc := bufio.NewScanner(rsp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), prefix+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", prefix, err)
			}
			return uint64(f)
		}
	}
	t.Fatalf("no %s in /metrics", prefix)
	return 0
}

// timedLogin logs a real client in and returns how long it took.
func timedLogin(t *testing.T, addr, name string) time.Duration {
	t.Helper()
	began := time.Now()
	c, err := tryLogin(addr, name, "123456", android)
	if err != nil {
		t.Fatalf("login of %s during the flood: %v", name, err)
	}
	c.Close()
	return time.Since(began)
}

// TestConnectionFlood opens TT_FLOOD_CONNS (2,000) connections to msg that
// send nothing or half a header: a real client logs in during the flood
// within 10 s, msg's login timeout (1 s here) closes every flood
// connection and counts it, alice and bob keep chatting; no restart.
func TestConnectionFlood(t *testing.T) {
	dir := t.TempDir()
	seed(t, dir, 0)
	a := start(t, "flood", dir, "-set", "msg.login_timeout=1s")
	addr := a.addr("msg.listen")
	alice := login(t, addr, "alice", android)
	bob := login(t, addr, "bob", windows)
	// Closed by netloop's idle sweep or msg's login deadline, whichever
	// comes first: both are counted.
	closes := func() uint64 { return netMetric(t, a, "idle_closes", "msg") + msgCounter(t, a, "login_timeouts") }
	idleBefore := closes()

	n := floodConns(t)
	var conns []net.Conn
	var failed int
	done := make(chan struct{})
	var progress atomic.Int64
	go func() {
		defer close(done)
		conns, failed = flood(addr, n, &progress)
	}()
	// Log in once half the flood is connected, while the rest still comes.
	eventually(t, 60*time.Second, "half the flood connected", func() bool { return progress.Load() >= int64(n/2) })
	d := timedLogin(t, addr, "carol")
	<-done
	if failed > 0 {
		t.Fatalf("%d of %d flood dials failed", failed, n)
	}
	d2 := timedLogin(t, addr, "carol")
	chat(t, alice.Client, bob.Client, "during the flood")
	began := time.Now()
	waitFloodClosed(t, conns, 15*time.Second)
	closeTook := time.Since(began)
	closed := closes() - idleBefore
	if closed < uint64(n) {
		t.Fatalf("msg counted %d idle closes and login timeouts, want at least %d", closed, n)
	}
	chat(t, alice.Client, bob.Client, "after the flood")
	if r := a.restarts("msg"); r != 0 {
		t.Fatalf("msg restarted %d times", r)
	}
	t.Logf("flood of %d silent / half-header connections: logins took %v with half of it connected and %v at its end; all closed by the login timeout within %v of the flood's end (idle_closes + login_timeouts: +%d)", n, d.Round(time.Millisecond), d2.Round(time.Millisecond), closeTook.Round(time.Millisecond), closed)
}

// openFDs counts the open descriptors of pid.
func openFDs(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestAcceptEMFILE lowers teamtalkd's RLIMIT_NOFILE to what it holds plus
// 64 and floods msg with 400 connections: accepting pauses (counted) instead
// of spinning or dying, logged-in users keep chatting, and once the flood
// is gone (closed by the login timeout) accepting resumes and a new client
// logs in.
func TestAcceptEMFILE(t *testing.T) {
	dir := t.TempDir()
	seed(t, dir, 0)
	a := start(t, "emfile", dir, "-set", "msg.login_timeout=1s")
	addr := a.addr("msg.listen")
	alice := login(t, addr, "alice", android)
	bob := login(t, addr, "bob", windows)
	pid := a.cmd.Process.Pid
	held := openFDs(t, pid)
	limit := uint64(held + 64)
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: limit, Max: limit}, nil); err != nil {
		t.Fatalf("prlimit: %v", err)
	}
	pausesBefore := netMetric(t, a, "accept_pauses", "msg")

	conns, failed := flood(addr, 400, nil)
	chat(t, alice.Client, bob.Client, "at the descriptor limit")
	eventually(t, 10*time.Second, "accepting paused on EMFILE", func() bool {
		return netMetric(t, a, "accept_pauses", "msg") > pausesBefore
	})
	peak := openFDs(t, pid)
	waitFloodClosed(t, conns, 30*time.Second)
	select {
	case err := <-a.exited:
		a.exited <- err
		t.Fatalf("teamtalkd exited at the descriptor limit: %v", err)
	default:
	}
	d := timedLogin(t, addr, "carol")
	chat(t, alice.Client, bob.Client, "after the descriptor limit")
	if r := a.restarts("msg"); r != 0 {
		t.Fatalf("msg restarted %d times", r)
	}
	t.Logf("RLIMIT_NOFILE %d (held %d, peak %d): 400 connections (%d dials failed), accept paused %d times, every one accepted and closed in the end, a login after took %v",
		limit, held, peak, failed, netMetric(t, a, "accept_pauses", "msg")-pausesBefore, d.Round(time.Millisecond))
}
