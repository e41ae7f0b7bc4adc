package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"
)

// runWait waits until the teamtalkd on -socket reports ready, then prints
// its pid and bound addresses ("key address" lines, or one value with -addr).
func runWait(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ttbench wait", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", "", "control socket of the teamtalkd")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait")
	key := fs.String("addr", "", "print only this bound address (e.g. msg.listen), or \"pid\" or \"metrics\"")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *socket == "" {
		fmt.Fprintln(stderr, "ttbench wait: -socket is required")
		return errUsage
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var last error
	for {
		st, err := statusOf(ctx, *socket)
		if err == nil && st.Ready {
			switch *key {
			case "":
				fmt.Fprintf(stdout, "pid %d\n", st.PID)
				for _, k := range slices.Sorted(maps.Keys(st.Addresses)) {
					fmt.Fprintf(stdout, "%s %s\n", k, st.Addresses[k])
				}
				if st.Metrics != "" {
					fmt.Fprintf(stdout, "metrics %s\n", st.Metrics)
				}
			case "pid":
				fmt.Fprintln(stdout, st.PID)
			case "metrics":
				fmt.Fprintln(stdout, st.Metrics)
			default:
				a, ok := st.Addresses[*key]
				if !ok {
					return fmt.Errorf("wait: no bound address %q", *key)
				}
				fmt.Fprintln(stdout, a)
			}
			return nil
		}
		if err == nil {
			err = fmt.Errorf("not ready yet")
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait: %s not ready within %v: %v", *socket, *timeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
