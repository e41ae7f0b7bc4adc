package netloop

import (
	"net"
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// nopHandler accepts connections and ignores their frames.
type nopHandler struct{}

func (nopHandler) OnOpen(*Conn)          {}
func (nopHandler) OnFrame(*Conn, []byte) {}
func (nopHandler) OnClose(*Conn, error)  {}

// BenchmarkIdleConnMemory reports the live heap one idle accepted
// connection costs its Group (the clients are raw sockets, so they add
// nothing to the Go heap). b.N is ignored beyond running the measurement.
func BenchmarkIdleConnMemory(b *testing.B) {
	const n = 2000
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Cur < 2*n+100 {
		b.Skipf("needs %d open files (limit %d)", 2*n+100, rl.Cur)
	}
	g := startGroup(b, Options{Loops: 2})
	ln := listen(b, g, nopHandler{}, ListenOptions{})
	sa := &unix.SockaddrInet4{Port: ln.Addr().(*net.TCPAddr).Port}
	copy(sa.Addr[:], []byte{127, 0, 0, 1})
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	fds := make([]int, 0, n)
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for range n {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		fds = append(fds, fd)
		if err := unix.Connect(fd, sa); err != nil {
			b.Fatal(err)
		}
	}
	eventually(b, "all accepted", func() bool { return g.Stats().Total.Open == n })
	after := heap()
	b.ReportMetric(float64(int64(after)-int64(before))/n, "heap-B/conn")
}

// TestConnSize keeps a Conn within the 224-byte allocation size class: every
// open connection has one, so the next class up (240, 256) costs each idle
// connection 16-32 bytes of heap and about twice that of RSS.
func TestConnSize(t *testing.T) {
	if n := unsafe.Sizeof(Conn{}); n > 224 {
		t.Errorf("Conn is %d bytes, want at most 224", n)
	}
}
