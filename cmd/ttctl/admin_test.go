package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"teamtalk/appliance/config"
	"teamtalk/appliance/ctlapi"
	"teamtalk/appliance/ctlclient"
	"teamtalk/client"
	"teamtalk/daemons/builtin"
	"teamtalk/state"
	"teamtalk/state/boltstore"
)

// liveStore runs a live supervisor holding a real bolt IM store and returns
// the socket, the temp dir and the store (to check what the commands did).
func liveStore(t *testing.T) (string, string, state.Store) {
	t.Helper()
	dir := t.TempDir()
	st := openBolt(t, dir)
	sock, dir := liveWith(t, dir, st, nil, nil)
	return sock, dir, st
}

// openBolt opens a bolt IM store (no fsync) in dir, closed when the test
// ends: after the supervisor's cleanup, registered later (LIFO).
func openBolt(t *testing.T, dir string) state.Store {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(dir, "im.db"), boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// ttctl runs one command line and returns its exit code, stdout and stderr.
func ttctl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	golden := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if got != string(want) {
		t.Fatalf("output differs from %s (-update refreshes):\n--- got\n%s\n--- want\n%s", golden, got, want)
	}
}

// TestAdminGolden runs a session of admin commands in order against one
// store; each step's output is a golden file.
func TestAdminGolden(t *testing.T) {
	sock, dir, _ := liveStore(t)
	steps := []struct {
		name string
		args []string
		code int
	}{
		{name: "depart_add", args: []string{"depart", "add", "Engineering", "-priority", "1"}},
		{name: "depart_add_child", args: []string{"-parent", "Engineering", "depart", "add", "Backend", "-priority", "2"}},
		{name: "depart_add_unknown_parent", args: []string{"depart", "add", "Ops", "-parent", "Nowhere"}, code: 1},
		{name: "depart_list", args: []string{"depart", "list"}},
		{name: "user_add", args: []string{"user", "add", "alice", "-password", "123456", "-depart", "Engineering", "-nick", "Alice", "-sex", "female", "-email", "alice@example.com"}},
		{name: "user_add_flags_first", args: []string{"-password", "pw", "-depart", "2", "user", "add", "bob"}},
		{name: "user_add_exists", args: []string{"user", "add", "alice", "-password", "x"}, code: 1},
		{name: "user_add_no_password", args: []string{"user", "add", "carol"}, code: 1},
		{name: "user_add_unknown_depart", args: []string{"user", "add", "carol", "-password", "x", "-depart", "Sales"}, code: 1},
		{name: "user_add_bad_sex", args: []string{"user", "add", "carol", "-password", "x", "-sex", "often"}, code: 1},
		{name: "user_set", args: []string{"user", "set", "bob", "-nick", "Bobby", "-status", "left"}},
		{name: "user_set_nothing", args: []string{"user", "set", "bob"}, code: 1},
		{name: "user_set_unknown", args: []string{"user", "set", "zed", "-nick", "Z"}, code: 1},
		{name: "user_passwd", args: []string{"user", "passwd", "alice", "-password", "s3cret"}},
		{name: "user_passwd_unknown", args: []string{"user", "passwd", "zed", "-password", "x"}, code: 1},
		{name: "user_list", args: []string{"user", "list"}},
		{name: "user_no_subcommand", args: []string{"user"}, code: 2},
		{name: "user_unknown_subcommand", args: []string{"user", "frob"}, code: 2},
		{name: "user_add_missing_name", args: []string{"user", "add", "-password", "x"}, code: 2},
	}
	for _, tc := range steps {
		t.Run(tc.name, func(t *testing.T) {
			args := append(tc.args, "-socket", sock)
			code, out, errs := ttctl(t, args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stdout %s; stderr: %s", code, tc.code, out, errs)
			}
			got := normalize("$ ttctl "+strings.Join(tc.args, " ")+"\n"+out+errs, dir)
			if strings.Contains(got, "s3cret") && tc.name != "user_passwd" {
				t.Fatalf("a password shows in the output:\n%s", got)
			}
			checkGolden(t, "admin_"+tc.name, got)
		})
	}
}

