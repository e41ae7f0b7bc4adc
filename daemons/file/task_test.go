package file

import (
	"errors"
	"testing"
	"time"

	"teamtalk/netloop"
	"teamtalk/wire/pb"
)

const (
	sender   = pb.ClientFileRole_CLIENT_REALTIME_SENDER
	receiver = pb.ClientFileRole_CLIENT_REALTIME_RECVER
	uploader = pb.ClientFileRole_CLIENT_OFFLINE_UPLOAD
)

var t0 = time.Unix(1000, 0)

func TestTaskLogin(t *testing.T) {
	type step struct {
		role  pb.ClientFileRole
		uid   uint32
		conn  netloop.ConnID
		ready bool
		err   error
	}
	for _, c := range []struct {
		name    string
		offline bool
		steps   []step
		final   taskState
	}{
		{"online sender then receiver", false, []step{{sender, 1, 10, false, nil}, {receiver, 2, 11, true, nil}}, stateTransfer},
		{"online receiver then sender", false, []step{{receiver, 2, 11, false, nil}, {sender, 1, 10, true, nil}}, stateTransfer},
		{"sender role by the receiver", false, []step{{sender, 2, 10, false, errUser}}, stateReady},
		{"receiver role by a stranger", false, []step{{receiver, 9, 10, false, errUser}}, stateReady},
		{"second sender", false, []step{{sender, 1, 10, false, nil}, {sender, 1, 12, false, errTaken}}, stateWaitPeer},
		{"upload role on an online task", false, []step{{uploader, 1, 10, false, errRole}}, stateReady},
		{"online role on an offline task", true, []step{{sender, 1, 10, false, errRole}}, stateReady},
		{"uploader", true, []step{{uploader, 1, 10, false, nil}}, stateUploading},
		{"uploader not the sender", true, []step{{uploader, 2, 10, false, errUser}}, stateReady},
		{"second uploader", true, []step{{uploader, 1, 10, false, nil}, {uploader, 1, 11, false, errTaken}}, stateUploading},
		{"undeclared role", false, []step{{pb.ClientFileRole(9), 1, 10, false, errRole}}, stateReady},
	} {
		t.Run(c.name, func(t *testing.T) {
			tk := newTask(tid, 1, 2, "f", 100, c.offline, t0)
			for i, s := range c.steps {
				ready, err := tk.login(s.role, s.uid, s.conn, t0.Add(time.Second))
				if ready != s.ready || !errors.Is(err, s.err) {
					t.Fatalf("step %d: login = %v, %v; want %v, %v", i, ready, err, s.ready, s.err)
				}
			}
			if tk.state != c.final {
				t.Fatalf("state %v, want %v", tk.state, c.final)
			}
		})
	}
}

func onlinePair(t *testing.T) *task {
	t.Helper()
	tk := newTask(tid, 1, 2, "f", 100, false, t0)
	if _, err := tk.login(sender, 1, 10, t0); err != nil {
		t.Fatal(err)
	}
	if ready, err := tk.login(receiver, 2, 11, t0); !ready || err != nil {
		t.Fatal(ready, err)
	}
	return tk
}

