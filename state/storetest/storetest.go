// Package storetest is the conformance suite of state.Store: one table of
// named behaviours that every backend (boltstore, the MySQL store) must pass.
//
// A backend's test calls Run with an open function. open(t) must return a
// Store for the (sub)test t; calling it again with the same t after the
// previous Store was closed must return a Store over the same data (the
// "close and reopen" behaviour relies on it), and different subtests must
// get independent, empty stores. Run closes every Store it opens.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"teamtalk/state"
)

// Behaviour is one named property of a Store.
type Behaviour struct {
	Name string
	Run  func(t *testing.T, e *Env)
}

// Env is what a behaviour works with.
type Env struct {
	// S is the store under test.
	S    state.Store
	t    *testing.T
	open func(t *testing.T) state.Store
}

// Reopen closes the store and opens it again over the same data.
func (e *Env) Reopen() {
	e.t.Helper()
	if err := e.S.Close(); err != nil {
		e.t.Fatalf("close: %v", err)
	}
	e.S = e.open(e.t)
}

// Behaviours returns the suite's table.
func Behaviours() []Behaviour {
	return []Behaviour{
		{"users and passwords", usersAndPasswords},
		{"user updates and directory sync", userDirectory},
		{"departments", departments},
		{"bulk import is atomic", bulkImport},
		{"message ids per session start at 1 and grow", messageIDs},
		{"concurrent saves never reuse an id", concurrentSaves},
		{"unread counts and read acks", unreadAndReadAck},
		{"recent sessions ordering and removal", recentSessions},
		{"history paging newest first", historyPaging},
		{"messages by id and latest id", byIDAndLatest},
		{"groups members versions unread join time", groups},
		{"list groups with members", listGroups},
		{"device tokens move between users", deviceTokens},
		{"push shield", pushShield},
		{"offline files", offlineFiles},
		{"audio", audio},
		{"close and reopen keeps everything", reopen},
		{"closed store refuses calls", closedStore},
	}
}