func TestAdminPasswordLogsIn(t *testing.T) {
	sock, _, st := liveStore(t)
	ctx := context.Background()
	if code, _, errs := ttctl(t, "user", "add", "alice", "-password", "123456", "-socket", sock); code != 0 {
		t.Fatalf("add: %s", errs)
	}
	// A TeamTalk client sends md5hex(what the user typed).
	if _, err := st.CheckLogin(ctx, "alice", state.MD5Hex("123456")); err != nil {
		t.Fatalf("login with the added password: %v", err)
	}
	if code, out, errs := ttctl(t, "user", "passwd", "-password", "new pass", "alice", "-socket", sock); code != 0 {
		t.Fatalf("passwd: %s%s", out, errs)
	}
	tests := []struct {
		name, typed string
		ok          bool
	}{
		{name: "new password", typed: "new pass", ok: true},
		{name: "old password", typed: "123456", ok: false},
		{name: "plain text sent", typed: "", ok: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sent := state.MD5Hex(tc.typed)
			if tc.typed == "" {
				sent = "new pass" // a client that forgot to hash
			}
			_, err := st.CheckLogin(ctx, "alice", sent)
			if tc.ok && err != nil {
				t.Fatalf("CheckLogin: %v", err)
			}
			if !tc.ok && !errors.Is(err, state.ErrBadCredentials) {
				t.Fatalf("CheckLogin = %v, want ErrBadCredentials", err)
			}
		})
	}
	// A user set to "left" no longer logs in.
	if code, _, errs := ttctl(t, "user", "set", "alice", "-status", "left", "-socket", sock); code != 0 {
		t.Fatalf("set: %s", errs)
	}
	if _, err := st.CheckLogin(ctx, "alice", state.MD5Hex("new pass")); !errors.Is(err, state.ErrBadCredentials) {
		t.Fatalf("login of a user who left = %v", err)
	}
}

// TestAdminUserLogsInFromClient: a user added with ttctl logs in through the
// real login, msg and dbproxy services with the Go client typing the same
// plain password.
func TestAdminUserLogsInFromClient(t *testing.T) {
	dir := t.TempDir()
	st := openBolt(t, dir)
	sock, _ := liveWith(t, dir, st, builtin.Table(), func(c *config.Config) {
		c.Services = []string{config.DBProxy, config.Route, config.Login, config.Msg}
	})
	if code, _, errs := ttctl(t, "user", "add", "alice", "-password", "123456", "-socket", sock); code != 0 {
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
	tests := []struct {
		name, typed string
		ok          bool
	}{
		{name: "the password given to ttctl", typed: "123456", ok: true},
		{name: "a wrong password", typed: "1234567", ok: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := client.Dial(ctx, info.Addr(), client.Options{DropEvents: true})
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.Close()
			res, err := c.Login(ctx, "alice", tc.typed)
			if tc.ok && (err != nil || res == nil) {
				t.Fatalf("login: %v", err)
			}
			if !tc.ok && err == nil {
				t.Fatal("login with a wrong password succeeded")
			}
		})
	}
}

