package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"teamtalk/appliance/config"
	"teamtalk/appliance/ctlapi"
	"teamtalk/appliance/ctlclient"
	"teamtalk/client"
	"teamtalk/daemons/builtin"
	"teamtalk/state"
	"teamtalk/wire/pb"
)

// liveGroups runs a live supervisor (fake route and msg: no notifies) over a
// real bolt store holding users alice, bob, carol, dave and erin (ids 1-5),
// with dbproxy.max_group_members = 4.
func liveGroups(t *testing.T) (string, string, state.Store) {
	t.Helper()
	dir := t.TempDir()
	st := openBolt(t, dir)
	for _, name := range []string{"alice", "bob", "carol", "dave", "erin"} {
		if _, err := st.CreateUser(context.Background(), state.NewUser{Name: name, Password: "pw", Nick: strings.ToUpper(name[:1]) + name[1:]}); err != nil {
			t.Fatal(err)
		}
	}
	sock, dir := liveWith(t, dir, st, nil, func(c *config.Config) { c.DBProxy.MaxGroupMembers = 4 })
	return sock, dir, st
}

// TestAdminGroupsGolden runs a session of group commands in order against
// one store; each step's output is a golden file.
func TestAdminGroupsGolden(t *testing.T) {
	sock, dir, st := liveGroups(t)
	steps := []struct {
		name string
		args []string
		code int
	}{
		{name: "add", args: []string{"group", "add", "team", "-members", "alice,bob,3", "-creator", "alice", "-avatar", "http://img/team.png"}},
		{name: "add_temp_flags_first", args: []string{"-type", "temp", "-members", "bob, carol", "group", "add", "chat"}},
		{name: "add_exists", args: []string{"group", "add", "team", "-members", "dave"}, code: 1},
		{name: "add_same_name_other_type", args: []string{"group", "add", "chat", "-members", "dave"}},
		{name: "add_unknown_members", args: []string{"group", "add", "ops", "-members", "alice,zed,99"}, code: 1},
		{name: "add_no_members", args: []string{"group", "add", "ops"}, code: 1},
		{name: "add_blank_members", args: []string{"group", "add", "ops", "-members", " , "}, code: 1},
		{name: "add_too_many", args: []string{"group", "add", "ops", "-members", "alice,bob,carol,dave,erin"}, code: 1},
		{name: "add_bad_type", args: []string{"group", "add", "ops", "-members", "alice", "-type", "secret"}, code: 1},
		{name: "add_numeric_name", args: []string{"group", "add", "123", "-members", "alice"}, code: 1},
		{name: "add_unknown_creator", args: []string{"group", "add", "ops", "-members", "alice", "-creator", "zed"}, code: 1},
		{name: "add_missing_name", args: []string{"group", "add", "-members", "alice"}, code: 2},
		{name: "list", args: []string{"group", "list"}},
		{name: "show", args: []string{"group", "show", "team"}},
		{name: "show_by_id", args: []string{"group", "show", "2"}},
		{name: "show_ambiguous", args: []string{"group", "show", "chat"}, code: 1},
		{name: "show_unknown", args: []string{"group", "show", "nope"}, code: 1},
		{name: "members", args: []string{"group", "members", "team", "-add", "dave", "-remove", "bob"}},
		{name: "members_noop", args: []string{"group", "members", "1", "-add", "alice,4", "-remove", "bob"}},
		{name: "members_too_many", args: []string{"group", "members", "team", "-add", "bob,erin"}, code: 1},
		{name: "members_to_limit", args: []string{"group", "members", "team", "-add", "erin"}},
		{name: "members_none_left", args: []string{"group", "members", "3", "-remove", "dave"}, code: 1},
		{name: "members_both", args: []string{"group", "members", "team", "-add", "bob", "-remove", "2"}, code: 1},
		{name: "members_nothing", args: []string{"group", "members", "team"}, code: 1},
		{name: "members_unknown_user", args: []string{"group", "members", "team", "-add", "zed", "-remove", "yan"}, code: 1},
		{name: "members_unknown_group", args: []string{"group", "members", "nope", "-add", "bob"}, code: 1},
		{name: "list_after", args: []string{"group", "list"}},
		{name: "no_subcommand", args: []string{"group"}, code: 2},
	}
	for _, tc := range steps {
		t.Run(tc.name, func(t *testing.T) {
			args := append(tc.args, "-socket", sock)
			code, out, errs := ttctl(t, args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stdout %s; stderr: %s", code, tc.code, out, errs)
			}
			checkGolden(t, "group_"+tc.name, normalize("$ ttctl "+strings.Join(tc.args, " ")+"\n"+out+errs, dir))
		})
	}
	// What the store holds after the session.
	g, err := st.Group(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint32{1, 3, 4, 5}; !slices.Equal(g.MemberIDs(), want) || g.Version != 4 || g.Creator != 1 || g.Type != state.GroupNormal {
		t.Fatalf("group 1 = %+v; want members %v, version 4", g, want)
	}
	gs, err := st.ListGroups(context.Background())
	if err != nil || len(gs) != 3 {
		t.Fatalf("store holds %d groups (%v), want 3: refused commands stored nothing", len(gs), err)
	}
}

func TestAdminGroupsJSON(t *testing.T) {
	sock, _, _ := liveGroups(t)
	if code, _, errs := ttctl(t, "group", "add", "team", "-members", "alice,bob", "-socket", sock); code != 0 {
		t.Fatal(errs)
	}
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, out []byte)
	}{
		{name: "list", args: []string{"group", "list"}, check: func(t *testing.T, out []byte) {
			var gs []ctlapi.Group
			if err := json.Unmarshal(out, &gs); err != nil || len(gs) != 1 || gs[0].Name != "team" || gs[0].Members != 2 || gs[0].Type != "normal" || gs[0].Version != 1 || gs[0].CreatorID != 0 {
				t.Fatalf("%v %+v", err, gs)
			}
		}},
		{name: "show", args: []string{"group", "show", "team"}, check: func(t *testing.T, out []byte) {
			var g ctlapi.GroupDetail
			if err := json.Unmarshal(out, &g); err != nil || g.ID != 1 || len(g.MemberList) != 2 || g.MemberList[1].Name != "bob" || g.MemberList[1].Joined.IsZero() {
				t.Fatalf("%v %+v", err, g)
			}
		}},
		{name: "members", args: []string{"group", "members", "team", "-add", "carol", "-remove", "erin"}, check: func(t *testing.T, out []byte) {
			var r ctlapi.GroupChangeResult
			if err := json.Unmarshal(out, &r); err != nil || r.Group.Version != 2 || len(r.Added) != 1 || r.Added[0].Name != "carol" ||
				len(r.Removed) != 0 || len(r.NotMembers) != 1 || r.NotMembers[0].ID != 5 || r.Notified {
				t.Fatalf("%v %+v", err, r)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := ttctl(t, append(tc.args, "-json", "-socket", sock)...)
			if code != 0 {
				t.Fatal(errs)
			}
			tc.check(t, []byte(out))
		})
	}
}

