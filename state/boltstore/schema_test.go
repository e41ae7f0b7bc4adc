package boltstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"

	"teamtalk/state"
)

// migrationTests holds one test per schema migration, by version. A
// migration without an entry fails TestEveryMigrationHasATest.
func migrationTests() map[uint32]func(t *testing.T) {
	return map[uint32]func(t *testing.T){
		1: testMigrateV1,
		2: testMigrateV2,
	}
}

func TestEveryMigrationHasATest(t *testing.T) {
	tests := migrationTests()
	prev := uint32(0)
	for _, m := range migrations() {
		if m.version != prev+1 {
			t.Fatalf("migration %d follows %d: versions must be consecutive", m.version, prev)
		}
		prev = m.version
		if tests[m.version] == nil {
			t.Errorf("migration %d (%s) has no test in migrationTests", m.version, m.name)
		}
	}
	for v := range tests {
		if v > prev {
			t.Errorf("migrationTests has version %d, but the newest migration is %d", v, prev)
		}
	}
}

func TestMigrations(t *testing.T) {
	for _, m := range migrations() {
		t.Run(m.name, migrationTests()[m.version])
	}
}

func openRaw(t *testing.T) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "im.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func testMigrateV1(t *testing.T) {
	db := openRaw(t)
	if err := migrate(db, migrations()[:1]); err != nil {
		t.Fatal(err)
	}
	err := db.View(func(tx *bolt.Tx) error {
		if v := schemaVersion(tx); v != 1 {
			t.Errorf("schema version %d, want 1", v)
		}
		for _, b := range [][]byte{bMeta, bUsers, bUserNames, bDeparts, bRelations, bMessages, bUnread, bSessions,
			bGroups, bGroupMembers, bUserGroups, bGroupMessages, bTokens, bTokenOwners, bFiles, bAudio} {
			if tx.Bucket(b) == nil {
				t.Errorf("bucket %s missing", b)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Running it again is a no-op.
	if err := migrate(db, migrations()[:1]); err != nil {
		t.Fatal(err)
	}
}

func TestSchemaTooNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "im.db")
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bMeta).Put([]byte("schema"), putU32(99)) })
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, Options{}); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open of a newer file: %v, want ErrSchemaTooNew", err)
	}
}

// testMigrateV2: a schema 1 file's one-to-one messages (in messages, with
// 8-byte relations records) stay readable after the log's migration, and
// the conversations go on in the log with the next ids: history, by id,
// latest, sessions and read acks see old and new messages as one
// conversation.
func testMigrateV2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "im.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(db, migrations()[:1]); err != nil {
		t.Fatal(err)
	}
	content := func(id uint32) []byte { return fmt.Appendf(nil, "m%d", id) }
	from := func(id uint32) uint32 { return 1 + id%2 } // users 1 and 2 take turns
	const legacy = 70
	err = db.Update(func(tx *bolt.Tx) error {
		for id := uint32(1); id <= legacy; id++ {
			if err := tx.Bucket(bMessages).Put(key(1, 2, id), encodeMsg(from(id), state.MsgSingleText, 1000+id, content(id))); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bRelations).Put(key(1, 2), key(legacy, 1001)); err != nil {
			return err
		}
		if err := tx.Bucket(bUnread).Put(key(2, 1), putU32(legacy/2)); err != nil {
			return err
		}
		for _, u := range [][2]uint32{{1, 2}, {2, 1}} {
			rec := sessionRecord{created: 1001, updated: 1000 + legacy}
			if err := tx.Bucket(bSessions).Put(sessionKey(u[0], state.SessionSingle, u[1]), rec.encode()); err != nil {
				return err
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	ids := func(ms []state.Message) []uint32 {
		var out []uint32
		for _, m := range ms {
			if want := content(m.ID); string(m.Content) != string(want) || m.From != from(m.ID) {
				t.Errorf("message %d: from %d %q, want from %d %q", m.ID, m.From, m.Content, from(m.ID), want)
			}
			out = append(out, m.ID)
		}
		return out
	}
	desc := func(hi, lo uint32) []uint32 {
		var out []uint32
		for id := hi; id >= lo; id-- {
			out = append(out, id)
		}
		return out
	}
	// Old messages read as before.
	got, err := s.Messages(ctx, 1, state.HistoryQuery{Type: state.SessionSingle, SessionID: 2, Count: 5})
	if err != nil || !slices.Equal(ids(got), desc(legacy, legacy-4)) {
		t.Fatalf("history before new messages: %v %v", ids(got), err)
	}
	// New ones continue the ids, in the log (an msgidx entry at 128).
	const total = 150
	for id := uint32(legacy + 1); id <= total; id++ {
		m, err := s.SaveMessage(ctx, state.NewMessage{From: from(id), To: 3 - from(id), Type: state.MsgSingleText, Content: content(id), Created: 1000 + id})
		if err != nil || m.ID != id {
			t.Fatalf("save: id %d err %v, want id %d", m.ID, err, id)
		}
	}
	for _, tc := range []struct {
		begin, count uint32
		want         []uint32
	}{
		{0, 1000, desc(total, 1)},
		{0, 3, desc(total, total-2)},
		{75, 10, desc(75, 66)},        // across the boundary
		{legacy + 1, 2, desc(71, 70)}, // the first logged and the last old
		{130, 5, desc(130, 126)},      // from above the index entry at 128
		{127, 3, desc(127, 125)},      // just below it
		{500, 2, desc(total, total-1)},
		{3, 10, desc(3, 1)},
	} {
		got, err := s.Messages(ctx, 2, state.HistoryQuery{Type: state.SessionSingle, SessionID: 1, BeginID: tc.begin, Count: tc.count})
		if err != nil || !slices.Equal(ids(got), tc.want) {
			t.Errorf("history from %d, %d: %v %v, want %v", tc.begin, tc.count, ids(got), err, tc.want)
		}
	}
	byID, err := s.MessagesByID(ctx, 1, state.SessionSingle, 2, []uint32{1, legacy, legacy + 1, 128, total, total + 1, 0})
	if err != nil || !slices.Equal(ids(byID), []uint32{total, 128, legacy + 1, legacy, 1}) {
		t.Errorf("by id: %v %v", ids(byID), err)
	}
	if id, err := s.LatestMsgID(ctx, 2, state.SessionSingle, 1); err != nil || id != total {
		t.Errorf("latest id %d %v, want %d", id, err, total)
	}
	ss, err := s.RecentSessions(ctx, 1, 0, 0)
	if err != nil || len(ss) != 1 || ss[0].Latest.ID != total || string(ss[0].Latest.Content) != string(content(total)) {
		t.Errorf("sessions: %+v %v", ss, err)
	}
	// User 2 read up to 60: unread are user 1's messages above it, old and new.
	if err := s.MarkRead(ctx, 2, state.SessionSingle, 1, 60); err != nil {
		t.Fatal(err)
	}
	var want uint32
	for id := uint32(61); id <= total; id++ {
		if from(id) == 1 {
			want++
		}
	}
	un, err := s.Unread(ctx, 2)
	if err != nil || len(un) != 1 || un[0].Count != want || un[0].Latest.ID != total {
		t.Errorf("unread after a read ack at 60: %+v %v, want %d", un, err, want)
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	})
	if err != nil {
		t.Errorf("check: %v", err)
	}
}
