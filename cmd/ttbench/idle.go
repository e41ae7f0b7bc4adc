package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"teamtalk/client"
)

// IdleResult is what the idle scenario measured: the connections it held
// and, given the server's pid, the server's resident memory per connection.
type IdleResult struct {
	Conns           uint64  `json:"conns"` // logged in
	Alive           uint64  `json:"alive"` // still open at the end
	HeartbeatsSent  uint64  `json:"heartbeats_sent"`
	HeartbeatEchoes uint64  `json:"heartbeat_echoes"`
	PID             int     `json:"pid,omitempty"`
	RSSBeforeKB     uint64  `json:"rss_before_kb,omitempty"`
	RSSAfterKB      uint64  `json:"rss_after_kb,omitempty"`
	RSSPerConn      float64 `json:"rss_per_conn_bytes,omitempty"`
	// The same split into anonymous memory (the Go heap, stacks, runtime:
	// what the connections cost the process itself) and file-backed pages
	// (the binary and bbolt's read-only mmap of im.db, which logins page in
	// per user record read; shared page cache the kernel can reclaim).
	RSSAnon rssSplit `json:"rss_anon,omitzero"`
	RSSFile rssSplit `json:"rss_file,omitzero"`
	// Marginal is set with -marginal: the cost of the second half of the
	// connections alone, which leaves out the server's fixed costs and what
	// its heap kept of startup and provisioning (that the first connections
	// reuse, so the whole-run figure understates the cost of one more).
	Marginal    *rssMarginal `json:"rss_marginal,omitempty"`
	NoFileLimit uint64       `json:"nofile_limit"`
}

// rssMarginal is the resident memory with the first half held (after a hold
// of -duration) and what each connection of the second half added by the end.
type rssMarginal struct {
	Conns       uint64  `json:"conns"` // alive at the end minus alive at the middle
	MidKB       uint64  `json:"mid_kb"`
	AnonMidKB   uint64  `json:"anon_mid_kb"`
	FileMidKB   uint64  `json:"file_mid_kb"`
	PerConn     float64 `json:"per_conn_bytes"`
	AnonPerConn float64 `json:"anon_per_conn_bytes"`
	FilePerConn float64 `json:"file_per_conn_bytes"`
}

// rssSplit is one kind of resident memory (RssAnon or RssFile of
// /proc/PID/status) before and after, and the difference per connection held.
type rssSplit struct {
	BeforeKB uint64  `json:"before_kb"`
	AfterKB  uint64  `json:"after_kb"`
	PerConn  float64 `json:"per_conn_bytes"`
}

// perConn is (after-before) KiB in bytes per connection.
func perConn(before, after, conns uint64) float64 {
	return float64(int64(after)-int64(before)) * 1024 / float64(conns)
}

