// Command ttbench is the load generator of teamtalk: it speaks the TeamTalk
// protocol (package client), so it measures our appliance or any
// TeamTalk-compatible server. Scenarios: provision (create the bench users),
// login (a connect+login storm), p2p (pairs of users chatting, every acked
// message checked to arrive exactly once and in order), idle (logged-in users
// heartbeating, with the server's RSS per connection), group (a group's
// fan-out, checked exactly once per member), mixed (a blend of operations at
// set rates) and table (a summary of
// result lines). Each scenario prints a live progress line on stderr, then a
// table and one JSON line on stdout.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfile := startProfile(os.Getenv("TTBENCH_CPUPROFILE"), os.Stderr)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stopProfile()
	stop()
	os.Exit(code)
}

const usage = `usage: ttbench SCENARIO [flags]

scenarios:
  provision  create users PREFIX1..PREFIXN (control API, or -data for a stopped appliance)
  login      connect+login storm: logins/s and latency
  p2p        pairs of users chatting: msgs/s, ack latency, exactly-once in-order check
  group      a group of M logged-in members, S sending: deliveries/s, latency, exactly-once check
  mixed      a realistic blend at set rates (login churn, p2p, group, history, unread, sessions;
             an idle majority): per-operation throughput and latency
  idle       N logged-in users heartbeating; server RSS per connection with -pid/-socket
  wait       wait until the appliance on -socket is ready; print its bound addresses
  table      print a summary table of JSON result lines (files or stdin)

"ttbench SCENARIO -h" lists a scenario's flags.
`

// run is main without the process: it parses args, runs one scenario and
// returns the exit code (0 ok, 1 failed or checks failed, 2 usage).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "provision":
		err = runProvision(ctx, args[1:], stdout, stderr)
	case "login":
		err = runLogin(ctx, args[1:], stdout, stderr)
	case "p2p":
		err = runP2P(ctx, args[1:], stdout, stderr)
	case "group":
		err = runGroup(ctx, args[1:], stdout, stderr)
	case "mixed":
		err = runMixed(ctx, args[1:], stdout, stderr)
	case "idle":
		err = runIdle(ctx, args[1:], stdout, stderr)
	case "wait":
		err = runWait(ctx, args[1:], stdout, stderr)
	case "table":
		err = runTable(args[1:], os.Stdin, stdout)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "ttbench: unknown scenario %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case err == errUsage:
		return 2
	default:
		fmt.Fprintf(stderr, "ttbench: %v\n", err)
		return 1
	}
}

// startProfile writes a CPU profile of the generator itself to path (the
// environment's TTBENCH_CPUPROFILE) until the returned function is called;
// with no path it does nothing. The generator shares the box with the
// server, so its own cost per operation is worth seeing.
func startProfile(path string, stderr io.Writer) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(stderr, "ttbench: cpu profile: %v\n", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(stderr, "ttbench: cpu profile: %v\n", err)
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(stderr, "ttbench: cpu profile: %v\n", err)
		}
	}
}
