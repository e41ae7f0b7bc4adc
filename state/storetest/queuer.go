package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"teamtalk/state"
)

// Queuer is a store with asynchronous saves, as a backend's own tests hold it.
type Queuer interface {
	state.Store
	state.MessageQueuer
}

type queued struct {
	m   state.Message
	err error
}

// answer returns the next answer on ch, failing t when none comes in time.
func answer(t *testing.T, ch <-chan queued) queued {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("no callback")
		return queued{}
	}
}

// QueuedSaveCanceledAndClosed checks that a save queued with a done context
// is answered context.Canceled, then closes s and checks that a save is
// answered state.ErrClosed.
func QueuedSaveCanceledAndClosed(t *testing.T, s Queuer) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan queued, 2)
	m := state.NewMessage{From: 1, To: 2, Type: state.MsgSingleText, Content: []byte("x")}
	s.SaveMessageAsync(ctx, m, func(m state.Message, err error) { done <- queued{m, err} })
	if r := answer(t, done); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("canceled: %v", r.err)
	}
	s.Close()
	s.SaveMessageAsync(context.Background(), m, func(m state.Message, err error) { done <- queued{m, err} })
	if r := answer(t, done); !errors.Is(r.err, state.ErrClosed) {
		t.Fatalf("closed: %v", r.err)
	}
}

// QueuedSaveCallbackPanic checks that a panicking callback does not stop
// the committer of s (an empty store).
func QueuedSaveCallbackPanic(t *testing.T, s Queuer) {
	m := state.NewMessage{From: 1, To: 2, Type: state.MsgSingleText, Content: []byte("x")}
	s.SaveMessageAsync(t.Context(), m, func(state.Message, error) { panic("boom") })
	got, err := s.SaveMessage(t.Context(), m)
	if err != nil || got.ID != 2 {
		t.Fatalf("after a panicking callback: %+v, %v", got, err)
	}
}
