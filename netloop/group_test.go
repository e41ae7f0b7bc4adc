package netloop

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"
)

func TestTimers(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, g *Group, log func(string)) []string
	}{
		{"heap order, ties in creation order", func(t *testing.T, g *Group, log func(string)) []string {
			for _, tm := range []struct {
				d    time.Duration
				name string
			}{{90, "c"}, {30, "a1"}, {60, "b"}, {30, "a2"}} {
				g.AddTimer(tm.d*time.Millisecond, false, func() { log(tm.name) })
			}
			return []string{"a1", "a2", "b", "c"}
		}},
		{"cancel before due", func(t *testing.T, g *Group, log func(string)) []string {
			id := g.AddTimer(20*time.Millisecond, false, func() { log("cancelled") })
			g.AddTimer(60*time.Millisecond, false, func() { log("kept") })
			g.RemoveTimer(id)
			g.RemoveTimer(id) // twice is a no-op
			return []string{"kept"}
		}},
		{"callback removes another timer due at the same time", func(t *testing.T, g *Group, log func(string)) []string {
			var b TimerID
			g.AddTimer(30*time.Millisecond, false, func() { log("a"); g.RemoveTimer(b) })
			b = g.AddTimer(30*time.Millisecond, false, func() { log("b") })
			return []string{"a"}
		}},
		{"periodic removes itself after three runs", func(t *testing.T, g *Group, log func(string)) []string {
			var id TimerID
			n := 0
			id = g.AddTimer(10*time.Millisecond, true, func() {
				n++
				log("tick")
				if n == 3 {
					g.RemoveTimer(id)
				}
			})
			return []string{"tick", "tick", "tick"}
		}},
		{"timer adds a timer", func(t *testing.T, g *Group, log func(string)) []string {
			g.AddTimer(10*time.Millisecond, false, func() {
				log("outer")
				g.AddTimer(10*time.Millisecond, false, func() { log("inner") })
			})
			return []string{"outer", "inner"}
		}},
		{"panic in a timer is recovered and the loop goes on", func(t *testing.T, g *Group, log func(string)) []string {
			g.AddTimer(10*time.Millisecond, false, func() { panic("timer boom") })
			g.AddTimer(40*time.Millisecond, false, func() { log("after") })
			return []string{"after"}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := startGroup(t, Options{Loops: 1})
			var mu sync.Mutex
			var got []string
			log := func(s string) { mu.Lock(); got = append(got, s); mu.Unlock() }
			want := tc.run(t, g, log)
			eventually(t, "timers done", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(got) >= len(want) && g.Stats().Timers.Count == 0
			})
			time.Sleep(150 * time.Millisecond) // nothing else may run
			mu.Lock()
			defer mu.Unlock()
			if len(got) != len(want) {
				t.Fatalf("ran %v, want %v", got, want)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("ran %v, want %v", got, want)
				}
			}
		})
	}
}

func TestTimerStats(t *testing.T) {
	g := startGroup(t, Options{Loops: 1})
	id := g.AddTimer(time.Hour, true, func() {})
	st := g.Stats().Timers
	if st.Count != 1 || st.NextDue.Before(time.Now().Add(59*time.Minute)) || st.Overdue != 0 {
		t.Fatalf("timer stats %+v", st)
	}
	g.RemoveTimer(id)
	if st := g.Stats().Timers; st.Count != 0 {
		t.Fatalf("after remove: %+v", st)
	}
}

func TestPostFromManyGoroutines(t *testing.T) {
	g := startGroup(t, Options{})
	const posters, each = 8, 2000
	next := make([]int, posters) // touched only on loop 0
	var bad, total int
	done := make(chan struct{})
	var wg sync.WaitGroup
	for p := range posters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := g.Post(func() {
					if next[p] != i {
						bad++
					}
					next[p] = i + 1
					total++
					if total == posters*each {
						close(done)
					}
				}); err != nil {
					t.Errorf("post: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-done:
	case <-time.After(waitFor):
		t.Fatal("not all posts ran")
	}
	var got int
	var misordered int
	g.Post(func() { got, misordered = total, bad })
	eventually(t, "read back", func() bool {
		ch := make(chan bool, 1)
		g.Post(func() { ch <- true })
		<-ch
		return got == posters*each
	})
	if misordered != 0 {
		t.Fatalf("%d posts ran out of order", misordered)
	}
}

func TestLoopCallback(t *testing.T) {
	g := startGroup(t, Options{Loops: 1, Tick: 10 * time.Millisecond})
	ch := make(chan struct{}, 100)
	id := g.AddLoopCallback(func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	})
	for range 3 { // runs even with no I/O: loop 0 wakes each tick
		select {
		case <-ch:
		case <-time.After(waitFor):
			t.Fatal("loop callback did not run")
		}
	}
	if g.Stats().Timers.LoopCallbacks != 1 {
		t.Fatal("loop callback not counted")
	}
	g.RemoveLoopCallback(id)
	if g.Stats().Timers.LoopCallbacks != 0 {
		t.Fatal("loop callback not removed")
	}
}

