package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"teamtalk/client"
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
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *n < 1 || *conc < 1 {
		fmt.Fprintln(stderr, "ttbench login: -n and -c must be positive")
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
	forEach(ctx, attempts, *conc, func(i int) error {
		t0 := time.Now()
		c, _, kind, err := t.connect(ctx, i%*n+1, *conc, client.Options{DropEvents: true, EventBuffer: 1})
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
		c.Close()
		return nil
	})
	el := time.Since(start)
	stop()
	res := Result{
		Scenario:   "login",
		Target:     t.describe(),
		ClientType: t.ctype,
		Params:     map[string]any{"users": *n, "concurrency": *conc, "count": *count, "duration": dur.String(), "http_step": t.perLogin},
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
