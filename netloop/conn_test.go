package netloop

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"teamtalk/netloop/internal/poll"
	"teamtalk/wire"
)

func TestFraming(t *testing.T) {
	stream := append(mkFrame(0x0701, nil), mkFrame(0x0301, []byte("hello, world"))...)
	big := mkFrame(0x0301, bytes.Repeat([]byte("0123456789abcdef"), 1<<16)) // 1 MiB + 16
	edge := mkFrame(0x0301, make([]byte, 4096-wire.HeaderLen))              // exactly the read buffer
	many := []byte{}
	for i := range 500 {
		many = append(many, mkFrame(uint16(i), []byte(fmt.Sprint(i)))...)
	}
	cases := []struct {
		name   string
		chunks func() [][]byte // writes, each waited for before the next
		want   [][]byte
	}{
		{"split at every byte", func() [][]byte {
			var cs [][]byte
			for _, b := range stream {
				cs = append(cs, []byte{b})
			}
			return cs
		}, [][]byte{stream[:16], stream[16:]}},
		{"every split point", func() [][]byte {
			var cs [][]byte
			for i := 1; i < len(stream); i++ {
				cs = append(cs, stream[:i], stream[i:])
			}
			return cs
		}, nil},
		{"many frames per read", func() [][]byte { return [][]byte{many} }, nil},
		{"big frame over the read buffer", func() [][]byte { return [][]byte{big} }, [][]byte{big}},
		{"big frame split in odd chunks", func() [][]byte {
			return [][]byte{big[:7], big[7:5000], big[5000:700000], big[700000:]}
		}, [][]byte{big}},
		{"frame exactly the read buffer", func() [][]byte { return [][]byte{edge, edge[:100], edge[100:]} }, [][]byte{edge, edge}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := startGroup(t, Options{ReadBuffer: 4096, Loops: 1})
			rec := newRecorder()
			ln := listen(t, g, rec, ListenOptions{})
			cl := dialTCP(t, ln)
			rec.open(t)
			want := tc.want
			if want == nil {
				var all []byte
				for _, c := range tc.chunks() {
					all = append(all, c...)
				}
				for len(all) > 0 {
					n := int(binary.BigEndian.Uint32(all))
					want = append(want, all[:n])
					all = all[n:]
				}
			}
			var sent uint64
			for _, c := range tc.chunks() {
				if _, err := cl.Write(c); err != nil {
					t.Fatal(err)
				}
				sent += uint64(len(c))
				eventually(t, "bytes read", func() bool { return g.Stats().Total.BytesIn >= sent })
			}
			for i, w := range want {
				if got := rec.frame(t); !bytes.Equal(got, w) {
					t.Fatalf("frame %d: got %d bytes %x..., want %d bytes %x...", i, len(got), got[:16], len(w), w[:16])
				}
			}
			if st := g.Stats().Total; st.FramesIn != uint64(len(want)) || st.Open != 1 {
				t.Fatalf("stats: frames in %d (want %d), open %d", st.FramesIn, len(want), st.Open)
			}
		})
	}
}

func TestFramingErrorsClose(t *testing.T) {
	hdr := func(n uint32) []byte {
		b := make([]byte, 16)
		binary.BigEndian.PutUint32(b, n)
		return b
	}
	cases := []struct {
		name string
		data []byte
	}{
		{"length 0", hdr(0)},
		{"length under 16", hdr(8)},
		{"length over the limit", hdr(1025)},
		{"oversize after a good frame", append(mkFrame(1, nil), hdr(1<<30)...)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := startGroup(t, Options{})
			rec := newRecorder()
			ln := listen(t, g, rec, ListenOptions{MaxFrame: 1024})
			cl := dialTCP(t, ln)
			rec.open(t)
			if _, err := cl.Write(tc.data); err != nil {
				t.Fatal(err)
			}
			ev := rec.closed(t)
			if !errors.Is(ev.err, ErrFraming) {
				t.Fatalf("OnClose err = %v, want ErrFraming", ev.err)
			}
			cl.SetReadDeadline(time.Now().Add(waitFor))
			if _, err := io.ReadAll(cl); err != nil {
				t.Fatalf("client should see EOF, got %v", err)
			}
			if st := g.Stats().Total; st.FrameErrors != 1 || st.Open != 0 {
				t.Fatalf("stats: frame errors %d, open %d", st.FrameErrors, st.Open)
			}
		})
	}
}

