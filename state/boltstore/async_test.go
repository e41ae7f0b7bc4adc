package boltstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"teamtalk/state"
	"teamtalk/state/storetest"
)

type asyncResult struct {
	m   state.Message
	err error
}

// TestSaveMessageAsync checks the asynchronous save: ids follow the order of
// queueing, many saves share a commit, the callback sees what SaveMessage
// would return, and every answered message is readable.
func TestSaveMessageAsync(t *testing.T) {
	tests := []struct {
		name    string
		m       state.NewMessage
		wantErr error
	}{
		{"single text", state.NewMessage{From: 1, To: 2, Type: state.MsgSingleText, Content: []byte("x")}, nil},
		{"to oneself", state.NewMessage{From: 3, To: 3, Type: state.MsgSingleText, Content: []byte("x")}, state.ErrInvalid},
		{"unknown group", state.NewMessage{From: 1, To: 77, Type: state.MsgGroupText, Content: []byte("x")}, state.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTest(t, Options{NoSync: true})
			done := make(chan asyncResult, 1)
			s.SaveMessageAsync(context.Background(), tt.m, func(m state.Message, err error) { done <- asyncResult{m, err} })
			r := waitResult(t, done)
			if !errors.Is(r.err, tt.wantErr) || (tt.wantErr == nil) != (r.err == nil) {
				t.Fatalf("err %v, want %v", r.err, tt.wantErr)
			}
			if tt.wantErr == nil && (r.m.ID != 1 || r.m.From != tt.m.From || r.m.To != tt.m.To || r.m.Created == 0) {
				t.Fatalf("saved %+v", r.m)
			}
		})
	}
}

func TestSaveMessageAsyncOrderAndBatching(t *testing.T) {
	s := openTest(t, Options{})
	const n = 500
	done := make(chan asyncResult, n)
	// Hold the committer so the saves queue up behind one write.
	hold, release := make(chan struct{}), make(chan struct{})
	go s.update(context.Background(), func(w *wtx) error { close(hold); <-release; return nil })
	<-hold
	before := s.Stats()
	go func() {
		time.Sleep(20 * time.Millisecond)
		close(release)
	}()
	for i := range n {
		s.SaveMessageAsync(context.Background(), state.NewMessage{From: 1, To: 2, Type: state.MsgSingleText, Content: fmt.Appendf(nil, "m%d", i)},
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
	after := s.Stats()
	if commits := after.Commits - before.Commits; commits >= n/4 {
		t.Errorf("%d saves took %d commits; they should share commits", n, commits)
	}
	ms, err := s.Messages(context.Background(), 2, state.HistoryQuery{Type: state.SessionSingle, SessionID: 1, Count: n + 1})
	if err != nil || len(ms) != n {
		t.Fatalf("history: %d messages, %v", len(ms), err)
	}
}

func TestSaveMessageAsyncClosedAndCanceled(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "im.db"), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	storetest.QueuedSaveCanceledAndClosed(t, s)
}

// TestSaveMessageAsyncCallbackPanic checks that a panicking callback does not
// stop the committer.
func TestSaveMessageAsyncCallbackPanic(t *testing.T) {
	storetest.QueuedSaveCallbackPanic(t, openTest(t, Options{NoSync: true}))
}

func waitResult(t *testing.T, ch <-chan asyncResult) asyncResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no callback")
		return asyncResult{}
	}
}

// TestTrySaveMessageAsync: the try variant queues like SaveMessageAsync
// while there is room, reports false (queueing nothing, never calling done)
// when the queue is full, and answers an invalid message at once.
func TestTrySaveMessageAsync(t *testing.T) {
	s := openTest(t, Options{NoSync: true, MaxBatch: 1, QueueLen: 1})
	// Hold the committer inside a write so the queue fills.
	hold, held := make(chan struct{}), make(chan struct{})
	go s.update(context.Background(), func(*wtx) error {
		close(held)
		<-hold
		return nil
	})
	<-held
	msg := state.NewMessage{From: 1, To: 2, Type: state.MsgSingleText, Content: []byte("x")}
	first := make(chan asyncResult, 1)
	if !s.TrySaveMessageAsync(context.Background(), msg, func(m state.Message, err error) { first <- asyncResult{m, err} }) {
		t.Fatal("refused with room in the queue")
	}
	if s.TrySaveMessageAsync(context.Background(), msg, func(state.Message, error) { t.Error("done called for a refused save") }) {
		t.Fatal("queued with the queue full")
	}
	bad := make(chan asyncResult, 1)
	if !s.TrySaveMessageAsync(context.Background(), state.NewMessage{From: 3, To: 3, Type: state.MsgSingleText, Content: []byte("x")},
		func(m state.Message, err error) { bad <- asyncResult{m, err} }) {
		t.Fatal("an invalid message was refused instead of answered")
	}
	if r := waitResult(t, bad); !errors.Is(r.err, state.ErrInvalid) {
		t.Fatalf("invalid message: err %v, want ErrInvalid", r.err)
	}
	close(hold)
	if r := waitResult(t, first); r.err != nil || r.m.ID != 1 {
		t.Fatalf("queued save: id %d err %v, want id 1", r.m.ID, r.err)
	}
	second := make(chan asyncResult, 1)
	for !s.TrySaveMessageAsync(context.Background(), msg, func(m state.Message, err error) { second <- asyncResult{m, err} }) {
		time.Sleep(time.Millisecond) // the committer is draining the queue
	}
	if r := waitResult(t, second); r.err != nil || r.m.ID != 2 {
		t.Fatalf("second save: id %d err %v, want id 2", r.m.ID, r.err)
	}
}
