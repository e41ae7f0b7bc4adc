package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"teamtalk/wire/pb"
)

// crashCycles is how many SIGKILL cycles TestCrashSafety runs:
// $TT_CRASH_CYCLES, else 5 (make soak sets 20).
func crashCycles(t *testing.T) int {
	return envInt(t, "TT_CRASH_CYCLES", 5)
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// testRand is a random source whose seed is logged, and taken from
// $TT_SEED when set, so a failing run can be replayed.
func testRand(t *testing.T) *rand.Rand {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("TT_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("TT_SEED=%q: %v", v, err)
		}
		seed = s
	}
	t.Logf("random seed %d (replay with TT_SEED=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// acked is one message the server acknowledged to its sender.
type acked struct {
	from, to uint32
	id       uint32
	text     string
}

// ackLog collects acked messages per session (keyed by the pair, small id
// first) from many sender goroutines.
type ackLog struct {
	mu   sync.Mutex
	byPr map[[2]uint32][]acked
	n    int
}

func newAckLog() *ackLog { return &ackLog{byPr: map[[2]uint32][]acked{}} }

func pairKey(a, b uint32) [2]uint32 {
	if a > b {
		a, b = b, a
	}
	return [2]uint32{a, b}
}

func (l *ackLog) add(m acked) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := pairKey(m.from, m.to)
	l.byPr[k] = append(l.byPr[k], m)
	l.n++
}

func (l *ackLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// senderPairs are the chatting pairs of the crash and fault tests: users
// user1..user2n (ids 4..), each pair sending in both directions.
func senderPairs(n int) [][2]string {
	var p [][2]string
	for i := 0; i < n; i++ {
		p = append(p, [2]string{fmt.Sprintf("user%d", 2*i+1), fmt.Sprintf("user%d", 2*i+2)})
	}
	return p
}

// load is the p2p traffic of startLoad.
type load struct {
	wg      sync.WaitGroup
	mu      sync.Mutex
	unacked int
	sent    int
	errs    []error
}

// startLoad runs one sender goroutine per direction of every pair against
// msg at addr until ctx ends or its connection dies, recording every acked
// message in log. A send not acked within sendTimeout counts as unacked
// (its fate is unknown to the sender) and the sender goes on.
func startLoad(ctx context.Context, t *testing.T, addr string, pairs [][2]string, tag string, log *ackLog, sendTimeout time.Duration) *load {
	t.Helper()
	l := &load{}
	for _, p := range pairs {
		for dir := 0; dir < 2; dir++ {
			from, to := p[dir], p[1-dir]
			c, err := tryLogin(addr, from, "123456", android)
			if err != nil {
				t.Fatalf("load: login %s: %v", from, err)
			}
			toC, err := tryLogin(addr, to, "123456", ios)
			if err != nil {
				t.Fatalf("load: login %s: %v", to, err)
			}
			toID := toC.UserID()
			toC.Close()
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				defer c.Close()
				// Incoming messages are not read here: drain them so the
				// client's event buffer never fills.
				go func() {
					for range c.Events() {
					}
				}()
				for n := 0; ctx.Err() == nil; n++ {
					text := fmt.Sprintf("%s %s->%s #%d", tag, from, to, n)
					sctx, cancel := context.WithTimeout(ctx, sendTimeout)
					id, err := c.SendText(sctx, toID, text)
					cancel()
					l.mu.Lock()
					l.sent++
					if err != nil {
						l.unacked++
						if ctx.Err() == nil {
							l.errs = append(l.errs, fmt.Errorf("%s: %w", from, err))
						}
					}
					l.mu.Unlock()
					if err != nil {
						select {
						case <-c.Done():
							return
						default:
						}
						continue
					}
					log.add(acked{from: c.UserID(), to: toID, id: id, text: text})
				}
			}()
		}
	}
	return l
}

func (l *load) wait() (sent, unacked int, errs []error) {
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent, l.unacked, l.errs
}

// history fetches a whole 1:1 session as seen by u, newest first, paging
// backwards through the server's history.
func history(t *testing.T, u *user, peer uint32) []*pb.MsgInfo {
	t.Helper()
	var all []*pb.MsgInfo
	begin := uint32(0)
	for {
		ctx, cancel := ctx10()
		rsp, err := u.MsgList(ctx, pb.SessionType_SESSION_TYPE_SINGLE, peer, begin, 500)
		cancel()
		if err != nil {
			t.Fatalf("%s: history with %d from %d: %v", u.name, peer, begin, err)
		}
		list := rsp.GetMsgList()
		all = append(all, list...)
		if len(list) == 0 {
			return all
		}
		last := list[len(list)-1].GetMsgId()
		if last <= 1 {
			return all
		}
		begin = last - 1
	}
}

// checkHistory logs in as the first user of every pair and requires that
// every acked message of log is in the session's history with its text, and
// that ids in the session are unique and strictly decreasing newest first.
// It returns how many acked messages it checked.
func checkHistory(t *testing.T, addr string, pairs [][2]string, log *ackLog) int {
	t.Helper()
	log.mu.Lock()
	defer log.mu.Unlock()
	checked := 0
	for _, p := range pairs {
		u := login(t, addr, p[0], windows)
		peer := login(t, addr, p[1], windows)
		peerID := peer.UserID()
		peer.Close()
		hist := history(t, u, peerID)
		byID := map[uint32]string{}
		for i, m := range hist {
			if i > 0 && m.GetMsgId() >= hist[i-1].GetMsgId() {
				t.Fatalf("%s-%s: history id %d after %d (ids must be unique, newest first)", p[0], p[1], m.GetMsgId(), hist[i-1].GetMsgId())
			}
			text, err := u.Cipher().Decrypt(m.GetMsgData())
			if err != nil {
				t.Fatalf("%s-%s: msg %d: decrypt: %v", p[0], p[1], m.GetMsgId(), err)
			}
			byID[m.GetMsgId()] = string(text)
		}
		for _, a := range log.byPr[pairKey(u.UserID(), peerID)] {
			got, ok := byID[a.id]
			if !ok {
				t.Fatalf("%s-%s: acked message %d %q is not in the history (%d messages)", p[0], p[1], a.id, a.text, len(hist))
			}
			if got != a.text {
				t.Fatalf("%s-%s: message %d is %q, acked as %q", p[0], p[1], a.id, got, a.text)
			}
			checked++
		}
		u.Close()
	}
	return checked
}

// checkBolt opens a bolt file the way a restart would and runs bbolt's
// consistency check over it: a crash must leave a file that needs no repair.
func checkBolt(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("open %s after the crash: %v", path, err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		var errs []error
		for e := range tx.Check() {
			errs = append(errs, e)
		}
		return errors.Join(errs...)
	})
	if err != nil {
		t.Fatalf("%s is inconsistent after the crash: %v", path, err)
	}
}

