package mysqlstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"teamtalk/state"
	"teamtalk/state/storetest"
)

type asyncResult struct {
	m   state.Message
	err error
}

func waitResult(t *testing.T, ch <-chan asyncResult) asyncResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("no callback")
		return asyncResult{}
	}
}

// TestSaveMessageAsync: the callback gets what SaveMessage would return.
func TestSaveMessageAsync(t *testing.T) {
	s := open(t, newDB(t), Options{})
	defer s.Close()
	tests := []struct {
		name    string
		m       state.NewMessage
		wantID  uint32
		wantErr error
	}{
		{"single text", state.NewMessage{From: 1, To: 2, Type: state.MsgSingleText, Content: []byte("x")}, 1, nil},
		{"to oneself", state.NewMessage{From: 3, To: 3, Type: state.MsgSingleText, Content: []byte("x")}, 0, state.ErrInvalid},
		{"not UTF-8", state.NewMessage{From: 1, To: 2, Type: state.MsgSingleText, Content: []byte{0xff}}, 0, state.ErrInvalid},
		{"unknown group", state.NewMessage{From: 1, To: 77, Type: state.MsgGroupText, Content: []byte("x")}, 0, state.ErrNotFound},
		{"second single text", state.NewMessage{From: 2, To: 1, Type: state.MsgSingleText, Content: []byte("y")}, 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan asyncResult, 2)
			s.SaveMessageAsync(t.Context(), tt.m, func(m state.Message, err error) { done <- asyncResult{m, err} })
			r := waitResult(t, done)
			if !errors.Is(r.err, tt.wantErr) || (tt.wantErr == nil) != (r.err == nil) {
				t.Fatalf("err %v, want %v", r.err, tt.wantErr)
			}
			if r.m.ID != tt.wantID || (tt.wantErr == nil && (r.m.From != tt.m.From || r.m.To != tt.m.To || r.m.Created == 0)) {
				t.Fatalf("saved %+v, want id %d", r.m, tt.wantID)
			}
			select {
			case r := <-done:
				t.Fatalf("second callback %+v", r)
			case <-time.After(10 * time.Millisecond):
			}
		})
	}
}

// TestSaveMessageAsyncOrderAndBatching: saves queued from one goroutine
// get their ids in order, share commits, and are all readable.
func TestSaveMessageAsyncOrderAndBatching(t *testing.T) {
	s := open(t, newDB(t), Options{Committers: 1})
	defer s.Close()
	const n = 500
	done := make(chan asyncResult, n)
	// Hold the committer so the saves queue up behind one write.
	hold, release := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() {
		held <- s.enqueue(context.Background(), 0, func(*txq) error {
			select {
			case <-hold:
			default:
				close(hold)
			}
			<-release
			return nil
		})
	}()
	<-hold
	before := s.Stats()
	go func() {
		time.Sleep(50 * time.Millisecond)
		close(release)
	}()
	for i := range n {
		s.SaveMessageAsync(t.Context(), state.NewMessage{From: 1, To: 2, Type: state.MsgSingleText, Content: fmt.Appendf(nil, "m%d", i)},
			func(m state.Message, err error) { done <- asyncResult{m, err} })
	}
	for i := range n {
		r := waitResult(t, done)
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.m.ID != uint32(i+1) || string(r.m.Content) != fmt.Sprintf("m%d", i) {
			t.Fatalf("answer %d: id %d content %q", i, r.m.ID, r.m.Content)
		}
	}
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	after := s.Stats()
	if commits := after.Commits - before.Commits; commits >= n/4 {
		t.Errorf("%d saves took %d commits; they should share commits", n, commits)
	}
	ms, err := s.Messages(t.Context(), 2, state.HistoryQuery{Type: state.SessionSingle, SessionID: 1, Count: n + 1})
	if err != nil || len(ms) != n {
		t.Fatalf("history: %d messages, %v", len(ms), err)
	}
	if un, err := s.UnreadTotal(t.Context(), 2); err != nil || un != n {
		t.Fatalf("unread %d, %v", un, err)
	}
}

func TestSaveMessageAsyncClosedAndCanceled(t *testing.T) {
	storetest.QueuedSaveCanceledAndClosed(t, open(t, newDB(t), Options{}))
}

// TestSaveMessageAsyncCallbackPanic: a panicking callback does not stop
// the committer.
func TestSaveMessageAsyncCallbackPanic(t *testing.T) {
	s := open(t, newDB(t), Options{Committers: 1})
	defer s.Close()
	storetest.QueuedSaveCallbackPanic(t, s)
}
