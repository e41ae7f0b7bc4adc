package route

import (
	"cmp"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"testing"

	"teamtalk/netloop"
)

// model is the obvious form of the presence table: user → link → client
// type → connections.
type model map[uint32]map[netloop.ConnID]map[uint32]int

func (m model) update(link netloop.ConnID, uid, status, ct uint32) {
	if status != statusOffline {
		if m[uid] == nil {
			m[uid] = map[netloop.ConnID]map[uint32]int{}
		}
		if m[uid][link] == nil {
			m[uid][link] = map[uint32]int{}
		}
		m[uid][link][ct]++
		return
	}
	if m[uid][link][ct] == 0 {
		return
	}
	if m[uid][link][ct]--; m[uid][link][ct] == 0 {
		delete(m[uid][link], ct)
	}
	if len(m[uid][link]) == 0 {
		delete(m[uid], link)
	}
	if len(m[uid]) == 0 {
		delete(m, uid)
	}
}

func (m model) dropLink(link netloop.ConnID) {
	for uid, ls := range m {
		delete(ls, link)
		if len(ls) == 0 {
			delete(m, uid)
		}
	}
}

func (m model) pcOnline(uid uint32) bool {
	for _, cs := range m[uid] {
		for ct, n := range cs {
			if isPC(ct) && n > 0 {
				return true
			}
		}
	}
	return false
}

// check compares every query of tb with the model.
func (m model) check(t *testing.T, tb *table) {
	t.Helper()
	var want []entry
	links := map[netloop.ConnID]bool{}
	for uid, ls := range m {
		for l, cs := range ls {
			want = append(want, entry{uid: uid, link: l, counts: maps.Clone(cs)})
			links[l] = true
		}
	}
	slices.SortFunc(want, func(a, b entry) int { return cmp.Or(cmp.Compare(a.uid, b.uid), cmp.Compare(a.link, b.link)) })
	got := tb.snapshot()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("snapshot %v, want %v", got, want)
	}
	if n := tb.users.Load(); n != int64(len(m)) {
		t.Fatalf("users %d, want %d", n, len(m))
	}
	if p, w := tb.populated(nil), slices.Sorted(maps.Keys(links)); !slices.Equal(p, w) {
		t.Fatalf("populated %v, want %v", p, w)
	}
	for uid := uint32(1); uid <= 16; uid++ {
		if tb.pcOnline(uid) != m.pcOnline(uid) {
			t.Fatalf("pcOnline(%d) = %v", uid, tb.pcOnline(uid))
		}
		h := tb.holders(nil, uid)
		slices.Sort(h)
		if w := slices.Sorted(maps.Keys(m[uid])); !slices.Equal(h, w) {
			t.Fatalf("holders(%d) = %v, want %v", uid, h, w)
		}
	}
}

// FuzzTableModel drives the table and the model with the same updates and
// link drops and compares every query after each step.
func FuzzTableModel(f *testing.F) {
	f.Add([]byte{0x01, 0x11, 0x02, 0x11, 0x81, 0x11})
	f.Add([]byte{0x01, 0x21, 0x41, 0x21, 0x03, 0x31, 0x83, 0x31, 0x82, 0x22})
	f.Add([]byte{0x01, 0x10, 0x01, 0x11, 0x02, 0x12, 0x03, 0x13, 0x81, 0x10, 0x42, 0x00, 0x81, 0x11})
	f.Fuzz(func(t *testing.T, ops []byte) {
		tb, m := newTable(), model{}
		cts := []uint32{1, 2, 17, 18}
		for i := 0; i+1 < len(ops); i += 2 {
			op, arg := ops[i], ops[i+1]
			link := netloop.ConnID(op&0x03) + 1
			uid := uint32(arg>>4) + 1
			ct := cts[arg&0x03]
			switch {
			case op&0x40 != 0:
				tb.dropLink(link)
				m.dropLink(link)
			case op&0x80 != 0:
				tb.update(link, uid, statusOffline, ct)
				m.update(link, uid, statusOffline, ct)
			default:
				tb.update(link, uid, statusOnline, ct)
				m.update(link, uid, statusOnline, ct)
			}
			m.check(t, tb)
		}
	})
}

// BenchmarkTableMemory reports the heap the table holds per online user,
// each with one mobile connection on one of two links (the common case).
//
//	go test -run '^$' -bench TableMemory ./daemons/route
func BenchmarkTableMemory(b *testing.B) {
	const users = 100_000
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		tb := newTable()
		for uid := uint32(1); uid <= users; uid++ {
			tb.update(netloop.ConnID(uid%2+1), uid, statusOnline, 17)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/users, "B/user")
		runtime.KeepAlive(tb)
	}
}
