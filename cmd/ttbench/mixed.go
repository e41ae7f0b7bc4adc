package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"teamtalk/client"
	"teamtalk/wire/pb"
)

// OpStat is one operation of the mixed scenario.
type OpStat struct {
	Asked   float64 `json:"asked_per_s"` // the rate the flags asked for
	Ops     uint64  `json:"ops"`         // completed without error
	Rate    float64 `json:"rate_per_s"`
	Latency Latency `json:"latency_ms"`
	Errors  uint64  `json:"errors"`
	// Skipped counts operations not started: the operation's in-flight cap
	// was reached (the server falls behind the asked rate) or the user
	// picked was busy logging in again.
	Skipped uint64 `json:"skipped"`
}

// mUser is one logged-in user of the mixed scenario. Operations hold mu for
// reading while they use c; a login churn holds it for writing while it
// replaces c. Neither waits for the other: they skip a busy user.
type mUser struct {
	idx int
	id  uint32

	mu sync.RWMutex
	c  *client.Client
}

// mixedOp is one operation kind with its rate and its counters.
type mixedOp struct {
	name string
	rate float64
	// do runs one operation; kind names its step for errors ("" with a nil
	// error: skipped). lat, when positive, replaces the measured latency.
	do      func(ctx context.Context, rng *rand.Rand) (kind string, lat time.Duration, err error)
	hist    Hist
	ok      atomic.Uint64
	errs    atomic.Uint64
	skipped atomic.Uint64
	running atomic.Int64
}