// TestCrashSafety runs p2p load (both directions of 3 pairs) against the
// real teamtalkd, kills it with SIGKILL at a random moment, checks the bolt
// files, restarts it in the same data directory and requires every message
// ever acked to be in the receiver's history with its text, with ids that
// never repeat. TT_CRASH_CYCLES cycles (5; make soak: 20).
func TestCrashSafety(t *testing.T) {
	cycles := crashCycles(t)
	rng := testRand(t)
	dir := t.TempDir()
	pairs := senderPairs(3)
	seed(t, dir, 2*len(pairs))
	log := newAckLog()
	var sentTotal, unackedTotal, checked int
	for cycle := 1; cycle <= cycles; cycle++ {
		a := start(t, fmt.Sprintf("crash%d", cycle), dir)
		if cycle > 1 {
			checked = checkHistory(t, a.addr("msg.listen"), pairs, log)
		}
		sent, unacked := killUnderLoad(t, a, rng, pairs, fmt.Sprintf("c%d", cycle), log)
		sentTotal += sent
		unackedTotal += unacked
		for _, f := range []string{"im.db", "appliance.db"} {
			checkBolt(t, filepath.Join(dir, f))
		}
	}
	a := start(t, "crash-final", dir)
	checked = checkHistory(t, a.addr("msg.listen"), pairs, log)
	if checked != log.count() || checked == 0 {
		t.Fatalf("checked %d of %d acked messages", checked, log.count())
	}
	a.stop()
	t.Logf("crash safety: %d SIGKILL cycles, %d sends, %d acked messages all in history, %d unacked at kills", cycles, sentTotal, checked, unackedTotal)
}

// killUnderLoad runs p2p load (tag names its messages) against a, SIGKILLs
// a at a random moment within a second of the first acks, waits for the
// load to stop and logs the cycle. It returns the sends and the sends
// without an ack at the kill.
func killUnderLoad(t *testing.T, a *appliance, rng *rand.Rand, pairs [][2]string, tag string, log *ackLog) (sent, unacked int) {
	t.Helper()
	before := log.count()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := startLoad(ctx, t, a.addr("msg.listen"), pairs, tag, log, 10*time.Second)
	eventually(t, 10*time.Second, "first acks", func() bool { return log.count() > before })
	time.Sleep(time.Duration(rng.IntN(1000)) * time.Millisecond)
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := <-a.exited
	a.exited <- err
	sent, unacked, _ = l.wait() // errors are expected: the server died
	t.Logf("%s: %d sends, %d acked, %d without ack at the kill", tag, sent, log.count()-before, unacked)
	return sent, unacked
}
