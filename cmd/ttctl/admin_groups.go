package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"teamtalk/appliance/ctlapi"
)

// groupCommands are the group commands: groups by name or numeric id,
// members by login name or numeric id, lists comma-separated.
func groupCommands() []command {
	return []command{
		{name: "group add", args: "NAME -members a,b,c [-type temp ...]", nargs: 1,
			help: "create a group", run: cmdGroupAdd,
			flags: func(fs *flag.FlagSet) {
				fs.String("members", "", "members, comma-separated login names or ids (at least one)")
				fs.String("type", ctlapi.GroupNormal, "normal (in every member's group list) or temp")
				fs.String("avatar", "", "avatar URL")
				fs.String("creator", "", "creating user, by login name or id (default: none, an administrator's group)")
			}},
		{name: "group list", help: "every group", run: cmdGroupList},
		{name: "group show", args: "NAME|ID", nargs: 1, help: "a group and its members", run: cmdGroupShow},
		{name: "group members", args: "NAME|ID [-add a,b] [-remove c]", nargs: 1,
			help: "add and remove members of a group", run: cmdGroupMembers,
			flags: func(fs *flag.FlagSet) {
				fs.String("add", "", "users to add, comma-separated login names or ids")
				fs.String("remove", "", "users to remove, comma-separated login names or ids")
			}},
	}
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func cmdGroupAdd(ctx context.Context, e *env) error {
	members := splitList(e.flag("members"))
	if len(members) == 0 {
		return errors.New("give the members with -members a,b,c")
	}
	g, err := e.c.AddGroup(ctx, ctlapi.GroupAdd{
		Name: e.args[0], Type: e.flag("type"), Avatar: e.flag("avatar"), Creator: e.flag("creator"), Members: members,
	})
	if err != nil {
		return err
	}
	return e.emit(g, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "added %s group %s (id %d, %s: %s)\n", g.Type, g.Name, g.ID, memberCount(g.Members), memberNames(g.MemberList))
	})
}

// memberCount says "1 member" or "N members".
func memberCount(n int) string {
	if n == 1 {
		return "1 member"
	}
	return strconv.Itoa(n) + " members"
}

func memberNames(ms []ctlapi.GroupMember) string {
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = userName(m.ID, m.Name)
	}
	return strings.Join(names, ", ")
}

func userName(id uint32, name string) string {
	if name == "" {
		return "#" + strconv.FormatUint(uint64(id), 10)
	}
	return name
}

func refNames(rs []ctlapi.UserRef) string {
	names := make([]string, len(rs))
	for i, r := range rs {
		names[i] = userName(r.ID, r.Name)
	}
	return strings.Join(names, ", ")
}

func creatorOf(g ctlapi.Group) string {
	switch {
	case g.Creator != "":
		return g.Creator
	case g.CreatorID != 0:
		return "#" + strconv.FormatUint(uint64(g.CreatorID), 10)
	}
	return "-"
}

func groupStatus(s uint32) string {
	if s == 0 {
		return "active"
	}
	return "deleted"
}

func cmdGroupList(ctx context.Context, e *env) error {
	gs, err := e.c.Groups(ctx)
	if err != nil {
		return err
	}
	return e.emit(gs, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "ID\tNAME\tTYPE\tMEMBERS\tVERSION\tCREATOR\tSTATUS")
		for _, g := range gs {
			fmt.Fprintf(w, "%d\t%s\t%s\t%d\t%d\t%s\t%s\n", g.ID, g.Name, g.Type, g.Members, g.Version, creatorOf(g), groupStatus(g.Status))
		}
	})
}

const timeLayout = "2006-01-02 15:04:05"

func cmdGroupShow(ctx context.Context, e *env) error {
	g, err := e.c.Group(ctx, e.args[0])
	if err != nil {
		return err
	}
	return e.emit(g, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "group\t%s (id %d)\n", g.Name, g.ID)
		fmt.Fprintf(w, "type\t%s\n", g.Type)
		fmt.Fprintf(w, "status\t%s\n", groupStatus(g.Status))
		fmt.Fprintf(w, "creator\t%s\n", creatorOf(g.Group))
		fmt.Fprintf(w, "avatar\t%s\n", dash(g.Avatar))
		fmt.Fprintf(w, "version\t%d\n", g.Version)
		fmt.Fprintf(w, "messages\t%d\n", g.LatestMsgID)
		fmt.Fprintf(w, "created\t%s\n", g.Created.Local().Format(timeLayout))
		fmt.Fprintf(w, "members\t%d\n", g.Members)
		fmt.Fprintln(w)
		fmt.Fprintln(w, "ID\tNAME\tNICK\tJOINED\tSHIELD")
		for _, m := range g.MemberList {
			shield := "-"
			if m.Shield {
				shield = "on"
			}
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", m.ID, userName(m.ID, m.Name), dash(m.Nick), m.Joined.Local().Format(timeLayout), shield)
		}
	})
}

func cmdGroupMembers(ctx context.Context, e *env) error {
	req := ctlapi.GroupMembersChange{Add: splitList(e.flag("add")), Remove: splitList(e.flag("remove"))}
	if len(req.Add) == 0 && len(req.Remove) == 0 {
		return errors.New("nothing to change: give -add a,b and/or -remove c")
	}
	r, err := e.c.ChangeGroupMembers(ctx, e.args[0], req)
	if err != nil {
		return err
	}
	return e.emit(r, func(w *tabwriter.Writer) {
		g := r.Group
		fmt.Fprintf(w, "group %s (id %d): %s, version %d\n", g.Name, g.ID, memberCount(g.Members), g.Version)
		for _, l := range []struct {
			what string
			refs []ctlapi.UserRef
		}{{"added", r.Added}, {"removed", r.Removed}, {"already members", r.AlreadyIn}, {"not members", r.NotMembers}} {
			if len(l.refs) > 0 {
				fmt.Fprintf(w, "%s: %s\n", l.what, refNames(l.refs))
			}
		}
		switch {
		case len(r.Added) == 0 && len(r.Removed) == 0:
			fmt.Fprintln(w, "nothing changed")
		case r.Notified:
			fmt.Fprintln(w, "online members were notified")
		default:
			fmt.Fprintln(w, "no msg service runs here: members see the change at their next group sync")
		}
	})
}
