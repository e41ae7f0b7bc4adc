package netloop

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The benchmarks pair netloop with a goroutine-per-connection server on the
// standard net package, in the same run, so their ratio is meaningful on a
// noisy box:
//
//	go test -run '^$' -bench . -benchtime 3s ./netloop   (echo)
//	go test -run '^$' -bench IdleConns -benchtime 1x ./netloop

const childEnv = "NETLOOP_BENCH_CHILD" // "addr,count": hold count idle client conns

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(holdIdleClients(spec))
	}
	os.Exit(m.Run())
}

// holdIdleClients is the child process: it opens the connections, says
// "ready", and keeps them until stdin closes.
func holdIdleClients(spec string) int {
	raiseNoFile()
	addr, nstr, _ := strings.Cut(spec, ",")
	n, _ := strconv.Atoi(nstr)
	conns := make([]net.Conn, 0, n)
	for len(conns) < n {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			time.Sleep(time.Millisecond)
			continue
		}
		conns = append(conns, c)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
	return 0
}

func raiseNoFile() {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
}

// netServer is the baseline: one goroutine per connection, blocking reads of
// a header and a body, echo with one Write.
type netServer struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	open  atomic.Int64
}

func startNetServer(tb testing.TB) *netServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &netServer{ln: ln, conns: make(map[net.Conn]struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			s.open.Add(1)
			s.wg.Add(1)
			go s.serve(c)
		}
	}()
	return s
}

func (s *netServer) serve(c net.Conn) {
	defer s.wg.Done()
	defer c.Close()
	var hdr [16]byte
	var body []byte
	for {
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(hdr[:]))
		if cap(body) < n {
			body = make([]byte, n)
		}
		body = body[:n]
		copy(body, hdr[:])
		if _, err := io.ReadFull(c, body[16:]); err != nil {
			return
		}
		if _, err := c.Write(body); err != nil {
			return
		}
	}
}

func (s *netServer) stop() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

type echoServer struct {
	addr string
	open func() int
	stop func()
}

func netloopEcho(b *testing.B, opt Options) echoServer {
	opt.Owner = "bench"
	opt.Logger = testLogger(b)
	g, err := New(opt)
	if err != nil {
		b.Fatal(err)
	}
	if err := g.Start(); err != nil {
		b.Fatal(err)
	}
	ln, err := g.Listen("127.0.0.1:0", &echo{}, ListenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return echoServer{
		addr: ln.Addr().String(),
		open: func() int { return g.Stats().Total.Open },
		stop: func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			g.Stop(ctx)
		},
	}
}

func netEcho(b *testing.B) echoServer {
	s := startNetServer(b)
	return echoServer{addr: s.ln.Addr().String(), open: func() int { return int(s.open.Load()) }, stop: s.stop}
}

type serverKind struct {
	name  string
	start func(b *testing.B) echoServer
}

func serverKinds() []serverKind {
	return []serverKind{
		{"netloop", func(b *testing.B) echoServer { return netloopEcho(b, Options{}) }},
		{"netloop-loops1", func(b *testing.B) echoServer { return netloopEcho(b, Options{Loops: 1}) }},
		{"netloop-locked", func(b *testing.B) echoServer { return netloopEcho(b, Options{LockOSThread: true}) }},
		{"net", netEcho},
	}
}

// BenchmarkEcho measures echo round trips per second over many
// connections; every client goroutine keeps one 64-byte frame in flight.
func BenchmarkEcho(b *testing.B) {
	raiseNoFile()
	for _, nconn := range []int{100, 1000} {
		for _, k := range serverKinds() {
			b.Run(fmt.Sprintf("conns=%d/%s", nconn, k.name), func(b *testing.B) {
				srv := k.start(b)
				defer srv.stop()
				conns := make([]net.Conn, nconn)
				for i := range conns {
					c, err := net.Dial("tcp", srv.addr)
					if err != nil {
						b.Fatal(err)
					}
					defer c.Close()
					conns[i] = c
				}
				frame := mkFrame(0x0301, make([]byte, 48))
				var wg sync.WaitGroup
				b.ResetTimer()
				start := time.Now()
				for i, c := range conns {
					n := b.N / nconn
					if i < b.N%nconn {
						n++
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						buf := make([]byte, len(frame))
						for range n {
							if _, err := c.Write(frame); err != nil {
								b.Error(err)
								return
							}
							if _, err := io.ReadFull(c, buf); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "rt/s")
			})
		}
	}
}

// BenchmarkIdleConns measures the server's user-space bytes per idle
// connection (Go heap + goroutine stacks) with 10,000 connections whose
// client ends live in a child process (both ends in one process would not
// fit the 20,000 open-file limit). Run it with -benchtime 1x.
func BenchmarkIdleConns(b *testing.B) {
	raiseNoFile()
	const n = 10000
	for _, k := range serverKinds() {
		b.Run(k.name, func(b *testing.B) {
			srv := k.start(b)
			defer srv.stop()
			before := memUse()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"="+srv.addr+","+strconv.Itoa(n))
			stdin, err := cmd.StdinPipe()
			if err != nil {
				b.Fatal(err)
			}
			out, err := cmd.StdoutPipe()
			if err != nil {
				b.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			defer func() { stdin.Close(); cmd.Wait() }()
			line, err := bufio.NewReader(out).ReadString('\n')
			if err != nil || line != "ready\n" {
				b.Fatalf("child: %q %v", line, err)
			}
			deadline := time.Now().Add(time.Minute)
			for srv.open() < n {
				if time.Now().After(deadline) {
					b.Fatalf("only %d of %d connections open", srv.open(), n)
				}
				time.Sleep(10 * time.Millisecond)
			}
			after := memUse()
			b.ReportMetric(float64(after-before)/n, "B/conn")
		})
	}
}

// memUse is live heap plus goroutine stacks after a full collection.
func memUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc) + int64(m.StackInuse)
}
