package state_test

import (
	"context"
	"errors"
	"testing"

	"teamtalk/state"
)

// syncOnly is a Store that is not a MessageQueuer.
type syncOnly struct {
	state.Store
	saved []state.NewMessage
	err   error
}

func (s *syncOnly) SaveMessage(_ context.Context, m state.NewMessage) (state.Message, error) {
	if s.err != nil {
		return state.Message{}, s.err
	}
	s.saved = append(s.saved, m)
	return state.Message{ID: uint32(len(s.saved)), From: m.From, To: m.To}, nil
}

// queuer records that the asynchronous path was taken.
type queuer struct {
	syncOnly
	queued int
}

func (q *queuer) SaveMessageAsync(_ context.Context, m state.NewMessage, done func(state.Message, error)) {
	q.queued++
	done(state.Message{ID: 99}, nil)
}

func TestSaveMessageAsyncFallback(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		store   state.Store
		wantID  uint32
		wantErr error
	}{
		{"sync store saved in the caller", &syncOnly{}, 1, nil},
		{"sync store error passed on", &syncOnly{err: boom}, 0, boom},
		{"queuer used", &queuer{}, 99, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			var got state.Message
			var gotErr error
			state.SaveMessageAsync(context.Background(), tt.store, state.NewMessage{From: 1, To: 2}, func(m state.Message, err error) {
				calls++
				got, gotErr = m, err
			})
			if calls != 1 || got.ID != tt.wantID || !errors.Is(gotErr, tt.wantErr) {
				t.Fatalf("calls %d, id %d, err %v", calls, got.ID, gotErr)
			}
			if q, ok := tt.store.(*queuer); ok && q.queued != 1 {
				t.Fatalf("queuer not used")
			}
		})
	}
}