// runMixed logs USERS users in (all heartbeating; only the ACTIVE fraction
// does anything else, the idle majority just holds its connection), creates
// GROUPS groups of GROUP-SIZE active users, and then, for DURATION, starts
// each operation at its own rate (open loop: a slow server does not slow the
// asking; an operation over its in-flight cap is skipped and counted):
// login churn (log out and log in again), p2p messages, group messages,
// history (the last 20 messages of a session), unread counts and recent
// sessions. It reports per-operation throughput and latency.
func runMixed(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, t := scenarioFlags("mixed", stderr)
	users := fs.Int("users", 1000, "users logged in (PREFIX1..PREFIXN) for the whole run")
	active := fs.Float64("active", 0.1, "fraction of the users that act; the rest stay idle (heartbeats only)")
	groups := fs.Int("groups", 4, "groups among the active users")
	groupSize := fs.Int("group-size", 50, "members per group")
	hb := fs.Duration("heartbeat", 30*time.Second, "client heartbeat interval")
	dur := fs.Duration("duration", 10*time.Second, "how long operations are started")
	maxInflight := fs.Int("max-inflight", 1000, "operations of one kind in flight at most; more are skipped")
	loginRate := fs.Float64("login-rate", 20, "login churn per second: an active user logs out and in again")
	p2pRate := fs.Float64("p2p-rate", 200, "1:1 text messages per second between random active users")
	groupRate := fs.Float64("group-rate", 20, "group text messages per second, from a random member of a random group")
	historyRate := fs.Float64("history-rate", 50, "history calls per second: the last 20 messages of a random 1:1 session")
	unreadRate := fs.Float64("unread-rate", 50, "unread count calls per second")
	sessionsRate := fs.Float64("sessions-rate", 20, "recent session list calls per second")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	nActive := int(float64(*users) * *active)
	rates := []float64{*loginRate, *p2pRate, *groupRate, *historyRate, *unreadRate, *sessionsRate}
	switch {
	case *users < 2 || *active <= 0 || *active > 1 || nActive < 2:
		fmt.Fprintln(stderr, "ttbench mixed: -users at least 2, -active in (0,1] leaving at least 2 active users")
		return errUsage
	case *dur <= 0 || *maxInflight < 1 || *hb <= 0:
		fmt.Fprintln(stderr, "ttbench mixed: -duration, -max-inflight and -heartbeat must be positive")
		return errUsage
	case *groupRate > 0 && (*groups < 1 || *groupSize < 2 || *groupSize > nActive):
		fmt.Fprintf(stderr, "ttbench mixed: with -group-rate, -groups at least 1 and -group-size between 2 and the %d active users\n", nActive)
		return errUsage
	case slices.ContainsFunc(rates, func(r float64) bool { return r < 0 }):
		fmt.Fprintln(stderr, "ttbench mixed: rates must not be negative")
		return errUsage
	case !slices.ContainsFunc(rates, func(r float64) bool { return r > 0 }):
		fmt.Fprintln(stderr, "ttbench mixed: every rate is 0")
		return errUsage
	}
	if err := t.resolve(ctx); err != nil {
		return err
	}
	if _, err := raiseNoFile(*users + *maxInflight); err != nil {
		return err
	}
	cipher, err := client.NewCipher(client.DefaultKey)
	if err != nil {
		return err
	}

	var (
		errs     errCounts
		received atomic.Uint64
		all      Hist
	)
	onEvent := func(ev client.Event) {
		if _, ok := ev.(*client.MessageEvent); ok {
			received.Add(1)
		}
	}
	opts := client.Options{AsyncTimeout: t.timeout, DropEvents: true, EventBuffer: 4, Cipher: cipher, Heartbeat: *hb, Handler: onEvent}
	us := make([]*mUser, *users)
	for i := range us {
		us[i] = &mUser{idx: i}
	}
	cpu0 := cpuTime()
	defer func() {
		forEach(context.Background(), len(us), 100, func(i int) error {
			us[i].mu.Lock()
			if c := us[i].c; c != nil {
				c.Close()
			}
			us[i].mu.Unlock()
			return nil
		})
	}()
	fmt.Fprintf(stderr, "ttbench mixed: logging in %d users (%d active, %s)\n", *users, nActive, t.ctype)
	err = forEach(ctx, *users, 100, func(i int) error {
		c, res, kind, err := t.connect(ctx, i+1, *users, opts)
		if err != nil {
			return fmt.Errorf("log in %s: %s: %w", t.userName(i+1), kind, err)
		}
		us[i].c, us[i].id = c, res.User.GetUserId()
		return nil
	})
	if err != nil {
		return err
	}

	// Groups: group g is active users g*size.. (wrapping), created by its first.
	type mGroup struct {
		id      uint32
		members []*mUser
	}
	var gs []mGroup
	if *groupRate > 0 {
		for g := range *groups {
			var mg mGroup
			ids := make([]uint32, *groupSize)
			for j := range ids {
				u := us[(g**groupSize+j)%nActive]
				mg.members = append(mg.members, u)
				ids[j] = u.id
			}
			cctx, cancel := context.WithTimeout(ctx, 4*t.timeout)
			rsp, err := mg.members[0].c.CreateGroup(cctx, fmt.Sprintf("ttbench-mixed-%d-%d", g, time.Now().UnixNano()), "", ids)
			cancel()
			if err != nil {
				return fmt.Errorf("create group %d of %d: %w", g, len(ids), err)
			}
			mg.id = rsp.GetGroupId()
			gs = append(gs, mg)
		}
	}

	// withUser runs fn with active user u's client unless u is busy logging in
	// again (then the operation is skipped: "" kind, nil error).
	withUser := func(u *mUser, fn func(c *client.Client) (string, error)) (string, time.Duration, error) {
		if !u.mu.TryRLock() {
			return "", 0, nil
		}
		defer u.mu.RUnlock()
		kind, err := fn(u.c)
		return kind, 0, err
	}
	pick := func(rng *rand.Rand) *mUser { return us[rng.IntN(nActive)] }
	timeout := t.timeout
	call := func(ctx context.Context) (context.Context, context.CancelFunc) {
		return context.WithTimeout(ctx, timeout)
	}
	ops := []*mixedOp{
		{name: "login", rate: *loginRate, do: func(ctx context.Context, rng *rand.Rand) (string, time.Duration, error) {
			u := pick(rng)
			if !u.mu.TryLock() {
				return "", 0, nil
			}
			defer u.mu.Unlock()
			cctx, cancel := call(ctx)
			_ = u.c.Logout(cctx) // the server may close first: any outcome ends the session
			cancel()
			u.c.Close()
			t0 := time.Now()
			c, _, kind, err := t.connect(ctx, u.idx+1, *users, opts)
			if err != nil {
				// Keep a closed client in place: the next churn of u retries.
				return kind, 0, err
			}
			u.c = c
			return "login", time.Since(t0), nil
		}},
		{name: "p2p", rate: *p2pRate, do: func(ctx context.Context, rng *rand.Rand) (string, time.Duration, error) {
			from, to := pick(rng), pick(rng)
			for to == from {
				to = pick(rng)
			}
			return withUser(from, func(c *client.Client) (string, error) {
				cctx, cancel := call(ctx)
				defer cancel()
				_, err := c.SendMsg(cctx, c.NewTextMsg(to.id, "ttbench mixed p2p", false))
				return "ack", err
			})
		}},
		{name: "group", rate: *groupRate, do: func(ctx context.Context, rng *rand.Rand) (string, time.Duration, error) {
			g := gs[rng.IntN(len(gs))]
			return withUser(g.members[rng.IntN(len(g.members))], func(c *client.Client) (string, error) {
				cctx, cancel := call(ctx)
				defer cancel()
				_, err := c.SendMsg(cctx, c.NewTextMsg(g.id, "ttbench mixed group", true))
				return "ack", err
			})
		}},
		{name: "history", rate: *historyRate, do: func(ctx context.Context, rng *rand.Rand) (string, time.Duration, error) {
			u, peer := pick(rng), pick(rng)
			return withUser(u, func(c *client.Client) (string, error) {
				cctx, cancel := call(ctx)
				defer cancel()
				_, err := c.MsgList(cctx, pb.SessionType_SESSION_TYPE_SINGLE, peer.id, 0, 20)
				return "call", err
			})
		}},
		{name: "unread", rate: *unreadRate, do: func(ctx context.Context, rng *rand.Rand) (string, time.Duration, error) {
			return withUser(pick(rng), func(c *client.Client) (string, error) {
				cctx, cancel := call(ctx)
				defer cancel()
				_, err := c.Unread(cctx)
				return "call", err
			})
		}},
		{name: "sessions", rate: *sessionsRate, do: func(ctx context.Context, rng *rand.Rand) (string, time.Duration, error) {
			return withUser(pick(rng), func(c *client.Client) (string, error) {
				cctx, cancel := call(ctx)
				defer cancel()
				_, err := c.RecentSessions(cctx, 0)
				return "call", err
			})
		}},
	}
	ops = slices.DeleteFunc(ops, func(o *mixedOp) bool { return o.rate == 0 })

	runCtx, cancel := context.WithTimeout(ctx, *dur)
	defer cancel()
	start := time.Now()
	stop := progress(stderr, "mixed", func(el time.Duration) string {
		var b strings.Builder
		for _, o := range ops {
			fmt.Fprintf(&b, "%s %d (p99 %s) ", o.name, o.ok.Load(), fmtMS(float64(o.hist.Quantile(0.99))/1e6))
		}
		fmt.Fprintf(&b, "received %d errors %d", received.Load(), errs.total())
		return b.String()
	})
	var wg sync.WaitGroup // every operation started
	var sched sync.WaitGroup
	for i, o := range ops {
		sched.Add(1)
		go func() {
			defer sched.Done()
			rng := rand.New(rand.NewPCG(uint64(start.UnixNano()), uint64(i)))
			// Start rate × elapsed operations in all, checked every 5 ms.
			tk := time.NewTicker(5 * time.Millisecond)
			defer tk.Stop()
			started := 0
			for {
				select {
				case <-runCtx.Done():
					return
				case <-tk.C:
				}
				due := int(o.rate * time.Since(start).Seconds())
				for ; started < due; started++ {
					if o.running.Load() >= int64(*maxInflight) {
						o.skipped.Add(1)
						continue
					}
					o.running.Add(1)
					seed := rng.Uint64()
					wg.Add(1)
					go func() {
						defer wg.Done()
						defer o.running.Add(-1)
						orng := rand.New(rand.NewPCG(seed, 1))
						t0 := time.Now()
						kind, lat, err := o.do(ctx, orng)
						d := time.Since(t0)
						if lat > 0 {
							d = lat
						}
						switch {
						case kind == "" && err == nil:
							o.skipped.Add(1)
						case err == nil:
							o.hist.Record(d)
							all.Record(d)
							o.ok.Add(1)
						default:
							o.errs.Add(1)
							errs.add(o.name + "_" + errKind(kind, err))
						}
					}()
				}
			}
		}()
	}
	sched.Wait()
	wg.Wait()
	window := time.Since(start)
	stop()

	res := Result{
		Scenario:   "mixed",
		Target:     t.describe(),
		ClientType: t.ctype,
		Params: map[string]any{"users": *users, "active": *active, "groups": *groups, "group_size": *groupSize,
			"duration": dur.String(), "heartbeat": hb.String(), "max_inflight": *maxInflight},
		Seconds:    round2(window.Seconds()),
		Unit:       "ops",
		Latency:    all.Summary(),
		Errors:     errs.snapshot(),
		Mixed:      map[string]OpStat{},
		Deliveries: received.Load(),
	}
	res.OK = len(res.Errors) == 0
	for _, o := range ops {
		n := o.ok.Load()
		res.Ops += n
		res.Params[o.name+"_rate"] = o.rate
		res.Mixed[o.name] = OpStat{Asked: o.rate, Ops: n, Rate: round2(float64(n) / window.Seconds()),
			Latency: o.hist.Summary(), Errors: o.errs.Load(), Skipped: o.skipped.Load()}
		if n == 0 {
			res.OK = false
		}
	}
	res.Rate = round2(float64(res.Ops) / window.Seconds())
	res.ClientCPU = round2((cpuTime() - cpu0).Seconds())
	if err := res.print(stdout); err != nil {
		return err
	}
	if !res.OK {
		return fmt.Errorf("mixed: %d errors, or an operation never completed", errs.total())
	}
	return nil
}
