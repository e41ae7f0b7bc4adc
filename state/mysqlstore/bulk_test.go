package mysqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"

	"teamtalk/state"
)

// batchMsg is one message of a hand-made batch.
type batchMsg struct {
	from, to uint32
	created  uint32
	group    bool
	cancel   bool // its context is cancelled before the batch runs
}

// runHandBatch runs msgs as one batch through runBatch (as a committer
// would) and returns each message and its result.
func runHandBatch(t *testing.T, s *Store, msgs []batchMsg) ([]state.Message, []error) {
	t.Helper()
	out := make([]state.Message, len(msgs))
	batch := make([]*request, len(msgs))
	dones := make([]chan error, len(msgs))
	for i, bm := range msgs {
		ctx := t.Context()
		if bm.cancel {
			c, cancel := context.WithCancel(ctx)
			cancel()
			ctx = c
		}
		out[i] = state.Message{From: bm.from, To: bm.to, Type: state.MsgSingleText, Created: bm.created, Content: fmt.Appendf(nil, "m%d", i)}
		done := make(chan error, 1)
		dones[i] = done
		r := &request{ctx: ctx, finish: func(err error) { done <- err }}
		m := &out[i]
		if bm.group {
			m.Type = state.MsgGroupText
			r.fn = func(q *txq) error { return saveGroup(q, m) }
		} else {
			rel, err := s.relation(t.Context(), bm.from, bm.to, bm.created)
			if err != nil {
				t.Fatal(err)
			}
			r.single = &pendingSingle{rel: rel, m: m}
		}
		batch[i] = r
	}
	s.runBatch(batch)
	errs := make([]error, len(msgs))
	for i, done := range dones {
		errs[i] = <-done
	}
	return out, errs
}

