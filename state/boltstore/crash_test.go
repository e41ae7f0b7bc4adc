package boltstore

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"teamtalk/state"
)

const crashEnv = "TT_BOLTSTORE_CRASH_CHILD"

// crashSessions are the conversations the child writes to: two pairs and a
// group (created by the parent).
var crashPairs = [][2]uint32{{1, 2}, {3, 2}}

// TestCrashChild is the child of TestCrashKeepsAckedMessages: it saves
// messages until it is killed and prints one line per acknowledged message.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		return // only does something as the child of TestCrashKeepsAckedMessages
	}
	round := os.Getenv(crashEnv + "_ROUND")
	gid := os.Getenv(crashEnv + "_GROUP")
	s, err := Open(path, Options{})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	var gidN uint32
	fmt.Sscan(gid, &gidN)
	var mu sync.Mutex
	fmt.Println("ready")
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				nm := state.NewMessage{Type: state.MsgSingleText, Content: fmt.Appendf(nil, "r%s-w%d-%d", round, w, i)}
				switch p := (w + i) % 3; p {
				case 2:
					nm.From, nm.To, nm.Type = uint32(1+w%3), gidN, state.MsgGroupText
				default:
					nm.From, nm.To = crashPairs[p][0], crashPairs[p][1]
					if i%2 == 1 {
						nm.From, nm.To = nm.To, nm.From
					}
				}
				m, err := s.SaveMessage(context.Background(), nm)
				if err != nil {
					fmt.Println("error:", err)
					os.Exit(3)
				}
				mu.Lock()
				fmt.Printf("ack %d %d %d %d %s\n", nm.Type.Session(), m.From, m.To, m.ID, m.Content)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

type ack struct {
	st       state.SessionType
	from, to uint32
	id       uint32
	content  string
}

func TestCrashKeepsAckedMessages(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "im.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := s.CreateGroup(t.Context(), state.NewGroup{Name: "crash", Type: state.GroupTemp, Members: []uint32{1, 2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	const rounds = 5
	total := 0
	for round := range rounds {
		acks := runCrashChild(t, exe, path, round, g.ID)
		total += len(acks)
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		latest := map[string]uint32{}
		for _, a := range acks {
			var ms []state.Message
			user, peer := a.from, a.to
			if a.st == state.SessionSingle {
				ms, err = s.MessagesByID(t.Context(), user, a.st, peer, []uint32{a.id})
			} else {
				ms, err = s.MessagesByID(t.Context(), user, a.st, a.to, []uint32{a.id})
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) != 1 || string(ms[0].Content) != a.content || ms[0].From != a.from {
				t.Fatalf("round %d: acked message %+v lost or changed after the crash: %+v", round, a, ms)
			}
			k := fmt.Sprint(a.st, min(a.from, a.to), max(a.from, a.to))
			if a.st == state.SessionGroup {
				k = fmt.Sprint(a.st, a.to)
			}
			latest[k] = max(latest[k], a.id)
		}
		// Ids continue after the largest stored one, without gaps or reuse.
		check := func(st state.SessionType, from, to uint32, k string) {
			last, err := s.LatestMsgID(t.Context(), from, st, to)
			if err != nil {
				t.Fatal(err)
			}
			if last < latest[k] {
				t.Fatalf("round %d: latest id %d below acked %d", round, last, latest[k])
			}
			hist, err := s.Messages(t.Context(), from, state.HistoryQuery{Type: st, SessionID: to, Count: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			for i, m := range hist {
				if m.ID != last-uint32(i) {
					t.Fatalf("round %d: %s history has a gap or repeat at %d (ids %d..)", round, k, m.ID, last-uint32(i))
				}
			}
			if uint32(len(hist)) != last {
				t.Fatalf("round %d: %s has %d messages, latest id %d", round, k, len(hist), last)
			}
			typ := state.MsgSingleText
			if st == state.SessionGroup {
				typ = state.MsgGroupText
			}
			m, err := s.SaveMessage(t.Context(), state.NewMessage{From: from, To: to, Type: typ, Content: []byte("after crash")})
			if err != nil || m.ID != last+1 {
				t.Fatalf("round %d: save after crash got id %d (%v), want %d", round, m.ID, err, last+1)
			}
		}
		for _, p := range crashPairs {
			check(state.SessionSingle, p[0], p[1], fmt.Sprint(state.SessionSingle, min(p[0], p[1]), max(p[0], p[1])))
		}
		check(state.SessionGroup, 1, g.ID, fmt.Sprint(state.SessionGroup, g.ID))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if total == 0 {
		t.Fatal("the child never acknowledged a message")
	}
	t.Logf("%d rounds, %d acknowledged messages checked", rounds, total)
}

// runCrashChild starts the child, lets it write for a random while after its
// first ack, SIGKILLs it and returns every ack it printed.
func runCrashChild(t *testing.T, exe, path string, round int, gid uint32) []ack {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path, fmt.Sprintf("%s_ROUND=%d", crashEnv, round), fmt.Sprintf("%s_GROUP=%d", crashEnv, gid))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acks []ack
	sc := bufio.NewScanner(out)
	killed := false
	var timer *time.Timer
	kill := func() { _ = cmd.Process.Signal(syscall.SIGKILL) }
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "ready":
		case strings.HasPrefix(line, "ack "):
			var a ack
			var st uint8
			if _, err := fmt.Sscanf(line, "ack %d %d %d %d %s", &st, &a.from, &a.to, &a.id, &a.content); err != nil {
				t.Fatalf("bad child line %q: %v", line, err)
			}
			a.st = state.SessionType(st)
			acks = append(acks, a)
			if timer == nil {
				timer = time.AfterFunc(time.Duration(50+rand.IntN(400))*time.Millisecond, kill)
				killed = true
			}
		default:
			t.Fatalf("child: %s", line)
		}
	}
	if timer != nil {
		timer.Stop()
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child exited before acknowledging anything: %v", err)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want SIGKILL", err)
	}
	return acks
}
