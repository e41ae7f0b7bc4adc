package mysqlstore

import (
	"database/sql"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"teamtalk/state"
)

// exec runs statements on a raw connection, as another tool (TeamTalk's
// PHP admin, the C++ db_proxy) would write them.
func execAll(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestPHPAdminUserLogsIn: a user row written the way TeamTalk's PHP admin
// writes it (password = md5(md5(plain) . salt), computed here by the server's
// own MD5) logs in with what clients send, md5hex(plain).
func TestPHPAdminUserLogsIn(t *testing.T) {
	s := open(t, newDB(t), Options{})
	defer s.Close()
	execAll(t, s.DB(),
		`INSERT INTO IMUser (sex, name, domain, nick, password, salt, phone, email, avatar, departId, status, created, updated)
		 VALUES (1, 'zhangsan', 'zhangsan', '张三', MD5(CONCAT(MD5('s3cret'), '4821')), '4821', '13800000000', 'z@example.com', '', 1, 0, UNIX_TIMESTAMP(), UNIX_TIMESTAMP())`,
		`INSERT INTO IMUser (name, password, salt, departId, status, created, updated)
		 VALUES ('left', MD5(CONCAT(MD5('s3cret'), '1')), '1', 1, 3, 1, 1)`,
	)
	tests := []struct {
		name, user, pass string
		ok               bool
	}{
		{"right password", "zhangsan", state.MD5Hex("s3cret"), true},
		{"wrong password", "zhangsan", state.MD5Hex("secret"), false},
		{"plain password", "zhangsan", "s3cret", false},
		{"status 3 user", "left", state.MD5Hex("s3cret"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := s.CheckLogin(t.Context(), tt.user, tt.pass)
			if tt.ok {
				if err != nil || u.Nick != "张三" || u.Sex != 1 || u.Phone != "13800000000" || u.DepartID != 1 {
					t.Fatalf("CheckLogin = %+v, %v", u, err)
				}
				return
			}
			if !errors.Is(err, state.ErrBadCredentials) {
				t.Fatalf("CheckLogin = %+v, %v; want ErrBadCredentials", u, err)
			}
		})
	}
}

// TestExistingDatabase: a database the C++ servers filled (messages with
// ids kept in Redis, groups, sessions) is read as is, and new ids continue
// after the highest stored one.
func TestExistingDatabase(t *testing.T) {
	dsn := newDB(t)
	raw := open(t, dsn, Options{})
	now := uint32(time.Now().Unix()) - 3600
	execAll(t, raw.DB(),
		`INSERT INTO IMUser (id, name, password, salt, departId, status, created, updated) VALUES
		 (11, 'a', '', '1', 1, 0, 1, 1), (12, 'b', '', '1', 1, 0, 1, 1), (13, 'c', '', '1', 1, 0, 1, 1)`,
		// relateId 21 → IMMessage_5.
		`INSERT INTO IMRelationShip (id, smallId, bigId, status, created, updated) VALUES (21, 11, 12, 0, 1, 1)`,
		`INSERT INTO IMMessage_5 (relateId, fromId, toId, msgId, content, type, status, updated, created) VALUES
		 (21, 11, 12, 1, 'm1', 1, 0, 100, 100), (21, 12, 11, 2, 'm2', 1, 0, 101, 101), (21, 11, 12, 7, 'm7', 1, 0, 107, 107)`,
		// Group 30 (IMGroupMessage_6), rows written with explicit status 0.
		`INSERT INTO IMGroup (id, name, avatar, creator, type, userCnt, status, version, lastChated, updated, created)
		 VALUES (30, 'old group', '', 11, 1, 2, 0, 3, 200, 200, 100)`,
		`INSERT INTO IMGroupMember (groupId, userId, status, created, updated) VALUES (30, 11, 0, 100, 100), (30, 12, 0, 100, 100), (30, 13, 1, 100, 100)`,
		`INSERT INTO IMGroupMessage_6 (groupId, userId, msgId, content, type, status, updated, created) VALUES
		 (30, 11, 4, 'g4', 17, 0, 150, 150), (30, 12, 5, 'g5', 17, 0, 160, 160)`,
		`INSERT INTO IMRecentSession (userId, peerId, type, status, created, updated) VALUES (11, 12, 1, 0, 100, 107), (11, 30, 2, 0, 100, 160)`,
	)
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	s := open(t, dsn, Options{})
	defer s.Close()
	ctx := t.Context()

	if id, err := s.LatestMsgID(ctx, 12, state.SessionSingle, 11); err != nil || id != 7 {
		t.Fatalf("latest pair id = %d, %v; want 7", id, err)
	}
	if id, err := s.LatestMsgID(ctx, 11, state.SessionGroup, 30); err != nil || id != 5 {
		t.Fatalf("latest group id = %d, %v; want 5", id, err)
	}
	ms, err := s.Messages(ctx, 12, state.HistoryQuery{Type: state.SessionSingle, SessionID: 11, Count: 10})
	if err != nil || len(ms) != 3 || ms[0].ID != 7 || string(ms[2].Content) != "m1" || ms[1].From != 12 || ms[1].To != 11 {
		t.Fatalf("old history = %+v, %v", ms, err)
	}
	g, err := s.Group(ctx, 30)
	if err != nil || g.Version != 3 || !slices.Equal(g.MemberIDs(), []uint32{11, 12}) || g.LatestMsgID != 5 || g.Members[0].Joined != 100 {
		t.Fatalf("old group = %+v, %v", g, err)
	}
	if ss, err := s.RecentSessions(ctx, 11, 0, 10); err != nil || len(ss) != 2 || ss[0].PeerID != 30 || ss[0].Latest.ID != 5 || ss[1].Latest.ID != 7 {
		t.Fatalf("old sessions = %+v, %v", ss, err)
	}
	if un, err := s.Unread(ctx, 12); err != nil || len(un) != 0 {
		t.Fatalf("unread of a member from before the store = %+v, %v", un, err)
	}

	steps := []struct {
		name     string
		from, to uint32
		typ      state.MsgType
		want     uint32
	}{
		{"pair continues after the highest stored id", 12, 11, state.MsgSingleText, 8},
		{"and again", 11, 12, state.MsgSingleText, 9},
		{"group continues after the highest stored id", 12, 30, state.MsgGroupText, 6},
		{"new pair starts at 1", 13, 11, state.MsgSingleText, 1},
	}
	for _, st := range steps {
		m, err := s.SaveMessage(ctx, state.NewMessage{From: st.from, To: st.to, Type: st.typ, Content: []byte(st.name), Created: now})
		if err != nil || m.ID != st.want {
			t.Fatalf("%s: %+v, %v; want id %d", st.name, m, err, st.want)
		}
	}
	_, err = s.SaveMessage(ctx, state.NewMessage{From: 13, To: 30, Type: state.MsgGroupText, Content: []byte("x")})
	if !errors.Is(err, state.ErrNotMember) {
		t.Fatalf("message from a member with status 1: %v", err)
	}
	if un, err := s.Unread(ctx, 11); err != nil || len(un) != 2 || un[0].Count != 1 || un[0].SessionID != 12 || un[1].SessionID != 13 {
		t.Fatalf("unread of a = %+v, %v", un, err)
	}
}

func TestTransientErrorRetried(t *testing.T) {
	tests := []struct {
		name    string
		retries int
		wantErr bool
	}{
		{"lock wait timeout is retried", 20, false},
		{"without retries the error surfaces", -1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A 1-second lock wait timeout on the store's connections.
			dsn := newDB(t) + "?innodb_lock_wait_timeout=1"
			s := open(t, dsn, Options{MaxRetries: tt.retries, RetryBackoff: 50 * time.Millisecond})
			defer s.Close()
			ctx := t.Context()
			a, _ := s.CreateUser(ctx, state.NewUser{Name: "a", Password: "p"})
			b, _ := s.CreateUser(ctx, state.NewUser{Name: "b", Password: "p"})
			msg := state.NewMessage{From: a.ID, To: b.ID, Type: state.MsgSingleText, Content: []byte("x")}
			if m, err := s.SaveMessage(ctx, msg); err != nil || m.ID != 1 {
				t.Fatalf("first message: %+v, %v", m, err)
			}
			// Another client holds the pair's counter row.
			blocker, err := s.DB().BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			var last int
			if err := blocker.QueryRowContext(ctx, `SELECT lastMsgId FROM tt_msg_counter FOR UPDATE`).Scan(&last); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				m, err := s.SaveMessage(ctx, msg)
				if err == nil && m.ID != 2 {
					err = errors.New("second message did not get id 2")
				}
				done <- err
			}()
			if tt.wantErr {
				err := <-done
				var me *mysql.MySQLError
				if !errors.As(err, &me) || me.Number != 1205 {
					t.Fatalf("SaveMessage = %v, want error 1205", err)
				}
				blocker.Rollback()
				if m, err := s.SaveMessage(ctx, msg); err != nil || m.ID != 2 {
					t.Fatalf("after the failure: %+v, %v; the failed message must not use an id", m, err)
				}
				return
			}
			for s.Stats().Retries == 0 {
				select {
				case err := <-done:
					t.Fatalf("SaveMessage returned %v while the row was locked", err)
				case <-time.After(20 * time.Millisecond):
				}
			}
			blocker.Rollback()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestTransientClassification(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"deadlock", &mysql.MySQLError{Number: 1213}, true},
		{"lock wait timeout", &mysql.MySQLError{Number: 1205}, true},
		{"duplicate key", &mysql.MySQLError{Number: 1062}, false},
		{"wrapped deadlock", errors.Join(errors.New("ctx"), &mysql.MySQLError{Number: 1213}), true},
		{"domain error", state.ErrNotMember, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := transient(tt.err); got != tt.want {
				t.Fatalf("transient(%v) = %v", tt.err, got)
			}
		})
	}
}
