package main

import (
	"context"
	"errors"
	"os"

	"github.com/charmbracelet/x/term"

	"teamtalk/tui"
)

// cmdTUI runs the live console on the terminal until the user quits.
func cmdTUI(ctx context.Context, e *env) error {
	out, ok := e.out.(*os.File)
	if !ok || !term.IsTerminal(out.Fd()) || !term.IsTerminal(os.Stdin.Fd()) {
		return errors.New("tui needs a terminal (scripts: use the other commands, with -json)")
	}
	// The per-command timeout bounds one request; the console runs until the
	// user quits, and the program itself handles SIGINT and SIGTERM.
	return tui.Run(context.WithoutCancel(ctx), tui.Options{
		Source:  e.c,
		Actions: e.c,
		Target:  e.c.SocketPath(),
		Color:   os.Getenv("NO_COLOR") == "",
	}, os.Stdin, out)
}
