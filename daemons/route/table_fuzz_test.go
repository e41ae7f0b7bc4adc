package route

import (
	"testing"

	"teamtalk/netloop"
)

// FuzzTable drives the presence table with arbitrary status updates from a
// few links and checks its invariants: a user is online for route iff one of
// its counts is a PC type, and dropping every link leaves the table empty.
func FuzzTable(f *testing.F) {
	f.Add([]byte{0x01, 0x11, 0x02, 0x11, 0x81, 0x11})
	f.Add([]byte{0x01, 0x21, 0x41, 0x21, 0x03, 0x31, 0x83, 0x31, 0x82, 0x22})
	f.Fuzz(func(t *testing.T, ops []byte) {
		tb := newTable()
		cts := []uint32{1, 2, 17, 18}
		for i := 0; i+1 < len(ops); i += 2 {
			op, arg := ops[i], ops[i+1]
			link := netloop.ConnID(op&0x03) + 1
			uid := uint32(arg>>4) + 1
			ct := cts[arg&0x03]
			status := statusOnline
			if op&0x80 != 0 {
				status = statusOffline
			}
			if op&0x40 != 0 {
				tb.dropLink(link)
				continue
			}
			n := tb.update(link, uid, status, ct)
			if n.stat != nil && !isPC(ct) {
				t.Fatalf("stat notify for a mobile update %d", ct)
			}
			if n.loginStatus != nil && *n.loginStatus == 1 && !tb.pcOnline(uid) {
				t.Fatalf("login status 1 but user %d has no PC", uid)
			}
		}
		for l := netloop.ConnID(1); l <= 4; l++ {
			tb.dropLink(l)
		}
		if n := tb.users.Load(); n != 0 {
			t.Fatalf("%d users left after every link dropped", n)
		}
		if s := tb.snapshot(); len(s) != 0 {
			t.Fatalf("entries left: %+v", s)
		}
	})
}
