package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"teamtalk/appliance/ctlapi"
)

// adminCommands are the user, department and group commands (two words each).
func adminCommands() []command {
	userFields := func(fs *flag.FlagSet) {
		fs.String("nick", "", "display name (default: the login name)")
		fs.String("depart", "", "department, by name or numeric id")
		fs.String("sex", "", "male, female or unknown (1, 2, 0)")
		fs.String("phone", "", "phone number")
		fs.String("email", "", "e-mail address")
		fs.String("avatar", "", "avatar URL")
	}
	password := func(fs *flag.FlagSet) {
		fs.String("password", "", "the plain password the user types into a TeamTalk client")
	}
	return append([]command{
		{name: "user add", args: "NAME -password PLAIN [-depart D -nick N ...]", nargs: 1,
			help: "create a user", run: cmdUserAdd,
			flags: func(fs *flag.FlagSet) { password(fs); userFields(fs) }},
		{name: "user list", help: "every user", run: cmdUserList},
		{name: "user passwd", args: "NAME -password PLAIN", nargs: 1, help: "set a user's password", run: cmdUserPasswd, flags: password},
		{name: "user set", args: "NAME [-nick N -status S -depart D ...]", nargs: 1,
			help: "change a user's fields", run: cmdUserSet,
			flags: func(fs *flag.FlagSet) {
				userFields(fs)
				fs.String("status", "", "active (0), left (3) or a number 0-3; only active users log in")
				fs.String("sign", "", "signature line")
			}},
		{name: "user import", args: "FILE -password PLAIN", nargs: 1,
			help: "create users from a file in one transaction",
			run:  cmdUserImport, flags: password},
		{name: "depart add", args: "NAME [-parent P -priority N]", nargs: 1, help: "create a department", run: cmdDepartAdd,
			flags: func(fs *flag.FlagSet) {
				fs.String("parent", "", "parent department, by name or numeric id (default: top level)")
				fs.Uint("priority", 0, "sort priority shown to clients")
			}},
		{name: "depart list", help: "every department", run: cmdDepartList},
	}, groupCommands()...)
}

// parseSex accepts male/female/unknown or 1/2/0.
func parseSex(s string) (uint8, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "0", "unknown":
		return 0, nil
	case "1", "male", "m":
		return 1, nil
	case "2", "female", "f":
		return 2, nil
	}
	return 0, fmt.Errorf("-sex %q: want male, female or unknown", s)
}

func sexName(s uint8) string {
	switch s {
	case 1:
		return "male"
	case 2:
		return "female"
	}
	return "-"
}

// parseStatus accepts active/left or a number 0-3.
func parseStatus(s string) (uint32, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "active":
		return 0, nil
	case "left":
		return 3, nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n > 3 {
		return 0, fmt.Errorf("-status %q: want active, left or a number 0-3", s)
	}
	return uint32(n), nil
}

func statusName(s uint32) string {
	switch s {
	case 0:
		return "active"
	case 3:
		return "left"
	}
	return strconv.FormatUint(uint64(s), 10)
}

func needPassword(e *env) (string, error) {
	pw := e.flag("password")
	if pw == "" {
		return "", errors.New("give the password with -password PLAIN")
	}
	return pw, nil
}

func cmdUserAdd(ctx context.Context, e *env) error {
	pw, err := needPassword(e)
	if err != nil {
		return err
	}
	sex, err := parseSex(e.flag("sex"))
	if err != nil {
		return err
	}
	u, err := e.c.AddUser(ctx, ctlapi.UserAdd{
		Name: e.args[0], Password: pw, Nick: e.flag("nick"), Depart: e.flag("depart"), Sex: sex,
		Phone: e.flag("phone"), Email: e.flag("email"), Avatar: e.flag("avatar"),
	})
	if err != nil {
		return err
	}
	return e.emit(u, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "added user %s (id %d, nick %s, depart %s)\n", u.Name, u.ID, u.Nick, departOf(u))
	})
}

func departOf(u ctlapi.User) string {
	switch {
	case u.Depart != "":
		return u.Depart
	case u.DepartID != 0:
		return strconv.FormatUint(uint64(u.DepartID), 10)
	}
	return "-"
}

func cmdUserList(ctx context.Context, e *env) error {
	us, err := e.c.Users(ctx)
	if err != nil {
		return err
	}
	return e.emit(us, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "ID\tNAME\tNICK\tSEX\tDEPART\tSTATUS\tPHONE\tEMAIL")
		for _, u := range us {
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.ID, u.Name, dash(u.Nick), sexName(u.Sex), departOf(u), statusName(u.Status), dash(u.Phone), dash(u.Email))
		}
	})
}

func cmdUserPasswd(ctx context.Context, e *env) error {
	pw, err := needPassword(e)
	if err != nil {
		return err
	}
	u, err := e.c.SetPassword(ctx, e.args[0], pw)
	if err != nil {
		return err
	}
	return e.emit(u, func(w *tabwriter.Writer) { fmt.Fprintf(w, "password of %s (id %d) changed\n", u.Name, u.ID) })
}