func TestPeerClose(t *testing.T) {
	cases := []struct {
		name  string
		close func(t *testing.T, cl *net.TCPConn)
		check func(t *testing.T, cl *net.TCPConn, err error)
	}{
		{"half-close: frames before FIN are echoed, then EOF", func(t *testing.T, cl *net.TCPConn) {
			if err := cl.CloseWrite(); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, cl *net.TCPConn, err error) {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("OnClose err = %v, want io.EOF", err)
			}
			cl.SetReadDeadline(time.Now().Add(waitFor))
			f, rerr := readFrame(cl)
			if rerr != nil || binary.BigEndian.Uint16(f[10:]) != 0x0303 {
				t.Fatalf("echo after half-close: %x, %v", f, rerr)
			}
			if _, rerr := readFrame(cl); rerr != io.EOF {
				t.Fatalf("want EOF after the echo, got %v", rerr)
			}
		}},
		{"reset (SO_LINGER 0)", func(t *testing.T, cl *net.TCPConn) {
			cl.SetLinger(0)
			cl.Close()
		}, func(t *testing.T, cl *net.TCPConn, err error) {
			if err == nil || errors.Is(err, io.EOF) {
				t.Fatalf("OnClose err = %v, want a reset error", err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := startGroup(t, Options{})
			rec := newRecorder()
			rec.onFrame = func(c *Conn, f []byte) { c.Write(f) }
			ln := listen(t, g, rec, ListenOptions{})
			cl := dialTCP(t, ln)
			rec.open(t)
			if _, err := cl.Write(mkFrame(0x0303, []byte("x"))); err != nil {
				t.Fatal(err)
			}
			eventually(t, "frame", func() bool { return g.Stats().Total.FramesIn == 1 })
			tc.close(t, cl)
			ev := rec.closed(t)
			tc.check(t, cl, ev.err)
			eventually(t, "conn gone", func() bool { return len(g.Conns()) == 0 })
		})
	}
}

func TestDial(t *testing.T) {
	t.Run("refused: OnClose with the error, no OnOpen", func(t *testing.T) {
		tmp, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := tmp.Addr().String()
		tmp.Close()
		g := startGroup(t, Options{})
		rec := newRecorder()
		id, err := g.Dial(addr, rec, DialOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ev := rec.closed(t)
		if ev.id != id || !errors.Is(ev.err, syscall.ECONNREFUSED) {
			t.Fatalf("OnClose(%d, %v), want id %d and ECONNREFUSED", ev.id, ev.err, id)
		}
		if len(rec.opens) != 0 {
			t.Fatal("OnOpen ran for a refused dial")
		}
		if err := g.Write(id, mkFrame(1, nil)); !errors.Is(err, ErrClosed) {
			t.Fatalf("write to closed id: %v", err)
		}
		g.Close(id) // no-op
	})
	t.Run("success: OnOpen, frames both ways, queued before connect", func(t *testing.T) {
		peer, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer peer.Close()
		g := startGroup(t, Options{})
		rec := newRecorder()
		id, err := g.Dial(peer.Addr().String(), rec, DialOptions{})
		if err != nil {
			t.Fatal(err)
		}
		early := mkFrame(0x0101, []byte("early"))
		if err := g.Write(id, early); err != nil {
			t.Fatalf("write while connecting: %v", err)
		}
		pc, err := peer.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		c := rec.open(t)
		if c.ID() != id || c.LocalAddr() == nil || c.RemoteAddr().String() != peer.Addr().String() {
			t.Fatalf("conn %d local %v remote %v", c.ID(), c.LocalAddr(), c.RemoteAddr())
		}
		pc.SetReadDeadline(time.Now().Add(waitFor))
		if f, err := readFrame(pc); err != nil || !bytes.Equal(f, early) {
			t.Fatalf("peer got %x, %v", f, err)
		}
		reply := mkFrame(0x0102, []byte("reply"))
		pc.Write(reply)
		if f := rec.frame(t); !bytes.Equal(f, reply) {
			t.Fatalf("got %x", f)
		}
		pc.Close()
		if ev := rec.closed(t); !errors.Is(ev.err, io.EOF) {
			t.Fatalf("OnClose err %v", ev.err)
		}
	})
	t.Run("connect timeout", func(t *testing.T) {
		// A listener with backlog 0 that never accepts: once its queue is
		// full the kernel drops further SYNs, so a connect hangs.
		fd, bound, err := poll.Listen(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer poll.Close(fd)
		for range 4 {
			if c, err := net.DialTimeout("tcp", bound.String(), 200*time.Millisecond); err == nil {
				defer c.Close()
			}
		}
		g := startGroup(t, Options{})
		rec := newRecorder()
		id, err := g.Dial(bound.String(), rec, DialOptions{ConnectTimeout: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if ev := rec.closed(t); ev.id != id || !errors.Is(ev.err, ErrConnectTimeout) {
			t.Fatalf("OnClose(%d, %v), want ErrConnectTimeout", ev.id, ev.err)
		}
		if len(rec.opens) != 0 {
			t.Fatal("OnOpen ran")
		}
	})
}

func TestWriteFromManyGoroutines(t *testing.T) {
	g := startGroup(t, Options{})
	rec := newRecorder()
	ln := listen(t, g, rec, ListenOptions{WriteBound: 64 << 20})
	cl := dialTCP(t, ln)
	c := rec.open(t)
	const writers, each = 8, 500
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				body := make([]byte, 8+i%300)
				binary.BigEndian.PutUint32(body, uint32(w))
				binary.BigEndian.PutUint32(body[4:], uint32(i))
				if err := g.Write(c.ID(), mkFrame(0x0301, body)); err != nil {
					t.Errorf("write: %v", err)
					return
				}
			}
		}()
	}
	next := make([]uint32, writers)
	cl.SetReadDeadline(time.Now().Add(waitFor))
	for range writers * each {
		f, err := readFrame(cl)
		if err != nil {
			t.Fatal(err)
		}
		w, i := binary.BigEndian.Uint32(f[16:]), binary.BigEndian.Uint32(f[20:])
		if w >= writers || i != next[w] || len(f) != 16+8+int(i)%300 {
			t.Fatalf("writer %d frame %d (len %d), want frame %d", w, i, len(f), next[w])
		}
		next[w]++
	}
	wg.Wait()
	if st := g.Stats().Total; st.FramesOut != writers*each {
		t.Fatalf("frames out %d", st.FramesOut)
	}
}

func TestSlowReaderClosed(t *testing.T) {
	g := startGroup(t, Options{})
	rec := newRecorder()
	ln := listen(t, g, rec, ListenOptions{WriteBound: 256 << 10})
	cl := dialTCP(t, ln)
	_ = cl // never reads
	c := rec.open(t)
	frame := mkFrame(0x0301, make([]byte, 64<<10))
	var err error
	for i := 0; i < 100000 && err == nil; i++ {
		err = c.Write(frame)
		if c.Queued() > 256<<10 {
			t.Fatalf("queued %d over the bound", c.Queued())
		}
	}
	if !errors.Is(err, ErrSlowReader) {
		t.Fatalf("write err = %v, want ErrSlowReader", err)
	}
	if ev := rec.closed(t); !errors.Is(ev.err, ErrSlowReader) {
		t.Fatalf("OnClose err = %v", ev.err)
	}
	if err := c.Write(frame); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
	if st := g.Stats().Total; st.SlowReaderCloses != 1 {
		t.Fatalf("slow reader closes = %d", st.SlowReaderCloses)
	}
}

func TestWriteBoundAdmitsOneWholeFrame(t *testing.T) {
	g := startGroup(t, Options{})
	rec := newRecorder()
	ln := listen(t, g, rec, ListenOptions{WriteBound: 1024})
	cl := dialTCP(t, ln)
	c := rec.open(t)
	big := mkFrame(0x0301, bytes.Repeat([]byte{7}, 8<<20)) // far over the bound and the socket buffer
	if err := c.Write(big); err != nil {
		t.Fatalf("a frame on an empty queue must be admitted: %v", err)
	}
	cl.SetReadDeadline(time.Now().Add(waitFor))
	if f, err := readFrame(cl); err != nil || !bytes.Equal(f, big) {
		t.Fatalf("read big frame: %v", err)
	}
}

func TestIdleTimeout(t *testing.T) {
	cases := []struct {
		name    string
		listen  time.Duration
		onOpen  func(c *Conn)
		closes  bool
		wantErr error
	}{
		{"listener timeout closes a silent conn", 150 * time.Millisecond, nil, true, ErrIdleTimeout},
		{"SetIdleTimeout from another goroutine", 0, func(c *Conn) {
			go c.SetIdleTimeout(150 * time.Millisecond)
		}, true, ErrIdleTimeout},
		{"SetIdleTimeout(0) disables it", 100 * time.Millisecond, func(c *Conn) { c.SetIdleTimeout(0) }, false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := startGroup(t, Options{Tick: 20 * time.Millisecond})
			rec := newRecorder()
			rec.onOpen = tc.onOpen
			ln := listen(t, g, rec, ListenOptions{IdleTimeout: tc.listen})
			dialTCP(t, ln)
			rec.open(t)
			if !tc.closes {
				time.Sleep(500 * time.Millisecond)
				if len(rec.closes) != 0 || g.Stats().Total.Open != 1 {
					t.Fatal("conn closed despite no idle timeout")
				}
				return
			}
			if ev := rec.closed(t); !errors.Is(ev.err, tc.wantErr) {
				t.Fatalf("OnClose err = %v", ev.err)
			}
			if st := g.Stats().Total; st.IdleCloses != 1 {
				t.Fatalf("idle closes %d", st.IdleCloses)
			}
		})
	}
}

func TestPanicInOnFrameClosesOnlyThatConn(t *testing.T) {
	var (
		mu     sync.Mutex
		panics []any
	)
	g := startGroup(t, Options{OnPanic: func(v any, stack []byte) {
		mu.Lock()
		panics = append(panics, v)
		mu.Unlock()
	}})
	rec := newRecorder()
	rec.onFrame = func(c *Conn, f []byte) {
		if string(f[16:]) == "boom" {
			panic("boom")
		}
		c.Write(f)
	}
	ln := listen(t, g, rec, ListenOptions{})
	bad, good := dialTCP(t, ln), dialTCP(t, ln)
	rec.open(t)
	rec.open(t)
	bad.Write(mkFrame(1, []byte("boom")))
	if ev := rec.closed(t); !errors.Is(ev.err, ErrPanic) {
		t.Fatalf("OnClose err = %v", ev.err)
	}
	ping := mkFrame(2, []byte("ping"))
	good.Write(ping)
	good.SetReadDeadline(time.Now().Add(waitFor))
	if f, err := readFrame(good); err != nil || !bytes.Equal(f, ping) {
		t.Fatalf("other conn: %x %v", f, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(panics) != 1 || panics[0] != "boom" {
		t.Fatalf("panics reported: %v", panics)
	}
	if st := g.Stats().Total; st.Panics != 1 || st.Open != 1 {
		t.Fatalf("stats panics %d open %d", st.Panics, st.Open)
	}
}

func TestCloseFlushesQueued(t *testing.T) {
	g := startGroup(t, Options{})
	rec := newRecorder()
	ln := listen(t, g, rec, ListenOptions{WriteBound: 64 << 20})
	cl := dialTCP(t, ln)
	c := rec.open(t)
	payload := bytes.Repeat([]byte("z"), 4<<20)
	c.Write(mkFrame(1, payload))
	c.Write(mkFrame(2, []byte("last")))
	c.Close()
	cl.SetReadDeadline(time.Now().Add(waitFor))
	f1, err := readFrame(cl)
	if err != nil || len(f1) != len(payload)+16 {
		t.Fatalf("first frame: %d bytes, %v", len(f1), err)
	}
	f2, err := readFrame(cl)
	if err != nil || string(f2[16:]) != "last" {
		t.Fatalf("second frame: %v", err)
	}
	if _, err := readFrame(cl); err != io.EOF {
		t.Fatalf("want EOF, got %v", err)
	}
	if ev := rec.closed(t); ev.err != nil {
		t.Fatalf("OnClose err after local Close = %v", ev.err)
	}
}

// TestWritesBatchedPerIteration checks that the frames written during one
// loop iteration leave with one write, in order, and that a connection at
// rest holds no write buffer.
func TestWritesBatchedPerIteration(t *testing.T) {
	tests := []struct {
		name   string
		frames int
		size   int
	}{
		{"one frame", 1, 10},
		{"a hundred small frames", 100, 40},
		{"frames past the first buffer size", 10, 1200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := startGroup(t, Options{Loops: 1})
			rec := newRecorder()
			ln := listen(t, g, rec, ListenOptions{WriteBound: 4 << 20})
			cl := dialTCP(t, ln)
			c := rec.open(t)
			before := g.Stats().Total.Writes
			done := make(chan struct{})
			c.Post(func() {
				defer close(done)
				for i := range tt.frames {
					body := make([]byte, tt.size)
					binary.BigEndian.PutUint32(body, uint32(i))
					if err := c.Write(mkFrame(0x0301, body)); err != nil {
						t.Errorf("write %d: %v", i, err)
					}
				}
			})
			<-done
			cl.SetReadDeadline(time.Now().Add(waitFor))
			for i := range tt.frames {
				f, err := readFrame(cl)
				if err != nil {
					t.Fatal(err)
				}
				if got := binary.BigEndian.Uint32(f[16:]); got != uint32(i) || len(f) != 16+tt.size {
					t.Fatalf("frame %d: got %d (len %d)", i, got, len(f))
				}
			}
			// The counters move just after the write returns.
			total := uint64(tt.frames * (16 + tt.size))
			eventually(t, "bytes out counted", func() bool { return g.Stats().Total.BytesOut == total })
			if w := g.Stats().Total.Writes - before; w != 1 {
				t.Errorf("%d frames took %d writes, want 1", tt.frames, w)
			}
			c.mu.Lock()
			out, queued := c.out, c.queuedLocked()
			c.mu.Unlock()
			if out != nil || queued != 0 {
				t.Errorf("at rest the connection holds a %d-byte buffer, %d queued", cap(*out), queued)
			}
		})
	}
}
