package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// Result is what a scenario reports: printed as a table, then as one JSON
// line (the last line of stdout).
type Result struct {
	Scenario   string            `json:"scenario"`
	Target     string            `json:"target"`
	ClientType string            `json:"client_type,omitempty"`
	Params     map[string]any    `json:"params"`
	Seconds    float64           `json:"seconds"`    // the measured window
	Unit       string            `json:"unit"`       // what Ops counts: logins, msgs, conns
	Ops        uint64            `json:"ops"`        // completed operations in the window
	Rate       float64           `json:"rate_per_s"` // Ops / Seconds
	Latency    Latency           `json:"latency_ms"` // per operation
	Errors     map[string]uint64 `json:"errors"`     // by kind; empty when none
	ClientCPU  float64           `json:"client_cpu_s"`
	OK         bool              `json:"ok"` // no errors and every check passed
	P2P        *P2PCheck         `json:"p2p,omitempty"`
	Group      *GroupCheck       `json:"group,omitempty"`
	Mixed      map[string]OpStat `json:"mixed,omitempty"`      // by operation
	Deliveries uint64            `json:"deliveries,omitempty"` // mixed: messages the users received
	Idle       *IdleResult       `json:"idle,omitempty"`
}

// errCounts counts errors by kind; safe for concurrent use.
type errCounts struct {
	mu sync.Mutex
	m  map[string]uint64
}

func (e *errCounts) add(kind string) {
	e.mu.Lock()
	if e.m == nil {
		e.m = make(map[string]uint64)
	}
	e.m[kind]++
	e.mu.Unlock()
}

func (e *errCounts) total() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var n uint64
	for _, v := range e.m {
		n += v
	}
	return n
}

func (e *errCounts) snapshot() map[string]uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	m := make(map[string]uint64, len(e.m))
	maps.Copy(m, e.m)
	return m
}

