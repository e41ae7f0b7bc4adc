// Command ttctl administers a running teamtalkd over its control socket.
//
//	ttctl [-socket PATH] [-json] COMMAND [ARGS]
//
// Flags may appear anywhere on the line. Commands: status, services,
// restart SERVICE, msgservers, sockets, timers, online, kick USER, events,
// tui. Exit status is 0 on success, 1 with a one-line reason on failure and 2
// on a usage error.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"teamtalk/appliance/ctlclient"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// env is what a command runs with.
type env struct {
	c    *ctlclient.Client
	json bool
	out  io.Writer
	args []string // positional arguments after the command name
}

// command is one entry of the command table; adding a command is one entry.
type command struct {
	name  string
	args  string // usage of the positional arguments
	help  string
	nargs int                 // exact positional count, or -1 for any
	flags func(*flag.FlagSet) // its own flags, if any
	run   func(context.Context, *env) error
}

func commands() []command {
	return []command{
		{name: "status", help: "the appliance's summary", run: cmdStatus},
		{name: "services", help: "every service with its state and addresses", run: cmdServices},
		{name: "restart", args: "SERVICE", nargs: 1, help: "restart a service now", run: cmdRestart},
		{name: "msgservers", help: "msg servers registered with login", run: cmdMsgServers},
		{name: "sockets", help: "open sockets of every service", run: cmdSockets},
		{name: "timers", help: "timers of every service", run: cmdTimers},
		{name: "online", help: "online users", run: cmdOnline},
		{name: "kick", args: "USER", nargs: 1, help: "disconnect a user (numeric id)", run: cmdKick},
		{name: "events", help: "recent lifecycle events", run: cmdEvents},
		{name: "tui", help: "the live console", run: func(context.Context, *env) error {
			return errors.New("the console (ttctl tui) is not available yet in this build")
		}},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: ttctl [-socket PATH] [-json] COMMAND [ARGS]   (flags may go anywhere)")
	fmt.Fprintln(w, "commands:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s %s\t%s\n", c.name, c.args, c.help)
	}
	tw.Flush()
}

// parseAnywhere parses flags wherever they appear and returns the positionals.
func parseAnywhere(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// Find the command name first (the first non-flag word) so its flags can be registered.
	var cmd *command
	cmds := commands()
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-socket" || a == "--socket" {
			i++ // its value is the next word
			continue
		}
		if strings.HasPrefix(a, "-") {
			continue
		}
		for i := range cmds {
			if cmds[i].name == a {
				cmd = &cmds[i]
			}
		}
		break
	}
	fs := flag.NewFlagSet("ttctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	socket := fs.String("socket", "", "control socket (default "+ctlclient.InstalledSocket+" if present, else "+ctlclient.DevSocket+")")
	asJSON := fs.Bool("json", false, "print JSON instead of tables")
	if cmd != nil && cmd.flags != nil {
		cmd.flags(fs)
	}
	pos, err := parseAnywhere(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		usage(stdout)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "ttctl: %v\n", err)
		usage(stderr)
		return 2
	}
	if len(pos) == 0 {
		usage(stderr)
		return 2
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "ttctl: unknown command %q\n", pos[0])
		usage(stderr)
		return 2
	}
	pos = pos[1:]
	if cmd.nargs >= 0 && len(pos) != cmd.nargs {
		fmt.Fprintf(stderr, "ttctl: usage: ttctl %s %s\n", cmd.name, cmd.args)
		return 2
	}
	e := &env{c: &ctlclient.Client{Socket: *socket}, json: *asJSON, out: stdout, args: pos}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := cmd.run(ctx, e); err != nil {
		fmt.Fprintf(stderr, "ttctl: %v\n", err)
		return 1
	}
	return 0
}

// emit prints v as JSON, or calls table.
func (e *env) emit(v any, table func(w *tabwriter.Writer)) error {
	if e.json {
		enc := json.NewEncoder(e.out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(e.out, 0, 0, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}
