package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"teamtalk/appliance/ctlclient"
	"teamtalk/client"
	"teamtalk/internal/testproc"
	"teamtalk/state"
	"teamtalk/state/boltstore"
	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// seedMembers writes department "dev" and users m0..m(n-1) (password
// 123456) into a fresh im.db in dir, in one import.
func seedMembers(b testing.TB, dir string, n int) {
	b.Helper()
	st, err := boltstore.Open(filepath.Join(dir, "im.db"), boltstore.Options{})
	if err != nil {
		b.Fatalf("seed: %v", err)
	}
	defer st.Close()
	ctx := context.Background()
	d, err := st.CreateDepart(ctx, state.NewDepart{Name: "dev"})
	if err != nil {
		b.Fatalf("seed: depart: %v", err)
	}
	us := make([]state.NewUser, n)
	for i := range us {
		us[i] = state.NewUser{Name: fmt.Sprintf("m%d", i), Password: "123456", Nick: fmt.Sprintf("M%d", i), DepartID: d.ID}
	}
	if _, err := st.ImportUsers(ctx, us); err != nil {
		b.Fatalf("seed: import: %v", err)
	}
}

// fanoutReceiver is a raw logged-in connection that counts the group
// messages it receives without decoding their bodies (a real client's
// decoding would cost the benchmark process more than the server's work).
type fanoutReceiver struct {
	c     net.Conn
	got   atomic.Int64
	done  chan struct{}
	err   error // why the reader stopped; read after done
	login chan *pb.IMLoginRes
}

func dialReceiver(addr, name string) (*fanoutReceiver, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	r := &fanoutReceiver{c: c, done: make(chan struct{}), login: make(chan *pb.IMLoginRes, 1)}
	go r.read()
	fail := func(err error) (*fanoutReceiver, error) {
		c.Close()
		<-r.done
		return nil, err
	}
	f, err := wire.Marshal(wire.NewHeader(uint16(pb.LoginCmdID_CID_LOGIN_REQ_USERLOGIN), 1), &pb.IMLoginReq{
		UserName: proto.String(name), Password: proto.String(client.PasswordHash("123456")),
		OnlineStatus: pb.UserStatType_USER_STATUS_ONLINE.Enum(), ClientType: android.Enum(), ClientVersion: proto.String("fanout"),
	})
	if err != nil {
		return fail(err)
	}
	if _, err := c.Write(f); err != nil {
		return fail(fmt.Errorf("login %s: %w", name, err))
	}
	select {
	case res := <-r.login:
		if res.GetResultCode() != 0 {
			return fail(fmt.Errorf("login %s: %v", name, res))
		}
	case <-r.done:
		return fail(fmt.Errorf("login %s: connection ended: %v", name, r.err))
	case <-time.After(20 * time.Second):
		return fail(fmt.Errorf("login %s: no reply", name))
	}
	return r, nil
}

func (r *fanoutReceiver) read() {
	defer close(r.done)
	d := wire.NewDecoder(wire.MaxClientFrame)
	for {
		for {
			f, err := d.Next()
			if err != nil {
				r.err = err
				return
			}
			if f == nil {
				break
			}
			switch wire.ParseHeader(f).CommandID {
			case uint16(pb.MessageCmdID_CID_MSG_DATA):
				r.got.Add(1)
			case uint16(pb.LoginCmdID_CID_LOGIN_RES_USERLOGIN):
				var res pb.IMLoginRes
				if wire.Unmarshal(f[wire.HeaderLen:], &res) == nil {
					r.login <- &res
				}
			}
		}
		if _, err := d.Fill(r.c); err != nil {
			r.err = err
			return
		}
	}
}

// BenchmarkGroupFanout measures group fan-out through the real teamtalkd:
// one sender (a client with a window of messages in flight) writes to a
// group of 500 members that are all online on the appliance's msg server;
// every message is stored durably, acked and written to the 499 other
// members' connections. It reports deliveries/s (member connections
// written to per second) and msgs/s; every member must get every message
// exactly once. FANOUT_CPUPROFILE=file saves a 5 s CPU profile of
// teamtalkd taken during the run.
//
//	go test -run '^$' -bench GroupFanout -benchtime 6000x ./e2e
func BenchmarkGroupFanout(b *testing.B) {
	for _, size := range []int{500} {
		b.Run(fmt.Sprintf("members=%d", size), func(b *testing.B) {
			el := runFanout(b, size, 64, b.N, b.N > 1 && os.Getenv("FANOUT_CPUPROFILE") != "", b.ResetTimer)
			b.StopTimer()
			b.ReportMetric(float64(b.N)*float64(size-1)/el.Seconds(), "deliveries/s")
			b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
		})
	}
}

