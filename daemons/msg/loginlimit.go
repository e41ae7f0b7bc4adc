package msg

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// maxTrackedAddrs bounds the addresses ipFails remembers, so a flood from
// many addresses costs at most a few MB.
const maxTrackedAddrs = 100_000

// ipFails counts failed logins per source address in fixed windows: the
// first failure opens a window of length window; once limit failures fell
// in it, the address is refused until the window ends.
type ipFails struct {
	limit  int
	window time.Duration

	mu sync.Mutex
	m  map[netip.Addr]ipWindow
}

type ipWindow struct {
	start time.Time
	n     int
}

func newIPFails(limit int, window time.Duration) *ipFails {
	return &ipFails{limit: limit, window: window, m: map[netip.Addr]ipWindow{}}
}

// blocked reports whether logins from a are refused at now.
func (f *ipFails) blocked(a netip.Addr, now time.Time) bool {
	if f.limit <= 0 || !a.IsValid() {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	w, ok := f.m[a]
	if !ok {
		return false
	}
	if now.Sub(w.start) >= f.window {
		delete(f.m, a)
		return false
	}
	return w.n >= f.limit
}

// fail records a failed login from a at now.
func (f *ipFails) fail(a netip.Addr, now time.Time) {
	if f.limit <= 0 || !a.IsValid() {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	w, ok := f.m[a]
	if !ok || now.Sub(w.start) >= f.window {
		if !ok && len(f.m) >= maxTrackedAddrs {
			f.sweep(now)
			if len(f.m) >= maxTrackedAddrs {
				return // full of live windows: the per-name limit in db still holds
			}
		}
		w = ipWindow{start: now}
	}
	w.n++
	f.m[a] = w
}

// sweep drops the windows that ended.
func (f *ipFails) sweep(now time.Time) {
	for a, w := range f.m {
		if now.Sub(w.start) >= f.window {
			delete(f.m, a)
		}
	}
}

// addrIP returns the IP of a TCP address (IPv4-mapped IPv6 unmapped).
func addrIP(a net.Addr) netip.Addr {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}
