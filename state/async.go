package state

import "context"

// MessageQueuer is implemented by stores that can queue a message save and
// report its outcome later, so one caller can keep many saves in flight and
// they share a commit (and its fsync) instead of waiting for one each.
type MessageQueuer interface {
	// SaveMessageAsync queues m as SaveMessage would store it and calls done
	// exactly once with the same result SaveMessage would return, after the
	// message is durable (or failed). Saves queued one after the other from
	// one goroutine are applied, and get their ids, in that order. done may
	// run on the store's own goroutine before or after SaveMessageAsync
	// returns: it must be quick and must not call back into the store.
	// SaveMessageAsync may block while the store's queue is full.
	SaveMessageAsync(ctx context.Context, m NewMessage, done func(Message, error))
}

// MessageTryQueuer is a MessageQueuer that can also queue without ever
// waiting, for callers that must not block (a network loop).
type MessageTryQueuer interface {
	MessageQueuer
	// TrySaveMessageAsync is SaveMessageAsync, except that it reports false,
	// having queued nothing and without calling done, when the queue is
	// full. When it reports true, done is called exactly once.
	TrySaveMessageAsync(ctx context.Context, m NewMessage, done func(Message, error)) bool
}

// SaveMessageAsync queues m on s when s is a MessageQueuer; otherwise it
// calls s.SaveMessage and then done on the caller's goroutine, so the
// ordering promise of MessageQueuer holds for every Store.
func SaveMessageAsync(ctx context.Context, s Store, m NewMessage, done func(Message, error)) {
	if q, ok := s.(MessageQueuer); ok {
		q.SaveMessageAsync(ctx, m, done)
		return
	}
	done(s.SaveMessage(ctx, m))
}