func TestStopFlushesLiveConnections(t *testing.T) {
	g, err := New(Options{Owner: "stop", Loops: 2, Logger: testLogger(t), Tick: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	ln := listen(t, g, rec, ListenOptions{WriteBound: 64 << 20})
	const n = 4
	payload := bytes.Repeat([]byte("q"), 2<<20)
	clients := make([]io.Reader, n)
	for i := range n {
		clients[i] = dialTCP(t, ln)
	}
	for range n {
		c := rec.open(t)
		c.Write(mkFrame(1, payload)) // more than the socket buffers take: most is queued
	}
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		stopped <- g.Stop(ctx)
	}()
	for i, cl := range clients {
		f, err := readFrame(cl)
		if err != nil || len(f) != len(payload)+16 {
			t.Fatalf("client %d: %d bytes, %v", i, len(f), err)
		}
		if _, err := readFrame(cl); err != io.EOF {
			t.Fatalf("client %d: want EOF after the flush, got %v", i, err)
		}
	}
	if err := <-stopped; err != nil {
		t.Fatalf("stop: %v", err)
	}
	for range n {
		if ev := rec.closed(t); !errors.Is(ev.err, ErrStopped) {
			t.Fatalf("OnClose err %v, want ErrStopped", ev.err)
		}
	}
	if _, err := g.Listen("127.0.0.1:0", rec, ListenOptions{}); !errors.Is(err, ErrStopped) {
		t.Fatalf("listen after stop: %v", err)
	}
	if err := g.Post(func() {}); !errors.Is(err, ErrStopped) {
		t.Fatalf("post after stop: %v", err)
	}
}

func TestStopCutShortByContext(t *testing.T) {
	g, err := New(Options{Owner: "cut", Loops: 1, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	g.Start()
	rec := newRecorder()
	ln := listen(t, g, rec, ListenOptions{WriteBound: 64 << 20})
	dialTCP(t, ln) // never reads
	c := rec.open(t)
	c.Write(mkFrame(1, make([]byte, 32<<20)))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := g.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stop: %v, want deadline exceeded", err)
	}
	if ev := rec.closed(t); !errors.Is(ev.err, ErrStopped) {
		t.Fatalf("OnClose err %v", ev.err)
	}
}

func countFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestRestartWithoutLeaks(t *testing.T) {
	runOnce := func() {
		g, err := New(Options{Owner: "restart", Loops: 2, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		if err := g.Start(); err != nil {
			t.Fatal(err)
		}
		rec := newRecorder()
		ln, err := g.Listen("127.0.0.1:0", rec, ListenOptions{IdleTimeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		var cls []io.Closer
		for range 5 {
			if _, err := g.Dial(ln.Addr().String(), rec, DialOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		for range 10 { // 5 accepted + 5 dialed
			c := rec.open(t)
			c.Write(mkFrame(1, []byte("hi")))
		}
		g.AddTimer(time.Hour, true, func() {})
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := g.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		for _, c := range cls {
			c.Close()
		}
		if st := g.Stats(); st.Total.Open+st.Total.Closing+st.Total.Connecting != 0 || len(g.Conns()) != 0 || st.Timers.Count != 0 {
			t.Fatalf("after stop: %+v", st)
		}
	}
	runOnce() // warm up lazily created runtime threads and fds
	runtime.GC()
	fds, gor := countFDs(t), runtime.NumGoroutine()
	for range 3 {
		runOnce()
	}
	eventually(t, "no leaks", func() bool {
		return countFDs(t) <= fds && runtime.NumGoroutine() <= gor
	})
}

func TestStatsAndConns(t *testing.T) {
	g := startGroup(t, Options{Owner: "stats"})
	e := &echo{}
	ln := listen(t, g, e, ListenOptions{IdleTimeout: time.Minute})
	cl := dialTCP(t, ln)
	const n = 50
	f := mkFrame(0x0701, []byte("abc"))
	for range n {
		cl.Write(f)
		if _, err := readFrame(cl); err != nil {
			t.Fatal(err)
		}
	}
	// Bytes are counted just after the write returns, which the client may
	// see first.
	eventually(t, "bytes out counted", func() bool { return g.Stats().Total.BytesOut == uint64(n*len(f)) })
	st := g.Stats()
	tot := st.Total
	if st.Owner != "stats" || len(st.Loops) != 2 || tot.Open != 1 || tot.Accepted != 1 ||
		tot.FramesIn != n || tot.FramesOut != n || tot.BytesIn != uint64(n*len(f)) || tot.BytesOut != uint64(n*len(f)) {
		t.Fatalf("stats %+v", st)
	}
	if len(st.Listeners) != 1 || st.Listeners[0] != ln.Addr().String() {
		t.Fatalf("listeners %v", st.Listeners)
	}
	cs := g.Conns()
	if len(cs) != 1 || cs[0].State != "open" || cs[0].FramesIn != n || cs[0].IdleTimeout != time.Minute ||
		cs[0].Local != ln.Addr().String() || cs[0].Remote != cl.LocalAddr().String() {
		t.Fatalf("conns %+v", cs)
	}
	cl.Close()
	eventually(t, "closed", func() bool { return g.Stats().Total.Open == 0 && len(g.Conns()) == 0 })
}
