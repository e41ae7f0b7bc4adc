package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"teamtalk/appliance/ctlapi"
)

// ago formats how long ago t was, coarsely ("3s", "5m", "2h", "4d").
func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func listen(m map[string]string) string {
	if len(m) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, " ")
}

// metricsURL is where /metrics is served, or "off".
func metricsURL(addr string) string {
	if addr == "" {
		return "off"
	}
	return "http://" + addr + "/metrics"
}

func cmdStatus(ctx context.Context, e *env) error {
	st, err := e.c.Status(ctx)
	if err != nil {
		return err
	}
	return e.emit(st, func(w *tabwriter.Writer) {
		running := 0
		for _, s := range st.Services {
			if s.State == ctlapi.StateRunning {
				running++
			}
		}
		fmt.Fprintf(w, "teamtalkd\t%s\n", st.Version)
		fmt.Fprintf(w, "pid\t%d\n", st.PID)
		fmt.Fprintf(w, "up\t%s\n", ago(st.Started))
		fmt.Fprintf(w, "ready\t%v\n", st.Ready)
		fmt.Fprintf(w, "config\t%s\n", dash(st.ConfigFile))
		fmt.Fprintf(w, "data\t%s\n", st.DataDir)
		fmt.Fprintf(w, "socket\t%s\n", dash(st.Socket))
		fmt.Fprintf(w, "metrics\t%s\n", metricsURL(st.Metrics))
		fmt.Fprintf(w, "services\t%d running of %d\n", running, len(st.Services))
		fmt.Fprintf(w, "online\t%d\n", st.Counters.Online)
		fmt.Fprintf(w, "msgs/s\t%.1f\n", st.Counters.MsgsPerSec)
		fmt.Fprintf(w, "logins/s\t%.1f\n", st.Counters.LoginsPerSec)
	})
}

func cmdServices(ctx context.Context, e *env) error {
	svcs, err := e.c.Services(ctx)
	if err != nil {
		return err
	}
	return e.emit(svcs, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "SERVICE\tKIND\tSTATE\tSINCE\tRESTARTS\tLISTEN\tLAST ERROR")
		for _, s := range svcs {
			lastErr, _, _ := strings.Cut(s.LastError, "\n")
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", s.Name, s.Kind, s.State, ago(s.Since), s.Restarts, listen(s.Listen), dash(lastErr))
		}
	})
}

func cmdRestart(ctx context.Context, e *env) error {
	r, err := e.c.Restart(ctx, e.args[0])
	if err != nil {
		return err
	}
	return e.emit(r, func(w *tabwriter.Writer) { fmt.Fprintf(w, "%s: %s\n", r.Service, r.Message) })
}

func cmdMsgServers(ctx context.Context, e *env) error {
	ms, err := e.c.MsgServers(ctx)
	if err != nil {
		return err
	}
	return e.emit(ms, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "ADDR\tIP1\tIP2\tPORT\tCONNS\tMAX\tHOST\tUPDATED")
		for _, m := range ms {
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", m.Addr, m.IP1, m.IP2, m.Port, m.CurConns, m.MaxConns, dash(m.Hostname), ago(m.Updated))
		}
	})
}

func cmdSockets(ctx context.Context, e *env) error {
	ss, err := e.c.Sockets(ctx)
	if err != nil {
		return err
	}
	return e.emit(ss, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "SERVICE\tLOOP\tID\tKIND\tLOCAL\tREMOTE\tUSER\tIN\tOUT\tQUEUED\tAGE")
		for _, s := range ss {
			fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", s.Service, s.Loop, s.ID, s.Kind, s.Local, dash(s.Remote), s.UserID, s.BytesIn, s.BytesOut, s.Queued, ago(s.Opened))
		}
	})
}

func cmdTimers(ctx context.Context, e *env) error {
	ts, err := e.c.Timers(ctx)
	if err != nil {
		return err
	}
	return e.emit(ts, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "SERVICE\tLOOP\tNAME\tINTERVAL\tNEXT IN\tFIRED")
		for _, t := range ts {
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%d\n", t.Service, t.Loop, t.Name, t.Interval, time.Until(t.Next).Round(time.Millisecond), t.Fired)
		}
	})
}

func cmdOnline(ctx context.Context, e *env) error {
	us, err := e.c.Online(ctx)
	if err != nil {
		return err
	}
	return e.emit(us, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "USER\tMSG SERVER\tCLIENTS")
		for _, u := range us {
			var cs []string
			for _, c := range u.Clients {
				cs = append(cs, fmt.Sprintf("type=%d status=%d", c.Type, c.Status))
			}
			fmt.Fprintf(w, "%d\t%s\t%s\n", u.UserID, dash(u.MsgServer), dash(strings.Join(cs, ", ")))
		}
	})
}

func cmdKick(ctx context.Context, e *env) error {
	if _, err := strconv.ParseUint(e.args[0], 10, 32); err != nil {
		return fmt.Errorf("kick %q: give the numeric user id", e.args[0])
	}
	r, err := e.c.Kick(ctx, ctlapi.KickRequest{User: e.args[0]})
	if err != nil {
		return err
	}
	return e.emit(r, func(w *tabwriter.Writer) { fmt.Fprintf(w, "user %d: %d connections closed\n", r.UserID, r.Kicked) })
}

func cmdEvents(ctx context.Context, e *env) error {
	evs, err := e.c.Events(ctx, 0, 50)
	if err != nil {
		return err
	}
	return e.emit(evs, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "SEQ\tTIME\tSERVICE\tEVENT\tMESSAGE")
		for _, ev := range evs {
			msg, _, _ := strings.Cut(ev.Message, "\n")
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", ev.Seq, ev.Time.Local().Format("2006-01-02 15:04:05"), dash(ev.Service), ev.Kind, dash(msg))
		}
	})
}
