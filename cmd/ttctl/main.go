// Command ttctl administers a running teamtalkd over its control socket.
//
//	ttctl [-socket PATH] [-json] COMMAND [ARGS]
//
// Flags may appear anywhere on the line. Commands: status, services,
// restart SERVICE, msgservers, sockets, timers, online, kick USER, events,
// tui, and the admin commands of two words: user add|list|passwd|set|import,
// depart add|list, group add|list|show|members, db init. Exit status is 0 on success, 1 with a one-line reason on
// failure and 2 on a usage error.
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
	fs   *flag.FlagSet
}

// flag returns the value of a command flag.
func (e *env) flag(name string) string { return e.fs.Lookup(name).Value.String() }

// given reports whether a flag was set on the command line.
func (e *env) given(name string) bool {
	set := false
	e.fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// command is one entry of the command table; adding a command is one entry.
type command struct {
	name  string // one word, or two ("user add")
	args  string // usage of the positional arguments
	help  string
	nargs int                 // exact positional count, or -1 for any
	flags func(*flag.FlagSet) // registers its own flags, read with env.flag
	run   func(context.Context, *env) error
}

func commands() []command {
	return append([]command{
		{name: "status", help: "the appliance's summary", run: cmdStatus},
		{name: "services", help: "every service with its state and addresses", run: cmdServices},
		{name: "restart", args: "SERVICE", nargs: 1, help: "restart a service now", run: cmdRestart},
		{name: "msgservers", help: "msg servers registered with login", run: cmdMsgServers},
		{name: "sockets", help: "open sockets of every service", run: cmdSockets},
		{name: "timers", help: "timers of every service", run: cmdTimers},
		{name: "online", help: "online users", run: cmdOnline},
		{name: "kick", args: "USER", nargs: 1, help: "disconnect a user (numeric id)", run: cmdKick},
		{name: "events", help: "recent lifecycle events", run: cmdEvents},
		{name: "tui", help: "the live console", run: cmdTUI},
	}, append(adminCommands(), dbCommands()...)...)
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

// newFlagSet returns the flags of cmd (nil: only the global ones).
func newFlagSet(cmd *command) *flag.FlagSet {
	fs := flag.NewFlagSet("ttctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.String("socket", "", "control socket (default "+ctlclient.InstalledSocket+" if present, else "+ctlclient.DevSocket+")")
	fs.Bool("json", false, "print JSON instead of tables")
	if cmd != nil && cmd.flags != nil {
		cmd.flags(fs)
	}
	return fs
}

// valueFlags returns the names of every flag, of any command, that takes a
// value (is not boolean), so the command's words can be found before its
// flags are known: in "ttctl -depart 3 user add bob", 3 is a value.
func valueFlags(cmds []command) map[string]bool {
	out := map[string]bool{}
	for i := range cmds {
		newFlagSet(&cmds[i]).VisitAll(func(f *flag.Flag) {
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !b.IsBoolFlag() {
				out[f.Name] = true
			}
		})
	}
	return out
}

// words returns the first two positional words of args.
func words(cmds []command, args []string) []string {
	takesValue := valueFlags(cmds)
	var out []string
	for i := 0; i < len(args) && len(out) < 2; i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i+1:min(len(args), i+1+2-len(out))]...)
		}
		if name, ok := strings.CutPrefix(a, "-"); ok && a != "-" {
			name = strings.TrimPrefix(name, "-")
			if !strings.Contains(name, "=") && takesValue[name] {
				i++ // its value is the next word
			}
			continue
		}
		out = append(out, a)
	}
	return out
}

// isGroup reports whether word starts two-word commands ("user").
func isGroup(cmds []command, word string) bool {
	for _, c := range cmds {
		if strings.HasPrefix(c.name, word+" ") {
			return true
		}
	}
	return false
}

// subcommands lists the second words of a group's commands.
func subcommands(cmds []command, group string) []string {
	var out []string
	for _, c := range cmds {
		if sub, ok := strings.CutPrefix(c.name, group+" "); ok {
			out = append(out, sub)
		}
	}
	return out
}

// lookup finds the command named by the first one or two words.
func lookup(cmds []command, ws []string) *command {
	if len(ws) == 0 {
		return nil
	}
	name := ws[0]
	if isGroup(cmds, ws[0]) {
		if len(ws) < 2 {
			return nil
		}
		name += " " + ws[1]
	}
	for i := range cmds {
		if cmds[i].name == name {
			return &cmds[i]
		}
	}
	return nil
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
	// Find the command first (its one or two words) so its flags can be registered.
	cmds := commands()
	cmd := lookup(cmds, words(cmds, args))
	fs := newFlagSet(cmd)
	socket := fs.Lookup("socket").Value.(flag.Getter)
	asJSON := fs.Lookup("json").Value.(flag.Getter)
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
		name := pos[0]
		if isGroup(cmds, pos[0]) {
			if len(pos) == 1 {
				fmt.Fprintf(stderr, "ttctl: %s: give one of: %s\n", name, strings.Join(subcommands(cmds, name), ", "))
				return 2
			}
			name += " " + pos[1]
		}
		fmt.Fprintf(stderr, "ttctl: unknown command %q\n", name)
		usage(stderr)
		return 2
	}
	pos = pos[len(strings.Fields(cmd.name)):]
	if cmd.nargs >= 0 && len(pos) != cmd.nargs {
		fmt.Fprintf(stderr, "ttctl: usage: ttctl %s %s\n", cmd.name, cmd.args)
		if cmd.flags != nil {
			own := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
			own.SetOutput(stderr)
			cmd.flags(own)
			own.PrintDefaults()
		}
		return 2
	}
	e := &env{c: &ctlclient.Client{Socket: socket.Get().(string)}, json: asJSON.Get().(bool), out: stdout, args: pos, fs: fs}
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
