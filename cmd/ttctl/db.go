package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"

	"teamtalk/appliance/ctlclient"
)

// dbCommands are the commands on the IM store's database.
func dbCommands() []command {
	return []command{
		{name: "db init", help: "create the IM store's missing tables (MySQL; run where dbproxy runs)", run: cmdDBInit},
	}
}

func cmdDBInit(ctx context.Context, e *env) error {
	r, err := e.c.DBInit(ctx)
	if errors.Is(err, ctlclient.ErrNotRunning) {
		return fmt.Errorf("%w\n(a teamtalkd that refuses to start on an empty database creates the schema with `teamtalkd -init-db` and its usual -config/-set, or with store.mysql.create_schema = true)", err)
	}
	if err != nil {
		return err
	}
	return e.emit(r, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, r.Message)
	})
}
