package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"teamtalk/client"
	"teamtalk/state"
	"teamtalk/state/boltstore"
	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// seedUsers adds users prefix1..prefixN (password 123456, department 1) to
// the im.db in dir, many at once and without fsync: test data only.
func seedUsers(t *testing.T, dir, prefix string, n int) {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(dir, "im.db"), boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatalf("seed: open store: %v", err)
	}
	defer st.Close()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				name := fmt.Sprintf("%s%d", prefix, i)
				if _, err := st.CreateUser(context.Background(), state.NewUser{Name: name, Password: "123456", Nick: name, DepartID: 1}); err != nil {
					errs <- fmt.Errorf("user %s: %w", name, err)
				}
			}
		}()
	}
	for i := 1; i <= n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("seed: %v", err)
	}
}

// stalledLogin connects with a tiny receive buffer, logs in as name, reads
// the login reply and then never reads again. It returns the user id.
func stalledLogin(addr, name string) (net.Conn, uint32, error) {
	d := net.Dialer{Timeout: 10 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, 0, err
	}
	body, err := proto.Marshal(&pb.IMLoginReq{
		UserName: proto.String(name), Password: proto.String(client.PasswordHash("123456")),
		OnlineStatus: pb.UserStatType_USER_STATUS_ONLINE.Enum(), ClientType: android.Enum(),
		ClientVersion: proto.String("stalled"),
	})
	if err != nil {
		c.Close()
		return nil, 0, err
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write(wire.AppendFrame(nil, wire.NewHeader(cmdLoginReq, 1), body)); err != nil {
		c.Close()
		return nil, 0, err
	}
	dec := wire.NewDecoder(wire.MaxClientFrame)
	for {
		f, err := dec.Next()
		if err != nil {
			c.Close()
			return nil, 0, err
		}
		if f == nil {
			if _, err := dec.Fill(c); err != nil {
				c.Close()
				return nil, 0, fmt.Errorf("%s: read login reply: %w", name, err)
			}
			continue
		}
		if wire.ParseHeader(f).CommandID != cmdLoginRes {
			continue
		}
		var res pb.IMLoginRes
		if err := wire.Unmarshal(f[wire.HeaderLen:], &res); err != nil || res.GetResultCode() != 0 {
			c.Close()
			return nil, 0, fmt.Errorf("%s: login: %v %v", name, res.GetResultCode(), err)
		}
		c.SetDeadline(time.Time{})
		return c, res.GetUserInfo().GetUserId(), nil
	}
}

// procStatus reads a field (in kB) of /proc/PID/status.
func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("%s: %v", field, err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// TestSlowReaders logs in TT_SLOW_READERS clients (1,000; make soak:
// 10,000) that stop reading, then floods each with P2P commands (relayed,
// not stored): msg closes every one of them as a slow reader and counts
// it, its peak memory stays under the write bound times their number (plus
// a fixed allowance), and a chatting pair is served throughout.
func TestSlowReaders(t *testing.T) {
	n := envInt(t, "TT_SLOW_READERS", 1000)
	const bound = 64 << 10
	dir := t.TempDir()
	seed(t, dir, 0)
	seedUsers(t, dir, "slow", n)
	a := start(t, "slow", dir, fmt.Sprintf("-set=msg.write_bound=%d", bound), "-set", "msg.max_conns=1000000")
	addr := a.addr("msg.listen")
	pid := a.cmd.Process.Pid

	alice := login(t, addr, "alice", android)
	bob := login(t, addr, "bob", windows)
	flooder, err := client.Dial(context.Background(), addr, client.Options{ClientType: windows, DropEvents: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { flooder.Close() })
	ctx, cancel := ctx10()
	defer cancel()
	if _, err := flooder.Login(ctx, "carol", "123456"); err != nil {
		t.Fatal(err)
	}
	base := procStatus(t, pid, "VmRSS")

	conns := make([]net.Conn, n)
	ids := make([]uint32, n)
	var wg sync.WaitGroup
	errc := make(chan error, n)
	sem := make(chan struct{}, 32)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, id, err := stalledLogin(addr, fmt.Sprintf("slow%d", i+1))
			if err != nil {
				errc <- err
				return
			}
			conns[i], ids[i] = c, id
		}()
	}
	wg.Wait()
	close(errc)
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	for err := range errc {
		t.Fatalf("stalled login: %v", err)
	}
	loggedIn := procStatus(t, pid, "VmRSS")

	payload := strings.Repeat("x", 32<<10)
	closed := func() uint64 { return msgStatus(t, a).Counters["slow_reader_closes"] }
	rounds := 0
	for ; closed() < uint64(n); rounds++ {
		if rounds == 200 {
			t.Fatalf("after %d rounds of %d KiB to each, %d of %d stalled clients closed", rounds, len(payload)>>10, closed(), n)
		}
		for _, id := range ids {
			if err := flooder.P2PCmd(id, payload); err != nil {
				t.Fatalf("flood: %v", err)
			}
		}
		// The pair keeps chatting during the flood.
		text := fmt.Sprintf("during the flood %d", rounds)
		sctx, scancel := ctx10()
		_, err := alice.SendText(sctx, bob.UserID(), text)
		scancel()
		if err != nil {
			t.Fatalf("alice during the flood: %v", err)
		}
		if _, got := bob.message(alice.UserID()); got != text {
			t.Fatalf("bob got %q", got)
		}
	}
	peak := procStatus(t, pid, "VmHWM")
	eventually(t, 20*time.Second, "stalled users offline", func() bool {
		octx, ocancel := ctx10()
		defer ocancel()
		on, err := a.ctl.Online(octx)
		return err == nil && len(on) <= 3
	})
	// Live at most: per stalled client the write bound plus the one frame
	// that crosses it (+16 KiB of session); every P2P command also goes to
	// route, so the msg->route link and route's side may queue up to their
	// bound (64 MiB each). Go's heap (GOGC=100) may hold twice the live
	// bytes before a collection, and more while allocation outpaces the
	// concurrent mark: three times, plus 64 MiB for everything else.
	perClient := int64(bound + len(payload) + 16<<10)
	limit := base + 3*(int64(n)*perClient+2*64<<20)/1024 + 64<<10
	t.Logf("%d stalled readers: %d rounds of %d KiB each until all were closed (slow_reader_closes %d); RSS %d MiB before, %d MiB logged in, peak %d MiB (limit %d MiB = 3 x ((write bound %d KiB + frame + 16 KiB) per client + 2 route link bounds) + 64 MiB)",
		n, rounds, len(payload)>>10, closed(), base>>10, loggedIn>>10, peak>>10, limit>>10, bound>>10)
	if peak > limit {
		t.Fatalf("peak RSS %d MiB over the limit %d MiB", peak>>10, limit>>10)
	}
}
