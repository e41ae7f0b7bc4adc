package main

import (
	"context"
	"errors"
	"io"
)

// Interim: the idle scenario lands in the next commit.
func runIdle(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("idle: not in this build yet")
}

// IdleResult is filled by the idle scenario.
type IdleResult struct {
	Conns, Alive, HeartbeatsSent, HeartbeatEchoes, PID int
	RSSBeforeKB, RSSAfterKB, NoFileLimit               uint64
	RSSPerConn                                         float64
}
