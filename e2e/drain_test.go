package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestGracefulStopDrain sends SIGTERM while 12 senders (both directions of
// 6 pairs) keep one message each in flight: msg stops taking messages, waits
// for dbproxy's replies to those it already sent and acks them before the
// connections close. After a restart every message is either acked and in
// the history with its text, or unacked and not stored (cleanly refused):
// none is stored without its ack reaching the sender.
func TestGracefulStopDrain(t *testing.T) {
	dir := t.TempDir()
	pairs := senderPairs(6)
	seed(t, dir, 2*len(pairs))
	a := start(t, "drain", dir)
	addr := a.addr("msg.listen")

	type sent struct {
		from, to uint32
		text     string
	}
	var mu sync.Mutex
	var acked, unacked []sent
	var wg sync.WaitGroup
	for _, p := range pairs {
		for dir := 0; dir < 2; dir++ {
			from, to := p[dir], p[1-dir]
			c, err := tryLogin(addr, from, "123456", android)
			if err != nil {
				t.Fatalf("login %s: %v", from, err)
			}
			toC, err := tryLogin(addr, to, "123456", ios)
			if err != nil {
				t.Fatalf("login %s: %v", to, err)
			}
			toID := toC.UserID()
			toC.Close()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				go func() {
					for range c.Events() {
					}
				}()
				for n := 0; ; n++ {
					s := sent{from: c.UserID(), to: toID, text: fmt.Sprintf("drain %s->%s #%d", from, to, n)}
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					_, err := c.SendText(ctx, toID, s.text)
					cancel()
					mu.Lock()
					if err != nil {
						unacked = append(unacked, s)
					} else {
						acked = append(acked, s)
					}
					mu.Unlock()
					if err != nil {
						return // the server stopped
					}
				}
			}()
		}
	}
	eventually(t, 10*time.Second, "load running", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 300
	})
	a.stop()
	wg.Wait()

	b := start(t, "drain-again", dir)
	addr = b.addr("msg.listen")
	stored := map[[2]uint32]map[string]bool{}
	for _, p := range pairs {
		u := login(t, addr, p[0], windows)
		peer := login(t, addr, p[1], windows)
		texts := map[string]bool{}
		for _, m := range history(t, u, peer.UserID()) {
			text, err := u.Cipher().Decrypt(m.GetMsgData())
			if err != nil {
				t.Fatalf("decrypt: %v", err)
			}
			texts[string(text)] = true
		}
		stored[pairKey(u.UserID(), peer.UserID())] = texts
		u.Close()
		peer.Close()
	}
	for _, s := range acked {
		if !stored[pairKey(s.from, s.to)][s.text] {
			t.Errorf("acked message %q is not in the history", s.text)
		}
	}
	storedUnacked := 0
	for _, s := range unacked {
		if stored[pairKey(s.from, s.to)][s.text] {
			storedUnacked++
			t.Errorf("message %q was stored but its ack never reached the sender", s.text)
		}
	}
	t.Logf("SIGTERM with %d senders: %d acked (all in history), %d unacked at the stop, of which %d stored",
		2*len(pairs), len(acked), len(unacked), storedUnacked)
}
