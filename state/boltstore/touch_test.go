package boltstore

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"teamtalk/state"
)

// TestGroupTouchMarks: a busy group's member sessions are touched once per
// second of message time, yet every session change within that second
// (a hidden session, a new member) is still made visible by the next
// message.
func TestGroupTouchMarks(t *testing.T) {
	const now = 1_700_000_000
	ctx := context.Background()
	tests := []struct {
		name string
		// between runs between two group messages of the same second; user
		// is whose session must be visible after the second message.
		between func(t *testing.T, s *Store, gid uint32)
		user    uint32
		marked  bool // the group keeps its mark through between
	}{
		{"nothing", func(*testing.T, *Store, uint32) {}, 2, true},
		{"a member hides the session", func(t *testing.T, s *Store, gid uint32) {
			if err := s.RemoveSession(ctx, 2, state.SessionGroup, gid); err != nil {
				t.Fatal(err)
			}
		}, 2, false},
		{"a member joins", func(t *testing.T, s *Store, gid uint32) {
			if _, _, err := s.ChangeMembers(ctx, gid, state.ModifyAdd, []uint32{4}); err != nil {
				t.Fatal(err)
			}
		}, 4, false},
		{"a member leaves and comes back", func(t *testing.T, s *Store, gid uint32) {
			for _, op := range []state.ModifyType{state.ModifyDel, state.ModifyAdd} {
				if _, _, err := s.ChangeMembers(ctx, gid, op, []uint32{3}); err != nil {
					t.Fatal(err)
				}
			}
		}, 3, false},
		{"another group changes", func(t *testing.T, s *Store, gid uint32) {
			if _, err := s.CreateGroup(ctx, state.NewGroup{Name: "other", Creator: 1, Type: state.GroupNormal, Members: []uint32{1, 2}}); err != nil {
				t.Fatal(err)
			}
		}, 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(filepath.Join(t.TempDir(), "im.db"), Options{NoSync: true, Now: func() time.Time { return time.Unix(now, 0) }})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			g, err := s.CreateGroup(ctx, state.NewGroup{Name: "busy", Creator: 1, Type: state.GroupNormal, Members: []uint32{1, 2, 3}})
			if err != nil {
				t.Fatal(err)
			}
			send := func() {
				t.Helper()
				if _, err := s.SaveMessage(ctx, state.NewMessage{From: 1, To: g.ID, Type: state.MsgGroupText, Content: []byte("x"), Created: now}); err != nil {
					t.Fatal(err)
				}
			}
			send()
			if got := s.touched.at[g.ID]; got != now {
				t.Fatalf("mark after the first message = %d, want %d", got, now)
			}
			tt.between(t, s, g.ID)
			if _, ok := s.touched.at[g.ID]; ok != tt.marked {
				t.Fatalf("group marked = %v, want %v", ok, tt.marked)
			}
			send()
			if s.touched.at[g.ID] != now {
				t.Fatalf("mark after the second message = %d", s.touched.at[g.ID])
			}
			ss, err := s.RecentSessions(ctx, tt.user, 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, x := range ss {
				found = found || (x.Type == state.SessionGroup && x.PeerID == g.ID && x.Latest.ID == 2)
			}
			if !found {
				t.Fatalf("user %d's sessions lack the group at message 2: %+v", tt.user, ss)
			}
		})
	}
}