// TestGroupFanoutSmoke runs the fan-out benchmark's path once, small: every
// member gets every message exactly once.
func TestGroupFanoutSmoke(t *testing.T) {
	runFanout(t, 40, 8, 20, false, func() {})
}

// runFanout starts teamtalkd with users m0..m(members-1), logs m0 in as
// the sender and the others as raw receivers, creates the group, calls
// startTimer, sends msgs messages with at most window unacked, waits until
// every receiver has every message and returns the time that took.
func runFanout(tb testing.TB, members, window, msgs int, profile bool, startTimer func()) time.Duration {
	dir := tb.TempDir()
	seedMembers(tb, dir, members)
	addr, metrics := startBench(tb, dir)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sender, err := client.Dial(ctx, addr, client.Options{ClientType: android, DropEvents: true, NoDeliveryAck: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer sender.Close()
	if _, err := sender.Login(ctx, "m0", "123456"); err != nil {
		tb.Fatal(err)
	}
	ids := make([]uint32, members)
	for i := range ids {
		ids[i] = uint32(i + 1) // m0..m(n-1) are users 1..n
	}
	g, err := sender.CreateGroup(ctx, "fanout", "", ids)
	if err != nil {
		tb.Fatal(err)
	}
	gid := g.GetGroupId()

	rs := make([]*fanoutReceiver, members-1)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var loginErr error
	sem := make(chan struct{}, 32)
	for i := range rs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r, err := dialReceiver(addr, fmt.Sprintf("m%d", i+1))
			mu.Lock()
			defer mu.Unlock()
			if err != nil && loginErr == nil {
				loginErr = err
			}
			rs[i] = r
		}()
	}
	wg.Wait()
	defer func() {
		for _, r := range rs {
			if r != nil {
				r.c.Close()
				<-r.done
			}
		}
	}()
	if loginErr != nil {
		tb.Fatal(loginErr)
	}

	if profile {
		go saveProfile(os.Getenv("FANOUT_CPUPROFILE"), "http://"+metrics+"/debug/pprof/profile?seconds=5")
	}
	text := strings.Repeat("x", 40)
	startTimer()
	start := time.Now()
	inflight := make(chan struct{}, window)
	var sendErr atomic.Value
	for range msgs {
		inflight <- struct{}{}
		m := sender.NewTextMsg(gid, text, true)
		if err := sender.SendMsgAsync(m, time.Minute, func(_ *pb.IMMsgDataAck, err error) {
			if err != nil {
				sendErr.Store(err)
			}
			<-inflight
		}); err != nil {
			tb.Fatal(err)
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	want := int64(msgs)
	for i, r := range rs {
		for r.got.Load() < want {
			select {
			case <-r.done:
				tb.Fatalf("member m%d's connection ended after %d of %d messages: %v", i+1, r.got.Load(), want, r.err)
			default:
			}
			if time.Now().After(deadline) {
				tb.Fatalf("member m%d got %d of %d messages (send error %v)", i+1, r.got.Load(), want, sendErr.Load())
			}
			time.Sleep(time.Millisecond)
		}
	}
	el := time.Since(start)
	if err, _ := sendErr.Load().(error); err != nil {
		tb.Fatalf("send: %v", err)
	}
	time.Sleep(100 * time.Millisecond) // duplicates would arrive by now
	for i, r := range rs {
		if n := r.got.Load(); n != want {
			tb.Fatalf("member m%d got %d messages, want %d", i+1, n, want)
		}
	}
	return el
}

// saveProfile fetches url into path (errors are printed: profiling is a
// manual aid).
func saveProfile(path, url string) {
	rsp, err := http.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	defer rsp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	defer f.Close()
	if _, err := io.Copy(f, rsp.Body); err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
	}
}

// startBench runs teamtalkd (every service, the test settings) on the data
// dir, waits until it is ready, stops it when the benchmark ends, and
// returns the msg server's address. (The harness's start wants a
// *testing.T.)
func startBench(b testing.TB, dir string) (msgAddr, metricsAddr string) {
	b.Helper()
	sock := filepath.Join(dir, "teamtalkd.sock")
	args := append([]string{"-data", dir, "-socket", sock}, fastArgs()...)
	args = append(args, "-set", "log.level=warn", "-set", "metrics.pprof=true")
	cmd := exec.Command(filepath.Join(bins, "teamtalkd"), args...)
	logs := &testproc.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET=")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	ctl := &ctlclient.Client{Socket: sock}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := ctl.Status(ctx)
		cancel()
		if err == nil && st.Ready {
			if a := st.Addresses["msg.listen"]; a != "" {
				return a, st.Metrics
			}
			b.Fatalf("no msg.listen in %v", st.Addresses)
		}
		select {
		case err := <-exited:
			exited <- err
			b.Fatalf("teamtalkd exited: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("teamtalkd not ready: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
