package msg

import (
	"runtime"
	"slices"
	"testing"

	"teamtalk/netloop"
)

// TestRegistryUserConns adds and removes connections of one user in various
// orders and checks the rest keep their login order.
func TestRegistryUserConns(t *testing.T) {
	cs := make([]*client, 5)
	for i := range cs {
		cs[i] = &client{id: netloop.ConnID(i + 1)}
	}
	ids := func(l []*client) []netloop.ConnID {
		var out []netloop.ConnID
		for _, c := range l {
			out = append(out, c.id)
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		add    []int
		remove []int
		want   []netloop.ConnID
	}{
		{"one", []int{0}, nil, []netloop.ConnID{1}},
		{"one removed", []int{0}, []int{0}, nil},
		{"three in order", []int{0, 1, 2}, nil, []netloop.ConnID{1, 2, 3}},
		{"first removed", []int{0, 1, 2}, []int{0}, []netloop.ConnID{2, 3}},
		{"middle removed", []int{0, 1, 2}, []int{1}, []netloop.ConnID{1, 3}},
		{"last removed", []int{0, 1, 2}, []int{2}, []netloop.ConnID{1, 2}},
		{"all removed", []int{0, 1, 2}, []int{1, 0, 2}, nil},
		{"unknown removed", []int{0, 1}, []int{4}, []netloop.ConnID{1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRegistry()
			const uid = 7
			for _, k := range tc.add {
				r.addUser(uid, cs[k])
			}
			for _, k := range tc.remove {
				r.removeUser(uid, cs[k])
			}
			got := ids(r.userConns(uid))
			if !slices.Equal(got, tc.want) {
				t.Errorf("userConns = %v, want %v", got, tc.want)
			}
			if got := ids(r.appendUserConns(nil, uid)); !slices.Equal(got, tc.want) {
				t.Errorf("appendUserConns = %v, want %v", got, tc.want)
			}
			users, conns := r.counts()
			if wantUsers := min(len(tc.want), 1); users != wantUsers || conns != len(tc.want) {
				t.Errorf("counts = %d users %d conns, want %d %d", users, conns, wantUsers, len(tc.want))
			}
			if got := len(r.all()); got != len(tc.want) {
				t.Errorf("all has %d, want %d", got, len(tc.want))
			}
			// The PC flag sticks to a user while it has connections.
			if ok := r.setPCOnline(uid, true); ok != (len(tc.want) > 0) {
				t.Errorf("setPCOnline = %v with %d conns", ok, len(tc.want))
			}
			if got := r.pcOnline(uid); got != (len(tc.want) > 0) {
				t.Errorf("pcOnline = %v with %d conns", got, len(tc.want))
			}
			if len(tc.want) > 0 {
				r.setPCOnline(uid, false)
				if r.pcOnline(uid) { // the clients are not logged in: no local PC session
					t.Error("pcOnline after the flag was cleared")
				}
			}
		})
	}
}

// BenchmarkRegistryMemory reports the heap the registry holds per logged-in
// connection (one per user, the common case), its client record included.
//
//	go test -run '^$' -bench RegistryMemory ./daemons/msg
func BenchmarkRegistryMemory(b *testing.B) {
	const conns = 100_000
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		r := newRegistry()
		for i := uint32(1); i <= conns; i++ {
			c := &client{id: netloop.ConnID(i), userID: i, loggedIn: true}
			r.addConn(c)
			r.addUser(i, c)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/conns, "B/conn")
		runtime.KeepAlive(r)
	}
}