func TestAdminImport(t *testing.T) {
	sock, dir, st := liveStore(t)
	ctx := context.Background()
	if code, _, errs := ttctl(t, "depart", "add", "Sales", "-socket", sock); code != 0 {
		t.Fatal(errs)
	}

	// 2,000 names, one per line, with a comment and blank lines; flags before FILE.
	var b strings.Builder
	b.WriteString("# staff\n\n")
	for i := range 2000 {
		fmt.Fprintf(&b, "user%04d\n", i)
	}
	names := filepath.Join(dir, "names.txt")
	os.WriteFile(names, []byte(b.String()), 0o600)
	code, out, errs := ttctl(t, "user", "import", "-password", "welcome", names, "-socket", sock)
	if code != 0 {
		t.Fatalf("import: %s", errs)
	}
	if out != "imported 2000 users (ids 1-2000)\n" {
		t.Fatalf("import said %q", out)
	}
	us, err := st.ListUsers(ctx)
	if err != nil || len(us) != 2000 {
		t.Fatalf("store holds %d users (%v)", len(us), err)
	}
	if _, err := st.CheckLogin(ctx, "user1999", state.MD5Hex("welcome")); err != nil {
		t.Fatalf("imported user logs in: %v", err)
	}

	// CSV with a header, per-row passwords, nicks and departments.
	csvFile := filepath.Join(dir, "staff.csv")
	os.WriteFile(csvFile, []byte("name,password,nick,depart\nerin,pw1,Erin,Sales\nfrank,,Frank,1\n\"grace\", pw3 ,Grace Hopper,\n"), 0o600)
	if code, out, errs := ttctl(t, "-socket", sock, "user", "import", csvFile, "-password", "default"); code != 0 || out != "imported 3 users (ids 2001-2003)\n" {
		t.Fatalf("csv import: %d %q %s", code, out, errs)
	}
	for _, c := range []struct{ name, pw, nick string }{{"erin", "pw1", "Erin"}, {"frank", "default", "Frank"}, {"grace", "pw3", "Grace Hopper"}} {
		u, err := st.CheckLogin(ctx, c.name, state.MD5Hex(c.pw))
		if err != nil || u.Nick != c.nick {
			t.Fatalf("%s: %+v %v", c.name, u, err)
		}
	}

	// Every bad row aborts the whole import and names its line.
	bad := []struct {
		name, body, want string
		args             []string
	}{
		{name: "duplicate in file", body: "new1\nnew2\nnew1\n", want: `line 3: user "new1" repeats line 1; nothing was imported`},
		{name: "existing user", body: "new1\nuser0042\n", want: `line 2: user "user0042" already exists; nothing was imported`},
		{name: "name too long", body: "new1\n" + strings.Repeat("x", 40) + "\n", want: "line 2: state: invalid argument: name longer than 32"},
		{name: "unknown depart", body: "new1,pw,N,Sales\nnew2,pw,N,Marketing\n", want: `line 2: no department named "Marketing"`},
		{name: "no password", body: "new1,pw\nnew2\n", args: []string{}, want: `line 2: user "new2" has no password: give -password PLAIN`},
		{name: "too many fields", body: "new1,pw,N,Sales,extra\n", want: "line 1: 5 fields"},
		{name: "empty file", body: "# nobody\n", want: "no users in the file"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "bad.txt")
			os.WriteFile(f, []byte(tc.body), 0o600)
			args := []string{"user", "import", f, "-socket", sock}
			if tc.args == nil {
				args = append(args, "-password", "pw")
			}
			code, out, errs := ttctl(t, args...)
			if code != 1 || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out, errs, tc.want)
			}
			if us, _ := st.ListUsers(ctx); len(us) != 2003 {
				t.Fatalf("store holds %d users after a refused import, want 2003", len(us))
			}
		})
	}

	// A bad row deep in a big import still aborts all.
	b.Reset()
	for i := range 3000 {
		name := fmt.Sprintf("big%04d", i)
		if i == 2499 {
			name = "user0001" // exists
		}
		fmt.Fprintf(&b, "%s\n", name)
	}
	big := filepath.Join(dir, "big.txt")
	os.WriteFile(big, []byte(b.String()), 0o600)
	if code, _, errs := ttctl(t, "user", "import", big, "-password", "pw", "-socket", sock); code != 1 || !strings.Contains(errs, "line 2500:") {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if _, err := st.UserByName(ctx, "big0000"); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("big0000 after the aborted import: %v", err)
	}
}

func TestAdminJSON(t *testing.T) {
	sock, _, _ := liveStore(t)
	ttctl(t, "depart", "add", "Eng", "-socket", sock)
	ttctl(t, "user", "add", "alice", "-password", "x", "-depart", "Eng", "-socket", sock)
	code, out, errs := ttctl(t, "user", "list", "-json", "-socket", sock)
	if code != 0 {
		t.Fatal(errs)
	}
	var us []ctlapi.User
	if err := json.Unmarshal([]byte(out), &us); err != nil || len(us) != 1 || us[0].Name != "alice" || us[0].Depart != "Eng" || us[0].Nick != "alice" {
		t.Fatalf("%v %+v\n%s", err, us, out)
	}
	if strings.Contains(out, "password") || strings.Contains(out, "salt") {
		t.Fatalf("user list shows password fields:\n%s", out)
	}
}