func cmdUserSet(ctx context.Context, e *env) error {
	var req ctlapi.UserSet
	str := func(name string) *string {
		if !e.given(name) {
			return nil
		}
		v := e.flag(name)
		return &v
	}
	req.Nick, req.Depart, req.Phone, req.Email, req.Avatar, req.SignInfo = str("nick"), str("depart"), str("phone"), str("email"), str("avatar"), str("sign")
	if e.given("sex") {
		sex, err := parseSex(e.flag("sex"))
		if err != nil {
			return err
		}
		req.Sex = &sex
	}
	if e.given("status") {
		st, err := parseStatus(e.flag("status"))
		if err != nil {
			return err
		}
		req.Status = &st
	}
	if req == (ctlapi.UserSet{}) {
		return errors.New("nothing to change: give -nick, -status, -depart, -sex, -phone, -email, -avatar or -sign")
	}
	u, err := e.c.SetUser(ctx, e.args[0], req)
	if err != nil {
		return err
	}
	return e.emit(u, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "user %s (id %d): nick %s, depart %s, status %s\n", u.Name, u.ID, dash(u.Nick), departOf(u), statusName(u.Status))
	})
}

func cmdUserImport(ctx context.Context, e *env) error {
	f, err := os.Open(e.args[0])
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	rows, err := parseImport(f)
	if err != nil {
		return fmt.Errorf("import %s: %w", e.args[0], err)
	}
	if e.flag("password") == "" {
		for _, r := range rows {
			if r.Password == "" {
				return fmt.Errorf("import %s: line %d: user %q has no password: give -password PLAIN", e.args[0], r.Line, r.Name)
			}
		}
	}
	res, err := e.c.ImportUsers(ctx, ctlapi.UserImport{Password: e.flag("password"), Rows: rows})
	if err != nil {
		return err
	}
	return e.emit(res, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "imported %d users (ids %d-%d)\n", res.Added, res.FirstID, res.LastID)
	})
}

// parseImport reads an import file: one login name per line, or, when any
// line holds a comma, CSV rows of name[,password[,nick[,depart]]] (a first
// row "name,..." is a header). Blank lines and lines starting with # are
// skipped. Each row keeps its line number.
func parseImport(r io.Reader) ([]ctlapi.ImportRow, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var rows []ctlapi.ImportRow
	if !bytes.ContainsRune(data, ',') {
		sc := bufio.NewScanner(bytes.NewReader(data))
		for line := 1; sc.Scan(); line++ {
			name := strings.TrimSpace(sc.Text())
			if name == "" || strings.HasPrefix(name, "#") {
				continue
			}
			rows = append(rows, ctlapi.ImportRow{Line: line, Name: name})
		}
		if err := sc.Err(); err != nil {
			return nil, err
		}
	} else {
		cr := csv.NewReader(bytes.NewReader(data))
		cr.FieldsPerRecord = -1
		cr.TrimLeadingSpace = true
		cr.Comment = '#'
		for first := true; ; first = false {
			rec, err := cr.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, err // csv.ParseError names the line
			}
			line, _ := cr.FieldPos(0)
			if first && strings.EqualFold(strings.TrimSpace(rec[0]), "name") {
				continue
			}
			if len(rec) > 4 {
				return nil, fmt.Errorf("line %d: %d fields; want name,password,nick,depart", line, len(rec))
			}
			rec = append(rec, "", "", "")[:4]
			for i := range rec {
				rec[i] = strings.TrimSpace(rec[i])
			}
			if rec[0] == "" {
				return nil, fmt.Errorf("line %d: empty name", line)
			}
			rows = append(rows, ctlapi.ImportRow{Line: line, Name: rec[0], Password: rec[1], Nick: rec[2], Depart: rec[3]})
		}
	}
	if len(rows) == 0 {
		return nil, errors.New("no users in the file")
	}
	return rows, nil
}

func cmdDepartAdd(ctx context.Context, e *env) error {
	prio, err := strconv.ParseUint(e.flag("priority"), 10, 32)
	if err != nil {
		return fmt.Errorf("-priority: %w", err)
	}
	d, err := e.c.AddDepart(ctx, ctlapi.DepartAdd{Name: e.args[0], Parent: e.flag("parent"), Priority: uint32(prio)})
	if err != nil {
		return err
	}
	return e.emit(d, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "added department %s (id %d, parent %s)\n", d.Name, d.ID, parentOf(d))
	})
}

func parentOf(d ctlapi.Depart) string {
	switch {
	case d.Parent != "":
		return d.Parent
	case d.ParentID != 0:
		return strconv.FormatUint(uint64(d.ParentID), 10)
	}
	return "-"
}

func cmdDepartList(ctx context.Context, e *env) error {
	ds, err := e.c.Departs(ctx)
	if err != nil {
		return err
	}
	return e.emit(ds, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "ID\tNAME\tPARENT\tPRIORITY\tSTATUS")
		for _, d := range ds {
			st := "ok"
			if d.Status != 0 {
				st = "deleted"
			}
			fmt.Fprintf(w, "%d\t%s\t%s\t%d\t%s\n", d.ID, d.Name, parentOf(d), d.Priority, st)
		}
	})
}