func TestBatchOfManyPairs(t *testing.T) {
	dsn := newDB(t)
	s := open(t, dsn, Options{})
	defer s.Close()
	ctx := t.Context()
	// Pair 1/2 already has a hidden, older session for 2 (twice, as other
	// tools may leave it) and two messages.
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO IMRecentSession (userId, peerId, type, status, created, updated) VALUES (2, 1, 1, 1, 5, 5), (2, 1, 1, 1, 5, 6)`); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := s.SaveMessage(ctx, state.NewMessage{From: 1, To: 2, Type: state.MsgSingleText, Content: []byte("x"), Created: 50}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.DB().ExecContext(ctx, `UPDATE IMRecentSession SET status = 1, updated = 7 WHERE userId = 2`); err != nil {
		t.Fatal(err)
	}
	msgs := []batchMsg{
		{from: 1, to: 2, created: 100}, {from: 3, to: 4, created: 100}, {from: 2, to: 1, created: 101},
		{from: 5, to: 6, created: 100}, {from: 1, to: 2, created: 102, cancel: true}, {from: 4, to: 3, created: 99},
		{from: 1, to: 2, created: 100}, {from: 7, to: 8, created: 103}, {from: 9, to: 10, created: 100},
		{from: 11, to: 12, created: 100}, {from: 13, to: 14, created: 100}, {from: 15, to: 16, created: 100},
		{from: 17, to: 18, created: 100}, {from: 19, to: 20, created: 100},
	}
	got, errs := runHandBatch(t, s, msgs)
	wantIDs := []uint32{3, 1, 4, 1, 0, 2, 5, 1, 1, 1, 1, 1, 1, 1}
	for i := range msgs {
		if msgs[i].cancel {
			if !errors.Is(errs[i], context.Canceled) {
				t.Fatalf("cancelled message %d: %v", i, errs[i])
			}
			continue
		}
		if errs[i] != nil || got[i].ID != wantIDs[i] {
			t.Fatalf("message %d: id %d, %v; want id %d", i, got[i].ID, errs[i], wantIDs[i])
		}
	}
	if st := s.Stats(); st.MaxBatch != uint64(len(msgs)) || st.Fallbacks != 0 {
		t.Fatalf("stats %+v", st)
	}
	tests := []struct {
		name     string
		user     uint32
		peer     uint32
		wantIDs  []uint32
		unread   uint32
		sessions int
	}{
		{"pair 1/2 seen by 2", 2, 1, []uint32{5, 4, 3, 2, 1}, 4, 1},
		{"pair 1/2 seen by 1", 1, 2, []uint32{5, 4, 3, 2, 1}, 1, 1},
		{"pair 3/4 seen by 3", 3, 4, []uint32{2, 1}, 1, 1},
		{"new pair 19/20 seen by 20", 20, 19, []uint32{1}, 1, 1},
		{"new pair 19/20 seen by 19", 19, 20, []uint32{1}, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := s.Messages(ctx, tt.user, state.HistoryQuery{Type: state.SessionSingle, SessionID: tt.peer, Count: 100})
			if err != nil {
				t.Fatal(err)
			}
			var ids []uint32
			for _, m := range ms {
				ids = append(ids, m.ID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(tt.wantIDs) {
				t.Fatalf("history ids %v, want %v", ids, tt.wantIDs)
			}
			var unread uint32
			un, err := s.Unread(ctx, tt.user)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range un {
				if u.Type == state.SessionSingle && u.SessionID == tt.peer {
					unread = u.Count
				}
			}
			if unread != tt.unread {
				t.Fatalf("unread %d, want %d", unread, tt.unread)
			}
			n := 0
			sess, err := s.RecentSessions(ctx, tt.user, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			for _, ss := range sess {
				if ss.Type == state.SessionSingle && ss.PeerID == tt.peer {
					n++
				}
			}
			if n != tt.sessions {
				t.Fatalf("%d visible sessions with %d, want %d", n, tt.peer, tt.sessions)
			}
		})
	}
	// Both duplicate rows of 2's session were revived and moved to the
	// newest message (102 was cancelled); no third row was added.
	var rows, visible, newest int
	if err := s.DB().QueryRowContext(ctx, `SELECT COUNT(*), SUM(status = 0), MIN(updated) FROM IMRecentSession WHERE userId = 2 AND peerId = 1 AND type = 1`).Scan(&rows, &visible, &newest); err != nil {
		t.Fatal(err)
	}
	if rows != 2 || visible != 2 || newest != 101 {
		t.Fatalf("2's session rows: %d, %d visible, oldest updated %d; want 2, 2, 101", rows, visible, newest)
	}
}

// TestBatchFallsBackMessageByMessage: a bulk write that fails for a reason
// that is not transient runs the batch again one message at a time, which
// seeds a missing counter, or refuses only the messages of an exhausted
// one; a refused group message in the batch does not touch the others.
func TestBatchFallsBackMessageByMessage(t *testing.T) {
	tests := []struct {
		name    string
		prepare string // run on relation 1/2's counter (relateId ?)
		wantA   []uint32
		refused bool // 1/2's second message is refused
	}{
		{"missing counter is seeded from the stored messages", `DELETE FROM tt_msg_counter WHERE relateId = ?`, []uint32{3, 4}, false},
		{"exhausted counter refuses only its messages", `UPDATE tt_msg_counter SET lastMsgId = 4294967294 WHERE relateId = ?`, []uint32{4294967295, 0}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, newDB(t), Options{})
			defer s.Close()
			ctx := t.Context()
			for range 2 {
				if _, err := s.SaveMessage(ctx, state.NewMessage{From: 1, To: 2, Type: state.MsgSingleText, Content: []byte("x")}); err != nil {
					t.Fatal(err)
				}
			}
			g, err := s.CreateGroup(ctx, state.NewGroup{Name: "g", Type: state.GroupTemp, Creator: 3, Members: []uint32{3, 4}})
			if err != nil {
				t.Fatal(err)
			}
			rel, err := s.relation(ctx, 1, 2, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.DB().ExecContext(ctx, tt.prepare, rel); err != nil {
				t.Fatal(err)
			}
			got, errs := runHandBatch(t, s, []batchMsg{
				{from: 1, to: 2, created: 100}, {from: 3, to: 4, created: 100}, {from: 5, to: g.ID, group: true},
				{from: 2, to: 1, created: 100}, {from: 3, to: g.ID, group: true},
			})
			if errs[0] != nil || got[0].ID != tt.wantA[0] {
				t.Fatalf("first 1/2 message: id %d, %v; want %d", got[0].ID, errs[0], tt.wantA[0])
			}
			if tt.refused != (errs[3] != nil) || (!tt.refused && got[3].ID != tt.wantA[1]) {
				t.Fatalf("second 1/2 message: id %d, %v; want %d (refused %v)", got[3].ID, errs[3], tt.wantA[1], tt.refused)
			}
			if errs[1] != nil || got[1].ID != 1 {
				t.Fatalf("3/4 message: id %d, %v", got[1].ID, errs[1])
			}
			if !errors.Is(errs[2], state.ErrNotMember) {
				t.Fatalf("group message of a non-member: %v", errs[2])
			}
			if errs[4] != nil || got[4].ID != 1 {
				t.Fatalf("group message: id %d, %v", got[4].ID, errs[4])
			}
			if st := s.Stats(); st.Failed != 0 || st.Retries != 0 || st.Fallbacks != 1 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestWriterPoolReadCommitted: the committers' connections run at READ
// COMMITTED without a per-transaction SET (their BEGIN is one round trip)
// and take several statements at once; the main pool takes one.
func TestWriterPoolReadCommitted(t *testing.T) {
	s := open(t, newDB(t), Options{})
	defer s.Close()
	tests := []struct {
		name      string
		pool      *sql.DB
		wantMulti bool
	}{
		{"committers", s.wdb, true},
		{"main pool", s.db, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx, err := tt.pool.BeginTx(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			var level string
			if err := tx.QueryRowContext(t.Context(), `SELECT @@SESSION.tx_isolation`).Scan(&level); err != nil {
				if err := tx.QueryRowContext(t.Context(), `SELECT @@SESSION.transaction_isolation`).Scan(&level); err != nil {
					t.Fatal(err)
				}
			}
			if tt.wantMulti && level != "READ-COMMITTED" {
				t.Fatalf("isolation %q", level)
			}
			_, err = tx.ExecContext(t.Context(), `SELECT 1; SELECT 2`)
			if (err == nil) != tt.wantMulti {
				t.Fatalf("two statements at once: %v", err)
			}
		})
	}
}