// TestAdminNoStore: a teamtalkd without the IM store says where to go.
func TestAdminNoStore(t *testing.T) {
	tests := []struct {
		name     string
		services []string
		want     string
	}{
		{name: "dbproxy elsewhere", services: []string{"route", "msg"}, want: "dbproxy runs on another host; run this command with ttctl on the host that runs dbproxy"},
		{name: "no store opened", services: []string{"all"}, want: "runs dbproxy but opened no IM store"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sock, _ := liveWith(t, t.TempDir(), nil, nil, func(c *config.Config) { c.Services = tc.services })
			for _, args := range [][]string{{"user", "list"}, {"user", "add", "a", "-password", "x"}, {"depart", "list"},
				{"group", "list"}, {"group", "show", "g"}, {"group", "add", "g", "-members", "a"}, {"group", "members", "g", "-add", "a"}} {
				code, _, errs := ttctl(t, append(args, "-socket", sock)...)
				if code != 1 || !strings.Contains(errs, tc.want) {
					t.Fatalf("%v: exit %d: %s", args, code, errs)
				}
			}
		})
	}
}

func TestParseImport(t *testing.T) {
	tests := []struct {
		name, in string
		want     []ctlapi.ImportRow
		err      string
	}{
		{name: "names", in: "a\n\n  b  \n# c\n", want: []ctlapi.ImportRow{{Line: 1, Name: "a"}, {Line: 3, Name: "b"}}},
		{name: "csv header", in: "Name,Password\na,p\n", want: []ctlapi.ImportRow{{Line: 2, Name: "a", Password: "p"}}},
		{name: "csv short rows", in: "a\nb,p,B,3\n", want: []ctlapi.ImportRow{{Line: 1, Name: "a"}, {Line: 2, Name: "b", Password: "p", Nick: "B", Depart: "3"}}},
		{name: "csv quoted comma", in: "a,p,\"Doe, J\"\n", want: []ctlapi.ImportRow{{Line: 1, Name: "a", Password: "p", Nick: "Doe, J"}}},
		{name: "csv empty name", in: "a,p\n,p\n", err: "line 2: empty name"},
		{name: "csv bad quote", in: "a,\"p\n", err: "line 1"},
		{name: "empty", in: "\n", err: "no users"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := parseImport(strings.NewReader(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || fmt.Sprint(rows) != fmt.Sprint(tc.want) {
				t.Fatalf("= %+v, %v; want %+v", rows, err, tc.want)
			}
		})
	}
}

func TestCommandWords(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // the command found, "" for none
	}{
		{name: "one word", args: []string{"status"}, want: "status"},
		{name: "two words", args: []string{"user", "add", "bob"}, want: "user add"},
		{name: "value flag first", args: []string{"-password", "list", "user", "add", "bob"}, want: "user add"},
		{name: "socket between", args: []string{"user", "-socket", "s", "import", "f"}, want: "user import"},
		{name: "flag=value", args: []string{"-depart=3", "user", "add", "x"}, want: "user add"},
		{name: "bool flag", args: []string{"-json", "depart", "list"}, want: "depart list"},
		{name: "group alone", args: []string{"user"}, want: ""},
		{name: "unknown", args: []string{"user", "frob"}, want: ""},
		{name: "after double dash", args: []string{"--", "depart", "list"}, want: "depart list"},
		{name: "group flags first", args: []string{"-type", "temp", "-members", "a,b", "group", "add", "g"}, want: "group add"},
		{name: "group members", args: []string{"group", "members", "-add", "list", "g"}, want: "group members"},
	}
	cmds := commands()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if c := lookup(cmds, words(cmds, tc.args)); c != nil {
				got = c.name
			}
			if got != tc.want {
				t.Fatalf("= %q, want %q", got, tc.want)
			}
		})
	}
}

// BenchmarkUserImport2000 imports 2,000 users per op through ttctl, the
// control API and a durable (fsync) bolt store.
func BenchmarkUserImport2000(b *testing.B) {
	dir := b.TempDir()
	st, err := boltstore.Open(filepath.Join(dir, "im.db"), boltstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	sock, _ := liveWith(b, dir, st, nil, nil)
	for i := 0; b.Loop(); i++ {
		var sb strings.Builder
		for j := range 2000 {
			fmt.Fprintf(&sb, "b%d_%d\n", i, j)
		}
		f := filepath.Join(dir, "names.txt")
		os.WriteFile(f, []byte(sb.String()), 0o600)
		var out, errb bytes.Buffer
		if code := run(context.Background(), []string{"user", "import", f, "-password", "pw", "-socket", sock}, &out, &errb); code != 0 {
			b.Fatal(errb.String())
		}
	}
	b.ReportMetric(float64(b.N*2000)/b.Elapsed().Seconds(), "users/s")
}
