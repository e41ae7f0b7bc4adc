package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"teamtalk/client"
	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// runLogin is the login storm: CONCURRENCY workers each connect, log in
// (optionally after the login server's HTTP step) and close, over and over,
// cycling through users PREFIX1..PREFIXN, until COUNT logins were attempted
// or DURATION passed. Latency is from the start of the connect (or of the
// HTTP step) to the login reply.
func runLogin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, t := scenarioFlags("login", stderr)
	n := fs.Int("n", 1000, "number of users (PREFIX1..PREFIXN) to cycle through")
	conc := fs.Int("c", 100, "concurrent clients")
	count := fs.Int("count", 0, "logins to attempt (0: -n, or unlimited with -duration)")
	dur := fs.Duration("duration", 0, "run this long instead of a count")
	rate := fs.Float64("rate", 0, "open loop: start logins at this many per second, at most -c in flight, latency from each login's scheduled start (0: closed loop, each of the -c clients logs in again at once)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *n < 1 || *conc < 1 || *rate < 0 {
		fmt.Fprintln(stderr, "ttbench login: -n and -c must be positive, -rate not negative")
		return errUsage
	}
	if *count == 0 && *dur == 0 {
		*count = *n
	}
	if err := t.resolve(ctx); err != nil {
		return err
	}
	if _, err := raiseNoFile(*conc); err != nil {
		return err
	}
	if *dur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *dur)
		defer cancel()
	}

	var (
		hist      Hist
		errs      errCounts
		ok        atomic.Uint64
		cpu0      = cpuTime()
		start     = time.Now()
		firstErrs sync.Once
	)
	stop := progress(stderr, "login", func(el time.Duration) string {
		return fmt.Sprintf("logins %d (%.0f/s) p99 %s errors %d", ok.Load(), float64(ok.Load())/el.Seconds(), fmtMS(float64(hist.Quantile(0.99))/1e6), errs.total())
	})
	attempts := *count
	if attempts == 0 {
		attempts = math.MaxInt // until the -duration window ends
	}
	st := newStorm(t)
	forEach(ctx, attempts, *conc, func(i int) error {
		t0 := time.Now()
		if *rate > 0 {
			// Open loop: login i is due at start + i/rate, whether or not
			// earlier ones are done; one that starts late (every worker
			// was busy) counts the wait in its latency.
			due := start.Add(time.Duration(float64(i) / *rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
			if ctx.Err() != nil {
				return nil
			}
			t0 = due
		}
		kind, err := st.login(ctx, i%*n+1, *conc)
		if err != nil {
			if *dur > 0 && windowEnded(ctx) {
				return nil // the window ended mid-login: not an error
			}
			errs.add(kind)
			firstErrs.Do(func() { fmt.Fprintf(stderr, "ttbench login: first error: %v\n", err) })
			return nil
		}
		hist.Record(time.Since(t0))
		ok.Add(1)
		return nil
	})
	el := time.Since(start)
	stop()
	res := Result{
		Scenario:   "login",
		Target:     t.describe(),
		ClientType: t.ctype,
		Params:     map[string]any{"users": *n, "concurrency": *conc, "count": *count, "duration": dur.String(), "http_step": t.perLogin, "rate": *rate},
		Seconds:    round2(el.Seconds()),
		Unit:       "logins",
		Ops:        ok.Load(),
		Rate:       round2(float64(ok.Load()) / el.Seconds()),
		Latency:    hist.Summary(),
		Errors:     errs.snapshot(),
		ClientCPU:  round2((cpuTime() - cpu0).Seconds()),
	}
	res.OK = len(res.Errors) == 0 && res.Ops > 0
	if err := res.print(stdout); err != nil {
		return err
	}
	if !res.OK {
		return fmt.Errorf("login: %d errors", errs.total())
	}
	return nil
}

// windowEnded reports whether ctx's deadline has passed. ctx.Err() alone
// lags it: a dial under a deadline already past fails at once with a
// timeout while ctx's own timer has not fired yet, and without this the
// workers would count a burst of such dials as errors.
func windowEnded(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// storm makes the storm's logins. Each is what client.Dial and Login put on
// the wire (the same IMLoginReq, header and seq 1) followed by a close, but
// made on the worker's own goroutine: no reader goroutine, pending-call map,
// channels, context timer or TCP keepalive options per connection, which
// cost the generator more CPU than the logins cost the server.
type storm struct {
	t      *target
	opt    client.Options // what the login request carries: the client type
	dialer net.Dialer
	pass   string // the password as sent: md5 hex
	bufs   sync.Pool
}

func newStorm(t *target) *storm {
	return &storm{
		t:      t,
		opt:    client.Options{ClientType: t.clientType},
		dialer: net.Dialer{Timeout: t.timeout, KeepAlive: -1},
		pass:   client.PasswordHash(t.password),
		bufs:   sync.Pool{New: func() any { b := make([]byte, 4096); return &b }},
	}
}

// login connects as user i (of n concurrent), logs in and closes. It returns
// the error's kind for the report, as target.connect names them.
func (s *storm) login(ctx context.Context, i, n int) (string, error) {
	t := s.t
	addr, err := t.addr(ctx)
	if err != nil {
		return "http", err
	}
	d := s.dialer
	if la := t.sourceAddr(i, n); la != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(la)}
	}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		err = fmt.Errorf("client: dial %s: %w", addr, err)
		return errKind("dial", err), err
	}
	defer conn.Close()
	if err := s.exchange(ctx, conn, t.userName(i)); err != nil {
		return loginKind(err), err
	}
	return "", nil
}

// exchange sends IMLoginReq for name and reads frames until IMLoginRes,
// within the target's timeout (and ctx's deadline, if sooner).
func (s *storm) exchange(ctx context.Context, conn net.Conn, name string) error {
	deadline := time.Now().Add(s.t.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return fmt.Errorf("client: login: %w", err)
	}
	req, err := wire.Marshal(wire.NewHeader(pb.CmdLoginReqUserlogin, 1), s.opt.LoginRequest(name, s.pass))
	if err != nil {
		return fmt.Errorf("client: login: %w", err)
	}
	if _, err := conn.Write(req); err != nil {
		return fmt.Errorf("client: login: %w", err)
	}
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	dec := wire.NewDecoder(wire.MaxClientFrame)
	for {
		nr, rerr := conn.Read(*bp)
		dec.Feed((*bp)[:nr])
		for {
			f, err := dec.Next()
			if err != nil {
				return fmt.Errorf("client: login: %w", err)
			}
			if f == nil {
				break
			}
			if h := wire.ParseHeader(f); h.CommandID != pb.CmdLoginResUserlogin || h.Seq != 1 {
				continue // not the reply
			}
			var rsp pb.IMLoginRes
			if err := wire.Unmarshal(f[wire.HeaderLen:], &rsp); err != nil {
				return fmt.Errorf("client: login reply: %w", err)
			}
			res, err := client.LoginReply(&rsp)
			if err != nil {
				return err
			}
			if res.User.GetUserId() == 0 {
				return errors.New("client: login reply without a user id")
			}
			return nil
		}
		if rerr != nil {
			if ctx.Err() != nil {
				rerr = ctx.Err()
			}
			return fmt.Errorf("client: login: %w", rerr)
		}
	}
}