// TestAdminGroupSeenByClient: through the real dbproxy, route, login and msg
// services, a normal group created with ttctl is in its members' group
// lists with its members, and a membership change made with ttctl reaches
// an online member at once as IMGroupChangeMemberNotify and bumps the
// version the client syncs.
func TestAdminGroupSeenByClient(t *testing.T) {
	dir := t.TempDir()
	st := openBolt(t, dir)
	sock, _ := liveWith(t, dir, st, builtin.Table(), func(c *config.Config) {
		c.Services = []string{config.DBProxy, config.Route, config.Login, config.Msg}
	})
	for _, name := range []string{"alice", "bob", "carol"} {
		if code, _, errs := ttctl(t, "user", "add", name, "-password", "pw", "-socket", sock); code != 0 {
			t.Fatal(errs)
		}
	}
	if code, _, errs := ttctl(t, "group", "add", "team", "-members", "alice,bob", "-socket", sock); code != 0 {
		t.Fatal(errs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stat, err := (&ctlclient.Client{Socket: sock}).Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	info, err := client.Resolve(ctx, "http://"+stat.Addresses["login.http_listen"]+"/msg_server")
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	login := func(name string) *client.Client {
		c, err := client.Dial(ctx, info.Addr(), client.Options{})
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := c.Login(ctx, name, "pw"); err != nil {
			t.Fatalf("login %s: %v", name, err)
		}
		return c
	}
	alice := login("alice")
	version := func(c *client.Client) uint32 {
		t.Helper()
		vs, err := c.GroupList(ctx)
		if err != nil {
			t.Fatalf("group list: %v", err)
		}
		if len(vs) != 1 || vs[0].GetGroupId() != 1 {
			t.Fatalf("group list = %v, want group 1", vs)
		}
		return vs[0].GetVersion()
	}
	if v := version(alice); v != 1 {
		t.Fatalf("version %d, want 1", v)
	}
	gi, err := alice.GroupInfo(ctx, []*pb.GroupVersionInfo{{GroupId: ptr(uint32(1)), Version: ptr(uint32(0))}})
	if err != nil || len(gi) != 1 || gi[0].GetGroupName() != "team" || !slices.Equal(gi[0].GetGroupMemberList(), []uint32{1, 2}) || gi[0].GetGroupType() != pb.GroupType_GROUP_TYPE_NORMAL {
		t.Fatalf("group info = %v, %v", gi, err)
	}

	code, out, errs := ttctl(t, "group", "members", "team", "-add", "carol", "-socket", sock)
	if code != 0 || !strings.Contains(out, "online members were notified") {
		t.Fatalf("exit %d: %s%s", code, out, errs)
	}
	n := nextGroupChange(t, ctx, alice)
	if n.GetGroupId() != 1 || n.GetChangeType() != pb.GroupModifyType_GROUP_MODIFY_TYPE_ADD || !slices.Equal(n.GetChgUserIdList(), []uint32{3}) || !slices.Equal(n.GetCurUserIdList(), []uint32{1, 2, 3}) {
		t.Fatalf("notify = %v", n)
	}
	if v := version(alice); v != 2 {
		t.Fatalf("version %d after the change, want 2", v)
	}
	carol := login("carol")
	if v := version(carol); v != 2 {
		t.Fatalf("the added member's version %d, want 2", v)
	}
	if code, _, errs := ttctl(t, "group", "members", "team", "-remove", "alice", "-socket", sock); code != 0 {
		t.Fatal(errs)
	}
	for _, c := range []*client.Client{alice, carol} { // the removed member is told too
		n := nextGroupChange(t, ctx, c)
		if n.GetChangeType() != pb.GroupModifyType_GROUP_MODIFY_TYPE_DEL || !slices.Equal(n.GetChgUserIdList(), []uint32{1}) || !slices.Equal(n.GetCurUserIdList(), []uint32{2, 3}) {
			t.Fatalf("notify = %v", n)
		}
	}
	if vs, err := alice.GroupList(ctx); err != nil || len(vs) != 0 {
		t.Fatalf("removed member's group list = %v, %v", vs, err)
	}
}

func ptr[T any](v T) *T { return &v }

// nextGroupChange returns the client's next group change notify, skipping
// other events.
func nextGroupChange(t *testing.T, ctx context.Context, c *client.Client) *pb.IMGroupChangeMemberNotify {
	t.Helper()
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("client stopped: %v", c.Err())
			}
			if n, ok := ev.(*client.GroupChangeEvent); ok {
				return n.Notify
			}
		case <-ctx.Done():
			t.Fatal("no group change notify")
		}
	}
}