// runIdle logs N users in (C at a time), keeps them connected and
// heartbeating for DURATION, and reports the server's VmRSS before and after
// (with -pid, or the pid behind -socket) divided by the connections held.
//
// Before is read once the target is resolved, before the first login: with
// the server started and provisioned, whatever its heap kept of the
// provisioning is in it (the Go runtime returns freed heap to the kernel
// gradually), which makes the difference smaller, not larger. After is read
// at the end of DURATION with every connection still open. The difference is
// divided by the connections alive at the end; the anonymous and file-backed
// parts are reported the same way. With -marginal the first half logs in
// and is held for DURATION before the middle reading, then the second half
// logs in and all are held for DURATION before the last.
func runIdle(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, t := scenarioFlags("idle", stderr)
	n := fs.Int("n", 1000, "users to log in and hold (PREFIX1..PREFIXN)")
	conc := fs.Int("c", 100, "concurrent logins while connecting")
	hb := fs.Duration("heartbeat", 5*time.Second, "client heartbeat interval (TeamTalk clients: 30s to 4m)")
	dur := fs.Duration("duration", 10*time.Second, "how long to hold the connections once all are in")
	pid := fs.Int("pid", 0, "server pid for VmRSS (default: the pid of -socket's teamtalkd)")
	marginal := fs.Bool("marginal", false, "log in and hold half, read the server's RSS, then the other half: report what each of the second half added")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *n < 1 || *conc < 1 || *hb <= 0 || *dur <= 0 {
		fmt.Fprintln(stderr, "ttbench idle: -n, -c, -heartbeat and -duration must be positive")
		return errUsage
	}
	if err := t.resolve(ctx); err != nil {
		return err
	}
	if *pid == 0 {
		*pid = t.pid
	}
	limit, err := raiseNoFile(*n)
	if err != nil {
		return err
	}
	ir := IdleResult{PID: *pid, NoFileLimit: limit}
	if *pid != 0 {
		if ir.RSSBeforeKB, ir.RSSAnon.BeforeKB, ir.RSSFile.BeforeKB, err = rssAll(*pid); err != nil {
			return err
		}
	}

	var (
		hist    Hist
		errs    errCounts
		mu      sync.Mutex
		clients = make([]*client.Client, 0, *n)
		cpu0    = cpuTime()
		phase   atomic.Value
	)
	defer func() {
		forEach(context.Background(), len(clients), 100, func(i int) error { clients[i].Close(); return nil })
	}()
	phase.Store("connecting")
	stop := progress(stderr, "idle", func(time.Duration) string {
		mu.Lock()
		cs := clients
		mu.Unlock()
		var alive, hbs, echoes uint64
		for _, c := range cs {
			if c.Err() == nil {
				alive++
			}
			st := c.Stats()
			hbs += st.HeartbeatsSent
			echoes += st.HeartbeatEchoes
		}
		rss := ""
		if *pid != 0 {
			if kb, err := rssKB(*pid); err == nil {
				rss = fmt.Sprintf(" server RSS %d KiB", kb)
			}
		}
		return fmt.Sprintf("%s: alive %d/%d heartbeats %d echoes %d%s errors %d", phase.Load(), alive, *n, hbs, echoes, rss, errs.total())
	})
	opts := client.Options{Heartbeat: *hb, DropEvents: true, EventBuffer: 1, NoDeliveryAck: false}
	// login logs users from+1..to in and returns how long that took.
	login := func(from, to int) time.Duration {
		t0 := time.Now()
		forEach(ctx, to-from, *conc, func(i int) error {
			t0 := time.Now()
			c, _, kind, err := t.connect(ctx, from+i+1, *n, opts)
			if err != nil {
				errs.add(kind)
				return nil
			}
			hist.Record(time.Since(t0))
			mu.Lock()
			clients = append(clients, c)
			mu.Unlock()
			return nil
		})
		return time.Since(t0)
	}
	hold := func() {
		select {
		case <-ctx.Done():
		case <-time.After(*dur):
		}
	}
	alive := func() (k uint64) {
		for _, c := range clients {
			if c.Err() == nil {
				k++
			}
		}
		return k
	}
	var ramp time.Duration
	var aliveMid uint64
	if *marginal && *pid != 0 && *n >= 2 {
		ir.Marginal = &rssMarginal{}
		ramp = login(0, *n/2)
		phase.Store("holding half")
		hold()
		mu.Lock()
		aliveMid = alive()
		mu.Unlock()
		if ir.Marginal.MidKB, ir.Marginal.AnonMidKB, ir.Marginal.FileMidKB, err = rssAll(*pid); err != nil {
			stop()
			return err
		}
		phase.Store("connecting")
		ramp += login(*n/2, *n)
	} else {
		ramp = login(0, *n)
	}
	phase.Store("holding")
	hold()
	stop()
	if *pid != 0 {
		if ir.RSSAfterKB, ir.RSSAnon.AfterKB, ir.RSSFile.AfterKB, err = rssAll(*pid); err != nil {
			return err
		}
	}
	for _, c := range clients {
		if c.Err() == nil {
			ir.Alive++
		} else {
			errs.add(errKind("held", c.Err()))
		}
		st := c.Stats()
		ir.HeartbeatsSent += st.HeartbeatsSent
		ir.HeartbeatEchoes += st.HeartbeatEchoes
	}
	ir.Conns = uint64(len(clients))
	if *pid != 0 && ir.Alive > 0 {
		ir.RSSPerConn = perConn(ir.RSSBeforeKB, ir.RSSAfterKB, ir.Alive)
		ir.RSSAnon.PerConn = perConn(ir.RSSAnon.BeforeKB, ir.RSSAnon.AfterKB, ir.Alive)
		ir.RSSFile.PerConn = perConn(ir.RSSFile.BeforeKB, ir.RSSFile.AfterKB, ir.Alive)
	}
	if m := ir.Marginal; m != nil && ir.Alive > aliveMid {
		m.Conns = ir.Alive - aliveMid
		m.PerConn = perConn(m.MidKB, ir.RSSAfterKB, m.Conns)
		m.AnonPerConn = perConn(m.AnonMidKB, ir.RSSAnon.AfterKB, m.Conns)
		m.FilePerConn = perConn(m.FileMidKB, ir.RSSFile.AfterKB, m.Conns)
	}
	res := Result{
		Scenario:   "idle",
		Target:     t.describe(),
		ClientType: t.ctype,
		Params:     map[string]any{"users": *n, "concurrency": *conc, "heartbeat": hb.String(), "duration": dur.String()},
		Seconds:    round2(ramp.Seconds()),
		Unit:       "conns",
		Ops:        ir.Conns,
		Rate:       round2(float64(ir.Conns) / ramp.Seconds()),
		Latency:    hist.Summary(),
		Errors:     errs.snapshot(),
		ClientCPU:  round2((cpuTime() - cpu0).Seconds()),
		Idle:       &ir,
	}
	res.OK = len(res.Errors) == 0 && ir.Alive == uint64(*n)
	if err := res.print(stdout); err != nil {
		return err
	}
	if !res.OK {
		return fmt.Errorf("idle: %d of %d connections alive at the end, %d errors", ir.Alive, *n, errs.total())
	}
	return nil
}