// progress writes line() to w once a second until stop is called; stop
// waits for the writer to finish.
func progress(w io.Writer, name string, line func(elapsed time.Duration) string) (stop func()) {
	start := time.Now()
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tk := time.NewTicker(time.Second)
		defer tk.Stop()
		for {
			select {
			case <-done:
				return
			case <-tk.C:
				el := time.Since(start)
				fmt.Fprintf(w, "[%s %3.0fs] %s\n", name, el.Seconds(), line(el))
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// fmtMS formats milliseconds compactly.
func fmtMS(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0fms", v)
	case v >= 1:
		return fmt.Sprintf("%.2fms", v)
	default:
		return fmt.Sprintf("%.0fµs", v*1000)
	}
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// print writes the result as a table and then one JSON line.
func (r *Result) print(w io.Writer) error {
	if r.Errors == nil {
		r.Errors = map[string]uint64{}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "scenario\t%s\n", r.Scenario)
	fmt.Fprintf(tw, "target\t%s\n", r.Target)
	if r.ClientType != "" {
		fmt.Fprintf(tw, "client type\t%s\n", r.ClientType)
	}
	for _, k := range slices.Sorted(maps.Keys(r.Params)) {
		fmt.Fprintf(tw, "  %s\t%v\n", k, r.Params[k])
	}
	fmt.Fprintf(tw, "window\t%.2fs\n", r.Seconds)
	fmt.Fprintf(tw, "%s\t%d (%.0f/s)\n", r.Unit, r.Ops, r.Rate)
	l := r.Latency
	fmt.Fprintf(tw, "latency\tp50 %s  p90 %s  p99 %s  p999 %s  max %s  (n=%d, mean %s)\n",
		fmtMS(l.P50), fmtMS(l.P90), fmtMS(l.P99), fmtMS(l.P999), fmtMS(l.Max), l.Count, fmtMS(l.Mean))
	if p := r.P2P; p != nil {
		fmt.Fprintf(tw, "sent / acked / delivered\t%d / %d / %d\n", p.Sent, p.Acked, p.Delivered)
		fmt.Fprintf(tw, "lost / duplicated / out of order\t%d / %d / %d\n", p.Lost, p.Duplicates, p.OutOfOrder)
		fmt.Fprintf(tw, "delivered unacked / unknown\t%d / %d\n", p.DeliveredUnacked, p.Unknown)
		d := p.Delivery
		fmt.Fprintf(tw, "delivery latency\tp50 %s  p99 %s  p999 %s  max %s\n", fmtMS(d.P50), fmtMS(d.P99), fmtMS(d.P999), fmtMS(d.Max))
	}
	if g := r.Group; g != nil {
		fmt.Fprintf(tw, "group / members / senders\t%d / %d / %d\n", g.GroupID, g.Members, g.Senders)
		fmt.Fprintf(tw, "msgs sent / acked\t%d / %d (%.0f/s)\n", g.Sent, g.Acked, g.MsgRate)
		a := g.Ack
		fmt.Fprintf(tw, "ack latency\tp50 %s  p99 %s  p999 %s  max %s\n", fmtMS(a.P50), fmtMS(a.P99), fmtMS(a.P999), fmtMS(a.Max))
		fmt.Fprintf(tw, "deliveries expected / made\t%d / %d (per member %d..%d)\n", g.Expected, g.Delivered, g.MinPerMember, g.MaxPerMember)
		fmt.Fprintf(tw, "lost / duplicated / to sender\t%d / %d / %d\n", g.Lost, g.Duplicates, g.ToSender)
		fmt.Fprintf(tw, "delivered unacked / unknown / members lost\t%d / %d / %d\n", g.DeliveredUnacked, g.Unknown, g.MembersLost)
	}
	if len(r.Mixed) > 0 {
		fmt.Fprintf(tw, "messages received\t%d\n", r.Deliveries)
		fmt.Fprintf(tw, "operation\tasked/s  done (/s)  errors  skipped  p50 / p99 / max\n")
		for _, k := range slices.Sorted(maps.Keys(r.Mixed)) {
			o := r.Mixed[k]
			fmt.Fprintf(tw, "  %s\t%g  %d (%.0f/s)  %d  %d  %s / %s / %s\n", k, o.Asked, o.Ops, o.Rate, o.Errors, o.Skipped,
				fmtMS(o.Latency.P50), fmtMS(o.Latency.P99), fmtMS(o.Latency.Max))
		}
	}
	if i := r.Idle; i != nil {
		fmt.Fprintf(tw, "connections held\t%d (alive at end %d)\n", i.Conns, i.Alive)
		fmt.Fprintf(tw, "heartbeats sent / echoed\t%d / %d\n", i.HeartbeatsSent, i.HeartbeatEchoes)
		if i.PID != 0 {
			fmt.Fprintf(tw, "server RSS (pid %d)\tbefore %d KiB, after %d KiB\n", i.PID, i.RSSBeforeKB, i.RSSAfterKB)
			fmt.Fprintf(tw, "server RSS per connection\t%.0f bytes (heap etc. %.0f, file-backed %.0f)\n", i.RSSPerConn, i.RSSAnon.PerConn, i.RSSFile.PerConn)
			if m := i.Marginal; m != nil {
				fmt.Fprintf(tw, "  per connection of the 2nd half\t%.0f bytes (heap etc. %.0f, file-backed %.0f; %d conns)\n", m.PerConn, m.AnonPerConn, m.FilePerConn, m.Conns)
			}
		}
		fmt.Fprintf(tw, "open files limit\t%d\n", i.NoFileLimit)
	}
	if len(r.Errors) == 0 {
		fmt.Fprintf(tw, "errors\tnone\n")
	} else {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
			parts = append(parts, fmt.Sprintf("%s=%d", k, r.Errors[k]))
		}
		fmt.Fprintf(tw, "errors\t%s\n", strings.Join(parts, " "))
	}
	fmt.Fprintf(tw, "client CPU\t%.2fs\n", r.ClientCPU)
	fmt.Fprintf(tw, "ok\t%v\n", r.OK)
	if err := tw.Flush(); err != nil {
		return err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// runTable prints one summary row per JSON result line found in the files
// named by args (stdin when none); other lines are ignored.
func runTable(args []string, stdin io.Reader, stdout io.Writer) error {
	var results []Result
	readAll := func(r io.Reader) error {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if !strings.HasPrefix(line, "{") {
				continue
			}
			var res Result
			if err := json.Unmarshal([]byte(line), &res); err != nil || res.Scenario == "" {
				continue
			}
			results = append(results, res)
		}
		return sc.Err()
	}
	if len(args) == 0 {
		if err := readAll(stdin); err != nil {
			return fmt.Errorf("table: %w", err)
		}
	}
	for _, name := range args {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("table: %w", err)
		}
		err = readAll(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("table: %s: %w", name, err)
		}
	}
	if len(results) == 0 {
		return fmt.Errorf("table: no result lines")
	}
	writeTable(stdout, results)
	return nil
}

// writeTable prints results as one aligned row each.
func writeTable(w io.Writer, results []Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tsize\tunit\tcount\trate/s\tp50\tp90\tp99\tp999\tmax\terrors\tcheck\tclient cpu\t")
	for _, r := range results {
		check := "-"
		switch {
		case r.P2P != nil:
			check = fmt.Sprintf("lost %d dup %d ooo %d", r.P2P.Lost, r.P2P.Duplicates, r.P2P.OutOfOrder)
		case r.Group != nil:
			check = fmt.Sprintf("lost %d dup %d", r.Group.Lost, r.Group.Duplicates)
		case r.Idle != nil && r.Idle.PID != 0 && r.Idle.Marginal != nil:
			check = fmt.Sprintf("%.0f B/conn, 2nd half %.0f", r.Idle.RSSPerConn, r.Idle.Marginal.PerConn)
		case r.Idle != nil && r.Idle.PID != 0:
			check = fmt.Sprintf("%.0f B/conn", r.Idle.RSSPerConn)
		case r.Idle != nil:
			check = fmt.Sprintf("%d alive", r.Idle.Alive)
		}
		var errs uint64
		for _, v := range r.Errors {
			errs += v
		}
		l := r.Latency
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%.1fs\t\n",
			r.Scenario, sizeOf(r), r.Unit, r.Ops, r.Rate, fmtMS(l.P50), fmtMS(l.P90), fmtMS(l.P99), fmtMS(l.P999), fmtMS(l.Max), errs, check, r.ClientCPU)
		for _, k := range slices.Sorted(maps.Keys(r.Mixed)) {
			o := r.Mixed[k]
			l := o.Latency
			fmt.Fprintf(tw, "mixed/%s\t%s\t%s\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t\t\n",
				k, fmt.Sprintf("%g/s", o.Asked), "ops", o.Ops, o.Rate, fmtMS(l.P50), fmtMS(l.P90), fmtMS(l.P99), fmtMS(l.P999), fmtMS(l.Max), o.Errors, fmt.Sprintf("skipped %d", o.Skipped))
		}
	}
	tw.Flush()
}

// sizeOf is the scenario's headline knob for the table.
func sizeOf(r Result) string {
	p := r.Params
	switch r.Scenario {
	case "login":
		return fmt.Sprintf("c=%v", p["concurrency"])
	case "p2p":
		return fmt.Sprintf("%vx%v", p["pairs"], p["inflight"])
	case "idle":
		return fmt.Sprintf("n=%v", p["users"])
	case "group":
		return fmt.Sprintf("%vx%v", p["size"], p["senders"])
	case "mixed":
		return fmt.Sprintf("n=%v", p["users"])
	}
	return "-"
}