// Run runs every behaviour as a subtest on stores from open.
func Run(t *testing.T, open func(t *testing.T) state.Store) {
	for _, b := range Behaviours() {
		t.Run(b.Name, func(t *testing.T) {
			e := &Env{S: open(t), t: t, open: open}
			t.Cleanup(func() {
				if err := e.S.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			b.Run(t, e)
		})
	}
}

// --- helpers ---

func ctx(t *testing.T) context.Context { return t.Context() }

// res carries a call's result to ok, which fails the test on an error.
type res[T any] struct {
	v   T
	err error
}

func r[T any](v T, err error) res[T] { return res[T]{v, err} }

func (x res[T]) ok(t *testing.T) T {
	t.Helper()
	if x.err != nil {
		t.Fatal(x.err)
	}
	return x.v
}

type res2[A, B any] struct {
	a   A
	b   B
	err error
}

func r2[A, B any](a A, b B, err error) res2[A, B] { return res2[A, B]{a, b, err} }

func (x res2[A, B]) ok(t *testing.T) (A, B) {
	t.Helper()
	if x.err != nil {
		t.Fatal(x.err)
	}
	return x.a, x.b
}

func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}

func addUser(t *testing.T, s state.Store, name string) state.User {
	t.Helper()
	return r(s.CreateUser(ctx(t), state.NewUser{Name: name, Password: "pw-" + name, Nick: "nick " + name})).ok(t)
}

func send(t *testing.T, s state.Store, from, to uint32, typ state.MsgType, text string, created uint32) state.Message {
	t.Helper()
	m, err := s.SaveMessage(ctx(t), state.NewMessage{From: from, To: to, Type: typ, Content: []byte(text), Created: created})
	if err != nil {
		t.Fatalf("save %d→%d %q: %v", from, to, text, err)
	}
	return m
}

func ids(ms []state.Message) []uint32 {
	out := make([]uint32, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

func userIDs(us []state.User) []uint32 {
	out := make([]uint32, len(us))
	for i, u := range us {
		out[i] = u.ID
	}
	return out
}

func now() uint32 { return uint32(time.Now().Unix()) }

// --- behaviours ---

func usersAndPasswords(t *testing.T, e *Env) {
	s := e.S
	a := addUser(t, s, "alice")
	if a.ID == 0 || a.Name != "alice" || a.Nick != "nick alice" || a.Created == 0 || a.Updated < a.Created {
		t.Fatalf("created user = %+v", a)
	}
	if a.Password != state.HashPassword("pw-alice", a.Salt) || a.Salt == "" || len(a.Salt) > 4 {
		t.Fatalf("stored password %q salt %q do not follow md5hex(md5hex(plain)+salt)", a.Password, a.Salt)
	}
	b := addUser(t, s, "bob")
	if b.ID == a.ID {
		t.Fatal("two users share an id")
	}
	_, err := s.CreateUser(ctx(t), state.NewUser{Name: "alice", Password: "x"})
	wantErr(t, err, state.ErrExists, "duplicate name")
	_, err = s.CreateUser(ctx(t), state.NewUser{Name: "", Password: "x"})
	wantErr(t, err, state.ErrInvalid, "empty name")
	_, err = s.CreateUser(ctx(t), state.NewUser{Name: "carol", Password: ""})
	wantErr(t, err, state.ErrInvalid, "empty password")

	logins := []struct {
		name, user, pass string
		ok               bool
	}{
		{"right password", "alice", state.MD5Hex("pw-alice"), true},
		{"wrong password", "alice", state.MD5Hex("pw-bob"), false},
		{"plain instead of md5", "alice", "pw-alice", false},
		{"unknown user", "mallory", state.MD5Hex("pw-alice"), false},
		{"empty password", "alice", "", false},
	}
	for _, l := range logins {
		u, err := s.CheckLogin(ctx(t), l.user, l.pass)
		if l.ok && (err != nil || u.ID != a.ID) {
			t.Fatalf("%s: CheckLogin = %+v, %v", l.name, u, err)
		}
		if !l.ok {
			wantErr(t, err, state.ErrBadCredentials, l.name)
		}
	}
	if err := s.SetPassword(ctx(t), a.ID, "new secret"); err != nil {
		t.Fatal(err)
	}
	_, err = s.CheckLogin(ctx(t), "alice", state.MD5Hex("pw-alice"))
	wantErr(t, err, state.ErrBadCredentials, "old password after SetPassword")
	r(s.CheckLogin(ctx(t), "alice", state.MD5Hex("new secret"))).ok(t)
	wantErr(t, s.SetPassword(ctx(t), 9999, "x"), state.ErrNotFound, "SetPassword of unknown user")

	left := uint32(state.UserStatusLeft)
	r(s.UpdateUser(ctx(t), b.ID, state.UserUpdate{Status: &left})).ok(t)
	_, err = s.CheckLogin(ctx(t), "bob", state.MD5Hex("pw-bob"))
	wantErr(t, err, state.ErrBadCredentials, "login of a status-3 user")

	got := r(s.UserByName(ctx(t), "bob")).ok(t)
	if got.ID != b.ID || got.Status != left {
		t.Fatalf("UserByName(bob) = %+v", got)
	}
	_, err = s.UserByName(ctx(t), "nobody")
	wantErr(t, err, state.ErrNotFound, "UserByName(nobody)")
	if us := r(s.Users(ctx(t), []uint32{b.ID, 12345, a.ID})).ok(t); !slices.Equal(userIDs(us), []uint32{b.ID, a.ID}) {
		t.Fatalf("Users = %v, want [%d %d]", userIDs(us), b.ID, a.ID)
	}
	if us := r(s.ListUsers(ctx(t))).ok(t); !slices.Equal(userIDs(us), []uint32{a.ID, b.ID}) {
		t.Fatalf("ListUsers = %v", userIDs(us))
	}
}

func userDirectory(t *testing.T, e *Env) {
	s := e.S
	a, b, c := addUser(t, e.S, "a"), addUser(t, e.S, "b"), addUser(t, e.S, "c")
	all, latest := r2(s.UsersChangedSince(ctx(t), 0)).ok(t)
	if !slices.Equal(userIDs(all), []uint32{a.ID, b.ID, c.ID}) || latest < c.Updated {
		t.Fatalf("full sync = %v latest %d", userIDs(all), latest)
	}
	if w := r(s.UserWatermark(ctx(t))).ok(t); w != latest {
		t.Fatalf("watermark %d, full sync latest %d", w, latest)
	}
	nick, sign, dep, sex := "Bee", "hello world", uint32(7), uint8(2)
	u := r(s.UpdateUser(ctx(t), b.ID, state.UserUpdate{Nick: &nick, SignInfo: &sign, DepartID: &dep, Sex: &sex})).ok(t)
	if u.Nick != nick || u.SignInfo != sign || u.DepartID != dep || u.Sex != sex || u.Name != "b" || u.Updated < latest {
		t.Fatalf("updated user = %+v", u)
	}
	if got := r(s.Users(ctx(t), []uint32{b.ID})).ok(t); got[0] != u {
		t.Fatalf("stored %+v, UpdateUser returned %+v", got[0], u)
	}
	inc, latest2 := r2(s.UsersChangedSince(ctx(t), latest)).ok(t)
	if !slices.Contains(userIDs(inc), b.ID) || latest2 < u.Updated {
		t.Fatalf("incremental sync since %d = %v (latest %d) misses the update", latest, userIDs(inc), latest2)
	}
	left := uint32(state.UserStatusLeft)
	cu := r(s.UpdateUser(ctx(t), c.ID, state.UserUpdate{Status: &left})).ok(t)
	full, _ := r2(s.UsersChangedSince(ctx(t), 0)).ok(t)
	if slices.Contains(userIDs(full), c.ID) {
		t.Fatal("full sync lists a status-3 user")
	}
	inc, _ = r2(s.UsersChangedSince(ctx(t), cu.Updated)).ok(t)
	if !slices.Contains(userIDs(inc), c.ID) {
		t.Fatal("incremental sync hides a status-3 user")
	}
	none, l := r2(s.UsersChangedSince(ctx(t), cu.Updated+1000)).ok(t)
	if len(none) != 0 || l != cu.Updated+1000 {
		t.Fatalf("sync from the future = %v, latest %d", userIDs(none), l)
	}
	long := string(make([]byte, 200))
	_, err := s.UpdateUser(ctx(t), a.ID, state.UserUpdate{SignInfo: &long})
	wantErr(t, err, state.ErrInvalid, "sign_info of 200 characters")
	_, err = s.UpdateUser(ctx(t), 4242, state.UserUpdate{Nick: &nick})
	wantErr(t, err, state.ErrNotFound, "UpdateUser of unknown user")
}

func departments(t *testing.T, e *Env) {
	s := e.S
	root := r(s.CreateDepart(ctx(t), state.NewDepart{Name: "HQ", Priority: 1})).ok(t)
	sub := r(s.CreateDepart(ctx(t), state.NewDepart{Name: "R&D", Priority: 2, ParentID: root.ID})).ok(t)
	if root.ID == 0 || sub.ID == root.ID || sub.ParentID != root.ID || sub.Created == 0 {
		t.Fatalf("departs %+v %+v", root, sub)
	}
	ds, latest := r2(s.DepartsChangedSince(ctx(t), 0)).ok(t)
	if len(ds) != 2 || ds[0] != root || ds[1] != sub || latest < sub.Updated {
		t.Fatalf("DepartsChangedSince(0) = %+v latest %d", ds, latest)
	}
	ds, l := r2(s.DepartsChangedSince(ctx(t), latest+10)).ok(t)
	if len(ds) != 0 || l != latest+10 {
		t.Fatalf("DepartsChangedSince(future) = %+v, %d", ds, l)
	}
	_, err := s.CreateDepart(ctx(t), state.NewDepart{Name: ""})
	wantErr(t, err, state.ErrInvalid, "empty depart name")
}

func bulkImport(t *testing.T, e *Env) {
	s := e.S
	rows := make([]state.NewUser, 2000)
	for i := range rows {
		rows[i] = state.NewUser{Name: fmt.Sprintf("u%04d", i), Password: "p", DepartID: 1}
	}
	us := r(s.ImportUsers(ctx(t), rows)).ok(t)
	if len(us) != len(rows) || us[0].Name != "u0000" || us[1999].Name != "u1999" {
		t.Fatalf("import returned %d users", len(us))
	}
	seen := map[uint32]bool{}
	for _, u := range us {
		if u.ID == 0 || seen[u.ID] {
			t.Fatalf("import gave id %d twice or zero", u.ID)
		}
		seen[u.ID] = true
	}
	r(s.CheckLogin(ctx(t), "u1234", state.MD5Hex("p"))).ok(t)

	bad := []struct {
		name   string
		rows   []state.NewUser
		target error
	}{
		{"last row duplicates an existing user", []state.NewUser{{Name: "x1", Password: "p"}, {Name: "x2", Password: "p"}, {Name: "u0007", Password: "p"}}, state.ErrExists},
		{"duplicate inside the batch", []state.NewUser{{Name: "x1", Password: "p"}, {Name: "x2", Password: "p"}, {Name: "x1", Password: "p"}}, state.ErrExists},
		{"invalid row", []state.NewUser{{Name: "x1", Password: "p"}, {Name: "x2", Password: ""}}, state.ErrInvalid},
		{"name too long", []state.NewUser{{Name: "x1", Password: "p"}, {Name: string(make([]byte, 40)), Password: "p"}}, state.ErrInvalid},
	}
	for _, b := range bad {
		_, err := s.ImportUsers(ctx(t), b.rows)
		wantErr(t, err, b.target, b.name)
		_, err = s.UserByName(ctx(t), "x1")
		wantErr(t, err, state.ErrNotFound, b.name+": first row must not be stored")
	}
	if all := r(s.ListUsers(ctx(t))).ok(t); len(all) != 2000 {
		t.Fatalf("%d users after failed imports, want 2000", len(all))
	}
}

func messageIDs(t *testing.T, e *Env) {
	s := e.S
	a, b, c := addUser(t, s, "a").ID, addUser(t, s, "b").ID, addUser(t, s, "c").ID
	steps := []struct {
		from, to uint32
		want     uint32
	}{
		{a, b, 1}, {b, a, 2}, {a, b, 3}, {a, c, 1}, {c, a, 2}, {b, c, 1}, {a, b, 4},
	}
	for i, st := range steps {
		m := send(t, s, st.from, st.to, state.MsgSingleText, fmt.Sprintf("m%d", i), 0)
		if m.ID != st.want || m.From != st.from || m.To != st.to || m.Created == 0 {
			t.Fatalf("step %d: %d→%d got %+v, want id %d", i, st.from, st.to, m, st.want)
		}
	}
	invalid := []struct {
		name string
		m    state.NewMessage
	}{
		{"to oneself", state.NewMessage{From: a, To: a, Type: state.MsgSingleText, Content: []byte("x")}},
		{"empty", state.NewMessage{From: a, To: b, Type: state.MsgSingleText}},
		{"unknown type", state.NewMessage{From: a, To: b, Type: 0x05, Content: []byte("x")}},
		{"from 0", state.NewMessage{From: 0, To: b, Type: state.MsgSingleText, Content: []byte("x")}},
	}
	for _, in := range invalid {
		_, err := s.SaveMessage(ctx(t), in.m)
		wantErr(t, err, state.ErrInvalid, in.name)
	}
	if id := r(s.LatestMsgID(ctx(t), a, state.SessionSingle, b)).ok(t); id != 4 {
		t.Fatalf("latest id a/b = %d after a refused message, want 4", id)
	}
}

func concurrentSaves(t *testing.T, e *Env) {
	s := e.S
	users := []uint32{addUser(t, s, "a").ID, addUser(t, s, "b").ID, addUser(t, s, "c").ID}
	g := r(s.CreateGroup(ctx(t), state.NewGroup{Name: "g", Type: state.GroupTemp, Creator: users[0], Members: users})).ok(t)
	const workers, each = 24, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				from := users[(w+i)%3]
				to, typ := users[(w+i+1)%3], state.MsgSingleText
				if i%4 == 0 {
					to, typ = g.ID, state.MsgGroupText
				}
				_, err := s.SaveMessage(context.Background(), state.NewMessage{From: from, To: to, Type: typ, Content: fmt.Appendf(nil, "w%d i%d", w, i)})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := 0
	check := func(ms []state.Message, what string) {
		t.Helper()
		for i, m := range ms {
			if want := uint32(len(ms) - i); m.ID != want {
				t.Fatalf("%s: ids %v are not n..1 without gaps or repeats", what, ids(ms))
			}
		}
		total += len(ms)
	}
	for i := range users {
		a, b := users[i], users[(i+1)%3]
		check(r(s.Messages(ctx(t), a, state.HistoryQuery{Type: state.SessionSingle, SessionID: b, Count: 10000})).ok(t), "pair")
	}
	check(r(s.Messages(ctx(t), users[0], state.HistoryQuery{Type: state.SessionGroup, SessionID: g.ID, Count: 10000})).ok(t), "group")
	if total != workers*each {
		t.Fatalf("read back %d messages, saved %d", total, workers*each)
	}
}

func unreadAndReadAck(t *testing.T, e *Env) {
	s := e.S
	a, b := addUser(t, s, "a").ID, addUser(t, s, "b").ID
	for i := range 3 {
		send(t, s, a, b, state.MsgSingleText, fmt.Sprintf("hi %d", i), 0)
	}
	un := r(s.Unread(ctx(t), b)).ok(t)
	if len(un) != 1 || un[0].Type != state.SessionSingle || un[0].SessionID != a || un[0].Count != 3 ||
		un[0].Latest.ID != 3 || un[0].Latest.From != a || string(un[0].Latest.Content) != "hi 2" {
		t.Fatalf("unread of b = %+v", un)
	}
	if n := r(s.UnreadTotal(ctx(t), b)).ok(t); n != 3 {
		t.Fatalf("unread total %d", n)
	}
	if un := r(s.Unread(ctx(t), a)).ok(t); len(un) != 0 {
		t.Fatalf("sender has unread %+v", un)
	}
	steps := []struct {
		name  string
		msgID uint32
		want  uint32
	}{
		{"ack up to 2 leaves 1", 2, 1},
		{"an older ack never raises it", 1, 1},
		{"ack 0 clears", 0, 0},
	}
	for _, st := range steps {
		if err := s.MarkRead(ctx(t), b, state.SessionSingle, a, st.msgID); err != nil {
			t.Fatal(err)
		}
		if n := r(s.UnreadTotal(ctx(t), b)).ok(t); n != st.want {
			t.Fatalf("%s: unread %d, want %d", st.name, n, st.want)
		}
	}
	// A reply makes the reply unread for a, with b as the sender.
	send(t, s, b, a, state.MsgSingleText, "reply", 0)
	un = r(s.Unread(ctx(t), a)).ok(t)
	if len(un) != 1 || un[0].SessionID != b || un[0].Count != 1 || un[0].Latest.From != b || un[0].Latest.ID != 4 {
		t.Fatalf("unread of a = %+v", un)
	}
	if err := s.MarkRead(ctx(t), a, state.SessionSingle, b, 4); err != nil {
		t.Fatal(err)
	}
	if un := r(s.Unread(ctx(t), a)).ok(t); len(un) != 0 {
		t.Fatalf("ack of the newest id left %+v", un)
	}
}

func recentSessions(t *testing.T, e *Env) {
	s := e.S
	a, b, c, d := addUser(t, s, "a").ID, addUser(t, s, "b").ID, addUser(t, s, "c").ID, addUser(t, s, "d").ID
	t0 := now() - 1000
	send(t, s, a, b, state.MsgSingleText, "to b", t0+1)
	send(t, s, a, c, state.MsgSingleText, "to c", t0+2)
	send(t, s, d, a, state.MsgSingleText, "from d", t0+3)
	peers := func(ss []state.Session) []uint32 {
		out := make([]uint32, len(ss))
		for i, x := range ss {
			out[i] = x.PeerID
		}
		return out
	}
	all := r(s.RecentSessions(ctx(t), a, 0, 100)).ok(t)
	if !slices.Equal(peers(all), []uint32{d, c, b}) {
		t.Fatalf("sessions of a = %v, want [d c b] = [%d %d %d]", peers(all), d, c, b)
	}
	if x := all[0]; x.Type != state.SessionSingle || x.Updated != t0+3 || x.Unread != 1 || x.Latest.From != d || string(x.Latest.Content) != "from d" || x.Status != 0 {
		t.Fatalf("newest session = %+v", x)
	}
	if got := peers(r(s.RecentSessions(ctx(t), a, t0+1, 100)).ok(t)); !slices.Equal(got, []uint32{d, c}) {
		t.Fatalf("sessions since t0+1 = %v", got)
	}
	if got := peers(r(s.RecentSessions(ctx(t), a, 0, 2)).ok(t)); !slices.Equal(got, []uint32{d, c}) {
		t.Fatalf("sessions limit 2 = %v", got)
	}
	if err := s.RemoveSession(ctx(t), a, state.SessionSingle, d); err != nil {
		t.Fatal(err)
	}
	if got := peers(r(s.RecentSessions(ctx(t), a, 0, 100)).ok(t)); !slices.Equal(got, []uint32{c, b}) {
		t.Fatalf("sessions after removing d = %v", got)
	}
	if n := r(s.UnreadTotal(ctx(t), a)).ok(t); n != 0 {
		t.Fatalf("removing the session left %d unread", n)
	}
	wantErr(t, s.RemoveSession(ctx(t), a, state.SessionSingle, d), state.ErrNotFound, "removing twice")
	wantErr(t, s.RemoveSession(ctx(t), a, state.SessionSingle, 777), state.ErrNotFound, "removing an unknown session")
	// Other side unaffected; a new message brings the session back.
	if got := peers(r(s.RecentSessions(ctx(t), d, 0, 100)).ok(t)); !slices.Equal(got, []uint32{a}) {
		t.Fatalf("sessions of d = %v", got)
	}
	send(t, s, d, a, state.MsgSingleText, "again", 0)
	all = r(s.RecentSessions(ctx(t), a, 0, 100)).ok(t)
	if len(all) != 3 || all[0].PeerID != d || all[0].Unread != 1 || all[0].Latest.ID != 2 {
		t.Fatalf("sessions after a new message = %+v", all)
	}
}

func historyPaging(t *testing.T, e *Env) {
	s := e.S
	a, b, c := addUser(t, s, "a").ID, addUser(t, s, "b").ID, addUser(t, s, "c").ID
	base := now() - 100
	for i := 1; i <= 10; i++ {
		from, to := a, b
		if i%3 == 0 {
			from, to = b, a
		}
		send(t, s, from, to, state.MsgSingleText, fmt.Sprintf("m%d", i), base+uint32(i))
	}
	pages := []struct {
		name         string
		begin, count uint32
		want         []uint32
	}{
		{"newest page", 0, 4, []uint32{10, 9, 8, 7}},
		{"from 7", 7, 4, []uint32{7, 6, 5, 4}},
		{"last page short", 2, 10, []uint32{2, 1}},
		{"begin past the newest", 50, 3, []uint32{10, 9, 8}},
		{"count 0", 0, 0, []uint32{}},
	}
	for _, p := range pages {
		ms := r(s.Messages(ctx(t), b, state.HistoryQuery{Type: state.SessionSingle, SessionID: a, BeginID: p.begin, Count: p.count})).ok(t)
		if !slices.Equal(ids(ms), p.want) {
			t.Fatalf("%s: ids %v, want %v", p.name, ids(ms), p.want)
		}
	}
	ms := r(s.Messages(ctx(t), a, state.HistoryQuery{Type: state.SessionSingle, SessionID: b, BeginID: 3, Count: 1})).ok(t)
	if m := ms[0]; m.From != b || m.To != a || m.Type != state.MsgSingleText || string(m.Content) != "m3" || m.Created != base+3 {
		t.Fatalf("message 3 = %+v", m)
	}
	if ms := r(s.Messages(ctx(t), a, state.HistoryQuery{Type: state.SessionSingle, SessionID: c, Count: 10})).ok(t); len(ms) != 0 {
		t.Fatalf("history without messages = %v", ids(ms))
	}
}

func byIDAndLatest(t *testing.T, e *Env) {
	s := e.S
	a, b := addUser(t, s, "a").ID, addUser(t, s, "b").ID
	for i := range 5 {
		send(t, s, a, b, state.MsgSingleText, fmt.Sprintf("m%d", i+1), 0)
	}
	ms := r(s.MessagesByID(ctx(t), b, state.SessionSingle, a, []uint32{1, 3, 99, 3})).ok(t)
	if !slices.Equal(ids(ms), []uint32{3, 1}) || string(ms[0].Content) != "m3" || ms[0].From != a || ms[0].To != b {
		t.Fatalf("by id = %+v", ms)
	}
	many := make([]uint32, 300)
	for i := range many {
		many[i] = uint32(i + 1)
	}
	if ms := r(s.MessagesByID(ctx(t), a, state.SessionSingle, b, many)).ok(t); len(ms) != 5 {
		t.Fatalf("by id of 300 ids = %d messages", len(ms))
	}
	if id := r(s.LatestMsgID(ctx(t), b, state.SessionSingle, a)).ok(t); id != 5 {
		t.Fatalf("latest = %d", id)
	}
	if id := r(s.LatestMsgID(ctx(t), b, state.SessionSingle, 999)).ok(t); id != 0 {
		t.Fatalf("latest without messages = %d", id)
	}
}

func groups(t *testing.T, e *Env) {
	s := e.S
	a, b, c, d := addUser(t, s, "a").ID, addUser(t, s, "b").ID, addUser(t, s, "c").ID, addUser(t, s, "d").ID
	_, err := s.CreateGroup(ctx(t), state.NewGroup{Name: "", Type: state.GroupTemp, Members: []uint32{a}})
	wantErr(t, err, state.ErrInvalid, "group without name")
	_, err = s.CreateGroup(ctx(t), state.NewGroup{Name: "x", Type: state.GroupTemp})
	wantErr(t, err, state.ErrInvalid, "group without members")

	g := r(s.CreateGroup(ctx(t), state.NewGroup{Name: "team", Avatar: "av", Creator: a, Type: state.GroupTemp, Members: []uint32{c, b, a, b}})).ok(t)
	if g.ID == 0 || g.Version != 1 || g.Type != state.GroupTemp || g.Creator != a || g.Name != "team" || !slices.Equal(g.MemberIDs(), sorted(a, b, c)) {
		t.Fatalf("created group = %+v", g)
	}
	fixed := r(s.CreateGroup(ctx(t), state.NewGroup{Name: "fixed", Type: state.GroupNormal, Members: []uint32{b}})).ok(t)
	if fixed.ID == g.ID {
		t.Fatal("two groups share an id")
	}
	got := r(s.Group(ctx(t), g.ID)).ok(t)
	if got.Version != 1 || !slices.Equal(got.MemberIDs(), sorted(a, b, c)) || got.Members[0].Joined == 0 {
		t.Fatalf("Group = %+v", got)
	}
	_, err = s.Group(ctx(t), 9999)
	wantErr(t, err, state.ErrNotFound, "unknown group")
	bg := r(s.UserGroups(ctx(t), b)).ok(t)
	if len(bg) != 2 || bg[0].Members != nil {
		t.Fatalf("groups of b = %+v", bg)
	}

	// Messages before d joins, stamped with the group's creation second
	// (the members' join time).
	m1 := send(t, s, a, g.ID, state.MsgGroupText, "g1", g.Created)
	m2 := send(t, s, b, g.ID, state.MsgGroupText, "g2", g.Created)
	if m1.ID != 1 || m2.ID != 2 || m1.To != g.ID {
		t.Fatalf("group ids %d %d", m1.ID, m2.ID)
	}
	_, err = s.SaveMessage(ctx(t), state.NewMessage{From: d, To: g.ID, Type: state.MsgGroupText, Content: []byte("x")})
	wantErr(t, err, state.ErrNotMember, "message from a non-member")
	_, err = s.SaveMessage(ctx(t), state.NewMessage{From: a, To: 9999, Type: state.MsgGroupText, Content: []byte("x")})
	wantErr(t, err, state.ErrNotFound, "message to an unknown group")

	unreadOf := func(u uint32) uint32 {
		for _, x := range r(s.Unread(ctx(t), u)).ok(t) {
			if x.Type == state.SessionGroup && x.SessionID == g.ID {
				return x.Count
			}
		}
		return 0
	}
	if ua, ub, uc := unreadOf(a), unreadOf(b), unreadOf(c); ua != 1 || ub != 0 || uc != 2 {
		t.Fatalf("group unread a=%d b=%d c=%d, want 1 0 2", ua, ub, uc)
	}
	cs := r(s.RecentSessions(ctx(t), c, 0, 10)).ok(t)
	if len(cs) != 1 || cs[0].Type != state.SessionGroup || cs[0].PeerID != g.ID || cs[0].Latest.From != b || cs[0].Unread != 2 {
		t.Fatalf("sessions of a member who never wrote = %+v", cs)
	}
	if err := s.MarkRead(ctx(t), c, state.SessionGroup, g.ID, 1); err != nil {
		t.Fatal(err)
	}
	if n := unreadOf(c); n != 1 {
		t.Fatalf("group unread after ack of 1 = %d", n)
	}
	wantErr(t, s.MarkRead(ctx(t), d, state.SessionGroup, g.ID, 0), state.ErrNotMember, "read ack of a non-member")

	// d joins in a later second than the others, so the join-time filter
	// tells them apart.
	for now() <= g.Created {
		time.Sleep(20 * time.Millisecond)
	}
	g2, changed, err := s.ChangeMembers(ctx(t), g.ID, state.ModifyAdd, []uint32{d, a})
	if err != nil || g2.Version != 2 || !slices.Equal(changed, []uint32{d}) || !slices.Equal(g2.MemberIDs(), sorted(a, b, c, d)) {
		t.Fatalf("add d = %+v, %v, %v", g2, changed, err)
	}
	if _, changed, err := s.ChangeMembers(ctx(t), g.ID, state.ModifyAdd, []uint32{d}); err != nil || len(changed) != 0 {
		t.Fatalf("adding a member again changed %v (%v)", changed, err)
	}
	if v := r(s.Group(ctx(t), g.ID)).ok(t).Version; v != 2 {
		t.Fatalf("version %d after a no-op change", v)
	}
	if n := unreadOf(d); n != 0 {
		t.Fatalf("new member has %d unread from before joining", n)
	}
	m3 := send(t, s, a, g.ID, state.MsgGroupText, "g3", 0)
	if n := unreadOf(d); n != 1 {
		t.Fatalf("new member unread = %d, want 1", n)
	}
	hist := r(s.Messages(ctx(t), d, state.HistoryQuery{Type: state.SessionGroup, SessionID: g.ID, Count: 10})).ok(t)
	if !slices.Equal(ids(hist), []uint32{m3.ID}) {
		t.Fatalf("new member's history = %v, want only [%d]", ids(hist), m3.ID)
	}
	if ms := r(s.MessagesByID(ctx(t), d, state.SessionGroup, g.ID, []uint32{1, 2, 3})).ok(t); !slices.Equal(ids(ms), []uint32{3}) {
		t.Fatalf("new member's by-id = %v", ids(ms))
	}
	hist = r(s.Messages(ctx(t), b, state.HistoryQuery{Type: state.SessionGroup, SessionID: g.ID, Count: 10})).ok(t)
	if !slices.Equal(ids(hist), []uint32{3, 2, 1}) || hist[2].From != a || string(hist[2].Content) != "g1" {
		t.Fatalf("old member's history = %+v", hist)
	}

	g3, changed, err := s.ChangeMembers(ctx(t), g.ID, state.ModifyDel, []uint32{c, 4242})
	if err != nil || g3.Version != 3 || !slices.Equal(changed, []uint32{c}) || g3.IsMember(c) {
		t.Fatalf("remove c = %+v, %v, %v", g3, changed, err)
	}
	if ss := r(s.RecentSessions(ctx(t), c, 0, 10)).ok(t); len(ss) != 0 {
		t.Fatalf("removed member still sees %+v", ss)
	}
	_, err = s.Messages(ctx(t), c, state.HistoryQuery{Type: state.SessionGroup, SessionID: g.ID, Count: 10})
	wantErr(t, err, state.ErrNotMember, "history of a removed member")
	if id := r(s.LatestMsgID(ctx(t), c, state.SessionGroup, g.ID)).ok(t); id != 3 {
		t.Fatalf("group latest id = %d", id)
	}
	_, _, err = s.ChangeMembers(ctx(t), 9999, state.ModifyAdd, []uint32{a})
	wantErr(t, err, state.ErrNotFound, "change members of an unknown group")

	if err := s.SetGroupShield(ctx(t), g.ID, b, true); err != nil {
		t.Fatal(err)
	}
	for _, m := range r(s.Group(ctx(t), g.ID)).ok(t).Members {
		if m.Shield != (m.UserID == b) {
			t.Fatalf("shield of %d = %v", m.UserID, m.Shield)
		}
	}
	wantErr(t, s.SetGroupShield(ctx(t), g.ID, c, true), state.ErrNotMember, "shield of a removed member")
	wantErr(t, s.SetGroupShield(ctx(t), 9999, b, true), state.ErrNotFound, "shield of an unknown group")
}

// listGroups: every group, ascending by id, with its current members (join
// time, shield), type, version and newest message id; empty store, none.
func listGroups(t *testing.T, e *Env) {
	s := e.S
	if gs := r(s.ListGroups(ctx(t))).ok(t); len(gs) != 0 {
		t.Fatalf("empty store lists %+v", gs)
	}
	a, b, c := addUser(t, s, "a").ID, addUser(t, s, "b").ID, addUser(t, s, "c").ID
	g1 := r(s.CreateGroup(ctx(t), state.NewGroup{Name: "one", Avatar: "av1", Creator: a, Type: state.GroupNormal, Members: []uint32{c, a}})).ok(t)
	g2 := r(s.CreateGroup(ctx(t), state.NewGroup{Name: "two", Creator: b, Type: state.GroupTemp, Members: []uint32{b}})).ok(t)
	g3 := r(s.CreateGroup(ctx(t), state.NewGroup{Name: "one", Type: state.GroupNormal, Members: []uint32{a, b, c}})).ok(t)
	send(t, s, a, g1.ID, state.MsgGroupText, "hi", 0)
	send(t, s, c, g1.ID, state.MsgGroupText, "ho", 0)
	r2(s.ChangeMembers(ctx(t), g3.ID, state.ModifyDel, []uint32{b})).ok(t)
	if err := s.SetGroupShield(ctx(t), g3.ID, c, true); err != nil {
		t.Fatal(err)
	}
	gs := r(s.ListGroups(ctx(t))).ok(t)
	if len(gs) != 3 || gs[0].ID != g1.ID || gs[1].ID != g2.ID || gs[2].ID != g3.ID {
		t.Fatalf("ListGroups = %+v, want groups %d %d %d", gs, g1.ID, g2.ID, g3.ID)
	}
	tests := []struct {
		name    string
		got     state.Group
		members []uint32
		typ     state.GroupType
		version uint32
		latest  uint32
	}{
		{name: "two messages", got: gs[0], members: sorted(a, c), typ: state.GroupNormal, version: 1, latest: 2},
		{name: "temporary", got: gs[1], members: []uint32{b}, typ: state.GroupTemp, version: 1},
		{name: "member removed", got: gs[2], members: sorted(a, c), typ: state.GroupNormal, version: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.got
			if !slices.Equal(g.MemberIDs(), tc.members) || g.Type != tc.typ || g.Version != tc.version || g.LatestMsgID != tc.latest {
				t.Fatalf("group = %+v; want members %v type %d version %d latest %d", g, tc.members, tc.typ, tc.version, tc.latest)
			}
			one := r(s.Group(ctx(t), g.ID)).ok(t)
			if g.Name != one.Name || g.Avatar != one.Avatar || g.Creator != one.Creator || g.Created != one.Created || !slices.Equal(g.Members, one.Members) {
				t.Fatalf("listed %+v, Group says %+v", g, one)
			}
		})
	}
	if !gs[2].Members[1].Shield || gs[2].Members[0].Shield || gs[2].Members[0].Joined == 0 {
		t.Fatalf("members of %d = %+v", g3.ID, gs[2].Members)
	}
}

func sorted(ids ...uint32) []uint32 { slices.Sort(ids); return ids }

func deviceTokens(t *testing.T, e *Env) {
	s := e.S
	a, b := addUser(t, s, "a").ID, addUser(t, s, "b").ID
	tok := func() map[uint32]string {
		out := map[uint32]string{}
		for _, dt := range r(s.DeviceTokens(ctx(t), []uint32{a, b, 999})).ok(t) {
			out[dt.UserID] = fmt.Sprintf("%#x:%s", dt.ClientType, dt.Token)
		}
		return out
	}
	steps := []struct {
		name  string
		user  uint32
		ct    state.ClientType
		token string
		want  map[uint32]string
	}{
		{"a registers", a, state.ClientIOS, "tok1", map[uint32]string{a: "0x11:tok1"}},
		{"b takes the same token", b, state.ClientIOS, "tok1", map[uint32]string{b: "0x11:tok1"}},
		{"a registers another", a, state.ClientAndroid, "tok2", map[uint32]string{a: "0x12:tok2", b: "0x11:tok1"}},
		{"a replaces its token", a, state.ClientAndroid, "tok3", map[uint32]string{a: "0x12:tok3", b: "0x11:tok1"}},
		{"b takes a's old token", b, state.ClientAndroid, "tok2", map[uint32]string{a: "0x12:tok3", b: "0x12:tok2"}},
		{"a logs out", a, state.ClientAndroid, "", map[uint32]string{b: "0x12:tok2"}},
	}
	for _, st := range steps {
		if err := s.SetDeviceToken(ctx(t), st.user, st.ct, st.token); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := tok(); fmt.Sprint(got) != fmt.Sprint(st.want) {
			t.Fatalf("%s: tokens %v, want %v", st.name, got, st.want)
		}
	}
	// a takes tok2 back after logging out: b loses it.
	if err := s.SetDeviceToken(ctx(t), a, state.ClientIOS, "tok2"); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(tok()); got != fmt.Sprint(map[uint32]string{a: "0x11:tok2"}) {
		t.Fatalf("after a takes tok2 back: %v", got)
	}
}

func pushShield(t *testing.T, e *Env) {
	s := e.S
	a := addUser(t, s, "a")
	if on := r(s.PushShield(ctx(t), a.ID)).ok(t); on {
		t.Fatal("push shield on by default")
	}
	for _, on := range []bool{true, false, true} {
		if err := s.SetPushShield(ctx(t), a.ID, on); err != nil {
			t.Fatal(err)
		}
		if got := r(s.PushShield(ctx(t), a.ID)).ok(t); got != on {
			t.Fatalf("push shield %v, want %v", got, on)
		}
	}
	if err := s.SetDeviceToken(ctx(t), a.ID, state.ClientIOS, "t"); err != nil {
		t.Fatal(err)
	}
	if dts := r(s.DeviceTokens(ctx(t), []uint32{a.ID})).ok(t); len(dts) != 1 || !dts[0].PushShield {
		t.Fatalf("device tokens = %+v, want the shield flag", dts)
	}
	wantErr(t, s.SetPushShield(ctx(t), 999, true), state.ErrNotFound, "shield of an unknown user")
	_, err := s.PushShield(ctx(t), 999)
	wantErr(t, err, state.ErrNotFound, "query shield of an unknown user")
}

func offlineFiles(t *testing.T, e *Env) {
	s := e.S
	a, b, c := addUser(t, s, "a").ID, addUser(t, s, "b").ID, addUser(t, s, "c").ID
	base := now() - 100
	files := []state.OfflineFile{
		{From: a, To: b, TaskID: "task-2", Name: "two.txt", Size: 2, Created: base + 2},
		{From: a, To: b, TaskID: "task-1", Name: "one.txt", Size: 1, Created: base + 1},
		{From: b, To: c, TaskID: "task-3", Name: "three.txt", Size: 3, Created: base + 3},
	}
	for _, f := range files {
		if err := s.AddOfflineFile(ctx(t), f); err != nil {
			t.Fatal(err)
		}
	}
	got := r(s.OfflineFiles(ctx(t), b)).ok(t)
	if len(got) != 2 || got[0] != files[1] || got[1] != files[0] {
		t.Fatalf("files of b = %+v, want oldest first", got)
	}
	wantErr(t, s.DeleteOfflineFile(ctx(t), b, b, "task-1"), state.ErrNotFound, "delete with the wrong sender")
	if err := s.DeleteOfflineFile(ctx(t), a, b, "task-1"); err != nil {
		t.Fatal(err)
	}
	if got := r(s.OfflineFiles(ctx(t), b)).ok(t); len(got) != 1 || got[0].TaskID != "task-2" {
		t.Fatalf("files of b after delete = %+v", got)
	}
	wantErr(t, s.DeleteOfflineFile(ctx(t), a, b, "task-1"), state.ErrNotFound, "delete twice")
	if got := r(s.OfflineFiles(ctx(t), c)).ok(t); len(got) != 1 || got[0] != files[2] {
		t.Fatalf("files of c = %+v", got)
	}
	wantErr(t, s.AddOfflineFile(ctx(t), state.OfflineFile{From: a, To: b}), state.ErrInvalid, "file without task id")
}

func audio(t *testing.T, e *Env) {
	s := e.S
	a, b := addUser(t, s, "a").ID, addUser(t, s, "b").ID
	data := make([]byte, 3000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	id := r(s.SaveAudio(ctx(t), state.Audio{From: a, To: b, Duration: 4, Data: data})).ok(t)
	id2 := r(s.SaveAudio(ctx(t), state.Audio{From: b, To: a, Duration: 1, Data: []byte{1}})).ok(t)
	if id == 0 || id2 == id {
		t.Fatalf("audio ids %d %d", id, id2)
	}
	got := r(s.Audio(ctx(t), id)).ok(t)
	if got.ID != id || got.From != a || got.To != b || got.Duration != 4 || got.Size != 3000 || got.Created == 0 || string(got.Data) != string(data) {
		t.Fatalf("audio = %+v (%d bytes)", got, len(got.Data))
	}
	_, err := s.Audio(ctx(t), 4242)
	wantErr(t, err, state.ErrNotFound, "unknown audio")
	m := send(t, s, a, b, state.MsgSingleAudio, fmt.Sprint(id), 0)
	ss := r(s.RecentSessions(ctx(t), b, 0, 10)).ok(t)
	if len(ss) != 1 || ss[0].Latest.ID != m.ID || ss[0].Latest.Type != state.MsgSingleAudio {
		t.Fatalf("sessions = %+v", ss)
	}
	if p := state.Preview(ss[0].Latest, []byte("[voice]")); string(p) != "[voice]" {
		t.Fatalf("audio preview = %q", p)
	}
}

func reopen(t *testing.T, e *Env) {
	a := addUser(t, e.S, "a")
	b := addUser(t, e.S, "b")
	d := r(e.S.CreateDepart(ctx(t), state.NewDepart{Name: "D"})).ok(t)
	g := r(e.S.CreateGroup(ctx(t), state.NewGroup{Name: "g", Type: state.GroupNormal, Members: []uint32{a.ID, b.ID}})).ok(t)
	send(t, e.S, a.ID, b.ID, state.MsgSingleText, "one", 0)
	send(t, e.S, a.ID, g.ID, state.MsgGroupText, "gone", 0)
	if err := e.S.SetDeviceToken(ctx(t), b.ID, state.ClientIOS, "tok"); err != nil {
		t.Fatal(err)
	}
	if err := e.S.AddOfflineFile(ctx(t), state.OfflineFile{From: a.ID, To: b.ID, TaskID: "t1", Name: "f"}); err != nil {
		t.Fatal(err)
	}
	aid := r(e.S.SaveAudio(ctx(t), state.Audio{From: a.ID, To: b.ID, Duration: 1, Data: []byte("pcm")})).ok(t)

	e.Reopen()
	s := e.S
	r(s.CheckLogin(ctx(t), "a", state.MD5Hex("pw-a"))).ok(t)
	if ds, _ := r2(s.DepartsChangedSince(ctx(t), 0)).ok(t); len(ds) != 1 || ds[0] != d {
		t.Fatalf("departs after reopen = %+v", ds)
	}
	if un := r(s.Unread(ctx(t), b.ID)).ok(t); len(un) != 2 {
		t.Fatalf("unread after reopen = %+v", un)
	}
	if m := send(t, s, b.ID, a.ID, state.MsgSingleText, "two", 0); m.ID != 2 {
		t.Fatalf("id after reopen = %d, want 2", m.ID)
	}
	if m := send(t, s, b.ID, g.ID, state.MsgGroupText, "gtwo", 0); m.ID != 2 {
		t.Fatalf("group id after reopen = %d, want 2", m.ID)
	}
	if dts := r(s.DeviceTokens(ctx(t), []uint32{b.ID})).ok(t); len(dts) != 1 || dts[0].Token != "tok" {
		t.Fatalf("tokens after reopen = %+v", dts)
	}
	if fs := r(s.OfflineFiles(ctx(t), b.ID)).ok(t); len(fs) != 1 || fs[0].TaskID != "t1" {
		t.Fatalf("files after reopen = %+v", fs)
	}
	if au := r(s.Audio(ctx(t), aid)).ok(t); string(au.Data) != "pcm" {
		t.Fatalf("audio after reopen = %+v", au)
	}
	if c := addUser(t, s, "c"); c.ID <= b.ID {
		t.Fatalf("user id %d reused after reopen (b = %d)", c.ID, b.ID)
	}
	if g2 := r(s.CreateGroup(ctx(t), state.NewGroup{Name: "g2", Type: state.GroupTemp, Members: []uint32{a.ID}})).ok(t); g2.ID <= g.ID {
		t.Fatalf("group id %d reused after reopen", g2.ID)
	}
}

func closedStore(t *testing.T, e *Env) {
	a := addUser(t, e.S, "a")
	if err := e.S.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.S.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err := e.S.SaveMessage(ctx(t), state.NewMessage{From: a.ID, To: 99, Type: state.MsgSingleText, Content: []byte("x")})
	wantErr(t, err, state.ErrClosed, "save after close")
	_, err = e.S.UserByName(ctx(t), "a")
	wantErr(t, err, state.ErrClosed, "read after close")
}