func TestTaskRelaySeqs(t *testing.T) {
	tk := onlinePair(t)
	// Pipelined pulls: each block goes back with its own pull's seq.
	for i, seq := range []uint16{7, 8, 9} {
		dst, err := tk.pull(11, uint32(i)*BlockSize, seq, t0)
		if dst != 10 || err != nil {
			t.Fatalf("pull %d = %d, %v", i, dst, err)
		}
	}
	for _, c := range []struct {
		name string
		conn netloop.ConnID
		off  uint32
		dst  netloop.ConnID
		seq  uint16
		err  error
	}{
		{"second block first", 10, BlockSize, 11, 8, nil},
		{"first block", 10, 0, 11, 7, nil},
		{"block never pulled", 10, 5, 0, 0, errRole},
		{"block from the receiver", 11, 2 * BlockSize, 0, 0, errRole},
		{"third block", 10, 2 * BlockSize, 11, 9, nil},
		{"third block again", 10, 2 * BlockSize, 0, 0, errRole},
	} {
		t.Run(c.name, func(t *testing.T) {
			dst, seq, err := tk.block(c.conn, c.off, t0)
			if dst != c.dst || seq != c.seq || !errors.Is(err, c.err) {
				t.Fatalf("block = %d, %d, %v; want %d, %d, %v", dst, seq, err, c.dst, c.seq, c.err)
			}
		})
	}
	if _, err := tk.pull(10, 0, 1, t0); !errors.Is(err, errRole) {
		t.Fatalf("pull from the sender: %v", err)
	}
	for i := range maxPending {
		if _, err := tk.pull(11, uint32(i), 1, t0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tk.pull(11, 1<<30, 1, t0); !errors.Is(err, errPending) {
		t.Fatalf("pull past the bound: %v", err)
	}
}

func TestTaskPullBeforeReady(t *testing.T) {
	tk := newTask(tid, 1, 2, "f", 100, false, t0)
	tk.login(receiver, 2, 11, t0)
	if _, err := tk.pull(11, 0, 1, t0); !errors.Is(err, errOver) {
		t.Fatalf("pull while waiting for the sender: %v", err)
	}
}

func TestTaskEndAndLeave(t *testing.T) {
	for _, c := range []struct {
		name     string
		endBy    netloop.ConnID
		leave    netloop.ConnID
		peer     netloop.ConnID
		gone     bool
		endState taskState
	}{
		{"done by receiver, receiver leaves", 11, 11, 10, false, stateFinished},
		{"cancel by sender, sender leaves", 10, 10, 11, false, stateFinished},
		{"receiver drops mid-transfer", 0, 11, 10, false, stateInvalid},
		{"stranger leaves", 0, 99, 0, false, stateTransfer},
	} {
		t.Run(c.name, func(t *testing.T) {
			tk := onlinePair(t)
			if c.endBy != 0 {
				fwd, err := tk.end(c.endBy, []byte("state"))
				if err != nil || fwd != tk.peer(c.endBy) || fwd == 0 {
					t.Fatalf("end = %d, %v", fwd, err)
				}
			}
			peer, gone := tk.leave(c.leave)
			if peer != c.peer || gone != c.gone || tk.state != c.endState {
				t.Fatalf("leave = %d, %v (state %v); want %d, %v (%v)", peer, gone, tk.state, c.peer, c.gone, c.endState)
			}
			if c.peer != 0 {
				if _, gone := tk.leave(c.peer); !gone {
					t.Fatal("task not gone after both left")
				}
				if _, err := tk.login(sender, 1, 20, t0); !errors.Is(err, errOver) {
					t.Fatalf("login after the end: %v", err)
				}
			}
		})
	}
	tk := onlinePair(t)
	if _, err := tk.end(99, nil); !errors.Is(err, errRole) {
		t.Fatalf("end by a stranger: %v", err)
	}
}

func TestTaskOfflineLeave(t *testing.T) {
	tk := newTask(tid, 1, 2, "f", 100, true, t0)
	tk.login(uploader, 1, 10, t0)
	if tk.roleOf(10) != uploader || tk.roleOf(11) != 0 {
		t.Fatalf("roles %v %v", tk.roleOf(10), tk.roleOf(11))
	}
	if peer, gone := tk.leave(10); peer != 0 || !gone || tk.state != stateInvalid {
		t.Fatalf("uploader left mid-upload: %d %v %v", peer, gone, tk.state)
	}
}

func TestTaskExpiry(t *testing.T) {
	tk := onlinePair(t)
	if tk.expired(t0.Add(-time.Second)) || !tk.expired(t0.Add(time.Second)) {
		t.Fatal("expiry from the last activity")
	}
	tk.pull(11, 0, 1, t0.Add(time.Minute))
	if tk.expired(t0.Add(30 * time.Second)) {
		t.Fatal("a pull did not count as activity")
	}
}

func TestTaskEndBeforePeerLogin(t *testing.T) {
	tk := newTask(tid, 1, 2, "f", 100, false, t0)
	tk.login(receiver, 2, 11, t0)
	if fwd, err := tk.end(11, []byte("refuse")); fwd != 0 || err != nil {
		t.Fatalf("end = %d, %v", fwd, err)
	}
	if _, gone := tk.leave(11); gone {
		t.Fatal("task gone while its end waits for the sender")
	}
	if _, ok := tk.claim(sender, 2, 10); ok {
		t.Fatal("claimed by the wrong user")
	}
	p, ok := tk.claim(sender, 1, 10)
	if !ok || string(p) != "refuse" {
		t.Fatalf("claim = %q, %v", p, ok)
	}
	if _, ok := tk.claim(sender, 1, 12); ok {
		t.Fatal("claimed twice")
	}
	if _, gone := tk.leave(10); !gone {
		t.Fatal("task not gone after the sender got the end and left")
	}
}
