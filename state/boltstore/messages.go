package boltstore

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	"teamtalk/state"
)

// maxByID caps MessagesByID, as the reference does.
const maxByID = 100

// encodeMsg builds a message record: u32 from | u8 type | u32 created | content.
func encodeMsg(from uint32, t state.MsgType, created uint32, content []byte) []byte {
	v := make([]byte, 9, 9+len(content))
	binary.BigEndian.PutUint32(v, from)
	v[4] = byte(t)
	binary.BigEndian.PutUint32(v[5:], created)
	return append(v, content...)
}

// decodeMsg decodes a message record; to is the peer user or group, id the
// message id. The content is copied out of the transaction's memory.
func decodeMsg(v []byte, to, id uint32) (state.Message, error) {
	if len(v) < 9 {
		return state.Message{}, fmt.Errorf("boltstore: message %d/%d: short record (%d bytes)", to, id, len(v))
	}
	return state.Message{
		ID:      id,
		From:    binary.BigEndian.Uint32(v),
		To:      to,
		Type:    state.MsgType(v[4]),
		Created: binary.BigEndian.Uint32(v[5:]),
		Content: append([]byte(nil), v[9:]...),
	}, nil
}

func pair(a, b uint32) (small, big uint32) {
	if a < b {
		return a, b
	}
	return b, a
}

// singleMsg returns the message id of the pair (user, peer), seen from user:
// To is the other party of the sender.
func (r *rtx) singleMsg(user, peer, id uint32) (state.Message, bool, error) {
	if id == 0 {
		return state.Message{}, false, nil
	}
	s, b := pair(user, peer)
	var v []byte
	err := r.singleDesc(s, b, id, func(got uint32, rec []byte) (bool, error) {
		if got == id {
			v = rec
		}
		return false, nil
	})
	if err != nil || v == nil {
		return state.Message{}, false, err
	}
	m, err := decodeSingleMsg(v, user, peer, id)
	return m, err == nil, err
}

// decodeSingleMsg decodes message id of user's conversation with peer: To
// is the other party of the sender.
func decodeSingleMsg(v []byte, user, peer, id uint32) (state.Message, error) {
	m, err := decodeMsg(v, user, id)
	if err == nil && m.From == user {
		m.To = peer
	}
	return m, err
}

func (r *rtx) groupMsg(gid, id uint32) (state.Message, bool, error) {
	v := r.get(bGroupMessages, key(gid, id))
	if v == nil {
		return state.Message{}, false, nil
	}
	m, err := decodeMsg(v, gid, id)
	return m, err == nil, err
}

// lastSingleID is the newest message id of the pair (0 if none).
func (r *rtx) lastSingleID(a, b uint32) uint32 {
	s, bg := pair(a, b)
	return decodeRelation(r.get(bRelations, key(s, bg))).last
}

// latest returns the newest message of userID's conversation; ok is false
// when there is none.
func (r *rtx) latest(userID uint32, st state.SessionType, sid uint32) (state.Message, bool, error) {
	switch st {
	case state.SessionSingle:
		id := r.lastSingleID(userID, sid)
		if id == 0 {
			return state.Message{}, false, nil
		}
		return r.singleMsg(userID, sid, id)
	case state.SessionGroup:
		g, err := r.group(sid)
		if err != nil || g.LatestMsgID == 0 {
			return state.Message{}, false, nil
		}
		return r.groupMsg(sid, g.LatestMsgID)
	}
	return state.Message{}, false, nil
}

// sessionRecord is u8 status | u32 created | u32 updated.
type sessionRecord struct {
	status, created, updated uint32
}

func sessionKey(user uint32, st state.SessionType, peer uint32) []byte {
	k := make([]byte, 9)
	binary.BigEndian.PutUint32(k, user)
	k[4] = byte(st)
	binary.BigEndian.PutUint32(k[5:], peer)
	return k
}

func decodeSession(v []byte) sessionRecord {
	if len(v) < 9 {
		return sessionRecord{}
	}
	return sessionRecord{status: uint32(v[0]), created: binary.BigEndian.Uint32(v[1:]), updated: binary.BigEndian.Uint32(v[5:])}
}

func (rec sessionRecord) encode() []byte {
	v := make([]byte, 9)
	v[0] = byte(rec.status)
	binary.BigEndian.PutUint32(v[1:], rec.created)
	binary.BigEndian.PutUint32(v[5:], rec.updated)
	return v
}

// touchSession makes user's session with peer visible and at least as recent
// as t.
func (w *wtx) touchSession(user uint32, st state.SessionType, peer, t uint32) error {
	k := sessionKey(user, st, peer)
	rec := sessionRecord{created: t, updated: t}
	if v := w.get(bSessions, k); v != nil {
		old := decodeSession(v)
		if old.status == 0 && old.updated >= t {
			return nil // visible and recent already: a busy group's members are touched once a second
		}
		rec.created = old.created
		rec.updated = max(old.updated, t)
	}
	return w.putRaw(bSessions, k, rec.encode()) // keeps a group's mark true
}

// SaveMessage implements state.Store.
func (s *Store) SaveMessage(ctx context.Context, nm state.NewMessage) (state.Message, error) {
	if err := nm.Validate(); err != nil {
		return state.Message{}, fmt.Errorf("boltstore: save message: %w", err)
	}
	m := s.newMsg(nm)
	if err := s.update(ctx, m.write()); err != nil {
		return state.Message{}, fmt.Errorf("boltstore: save message %d→%d: %w", nm.From, nm.To, err)
	}
	return m.Message, nil
}

// SaveMessageAsync implements state.MessageQueuer: the save joins the
// committer's queue, and done runs on the answerer goroutine after the
// batch holding it is durable (batches are answered in commit order).
func (s *Store) SaveMessageAsync(ctx context.Context, nm state.NewMessage, done func(state.Message, error)) {
	s.queueMsg(ctx, nm, done, true)
}

// TrySaveMessageAsync implements state.MessageTryQueuer: SaveMessageAsync
// that reports false instead of waiting while the committer's queue is full.
func (s *Store) TrySaveMessageAsync(ctx context.Context, nm state.NewMessage, done func(state.Message, error)) bool {
	return s.queueMsg(ctx, nm, done, false)
}

// queueMsg queues the save of nm for the committer (waiting while the queue
// is full if wait is set); done gets the outcome. An invalid nm, a done ctx
// or a closed store has done called at once. It reports false, having
// queued nothing and called nothing, when it did not wait for a full queue.
func (s *Store) queueMsg(ctx context.Context, nm state.NewMessage, done func(state.Message, error), wait bool) bool {
	if err := nm.Validate(); err != nil {
		done(state.Message{}, fmt.Errorf("boltstore: save message: %w", err))
		return true
	}
	m := s.newMsg(nm)
	req := &request{ctx: ctx, fn: m.write(), cb: func(err error) {
		if err != nil {
			done(state.Message{}, fmt.Errorf("boltstore: save message %d→%d: %w", nm.From, nm.To, err))
			return
		}
		done(m.Message, nil)
	}}
	if err := ctx.Err(); err != nil {
		req.cb(err)
		return true
	}
	queued, err := s.enqueue(req, wait)
	if err != nil {
		req.cb(err)
		return true
	}
	return queued
}

// pendingMsg is a message on its way to the committer; write fills its ID.
type pendingMsg struct{ state.Message }

func (s *Store) newMsg(nm state.NewMessage) *pendingMsg {
	if nm.Created == 0 {
		nm.Created = s.now()
	}
	return &pendingMsg{state.Message{From: nm.From, To: nm.To, Type: nm.Type, Created: nm.Created, Content: nm.Content}}
}

// write is the committer's function storing m.
func (m *pendingMsg) write() func(*wtx) error {
	if m.Type.IsGroup() {
		return func(w *wtx) error { return w.saveGroupMsg(&m.Message) }
	}
	return func(w *wtx) error { return w.saveSingleMsg(&m.Message) }
}

func (w *wtx) saveSingleMsg(m *state.Message) error {
	small, big := pair(m.From, m.To)
	rel := relation{created: m.Created}
	if v := w.get(bRelations, key(small, big)); v != nil {
		rel = decodeRelation(v)
	}
	m.ID = rel.last + 1
	if m.ID == 0 {
		return fmt.Errorf("%w: message ids of %d/%d exhausted", state.ErrInvalid, small, big)
	}
	if err := w.appendSingle(small, big, m.ID, rel, encodeMsg(m.From, m.Type, m.Created, m.Content)); err != nil {
		return err
	}
	uk := key(m.To, m.From)
	if err := w.put(bUnread, uk, putU32(u32(w.get(bUnread, uk))+1)); err != nil {
		return err
	}
	if err := w.touchSession(m.From, state.SessionSingle, m.To, m.Created); err != nil {
		return err
	}
	return w.touchSession(m.To, state.SessionSingle, m.From, m.Created)
}

func (w *wtx) saveGroupMsg(m *state.Message) error {
	g, err := w.group(m.To)
	if err != nil {
		return err
	}
	if w.get(bGroupMembers, key(g.ID, m.From)) == nil {
		return fmt.Errorf("user %d in group %d: %w", m.From, g.ID, state.ErrNotMember)
	}
	m.ID = g.LatestMsgID + 1
	if m.ID == 0 {
		return fmt.Errorf("%w: message ids of group %d exhausted", state.ErrInvalid, g.ID)
	}
	g.LatestMsgID = m.ID
	g.LastChated = max(g.LastChated, m.Created)
	if err := w.putGroup(g); err != nil {
		return err
	}
	if err := w.put(bGroupMessages, key(g.ID, m.ID), encodeMsg(m.From, m.Type, m.Created, m.Content)); err != nil {
		return err
	}
	// The sender has read everything up to its own message.
	if err := w.put(bUserGroups, key(m.From, g.ID), putU32(m.ID)); err != nil {
		return err
	}
	// Every member's session shows the group at once (the reference ran a
	// 5-second job for this). A busy group's sessions are fresh already: its
	// members are read and touched at most once per second of message time.
	if w.touchedAt(g.ID) >= m.Created {
		return nil
	}
	var members []uint32
	if err := w.prefix(bGroupMembers, key(g.ID), func(k, _ []byte) (bool, error) {
		members = append(members, u32(k[4:]))
		return true, nil
	}); err != nil {
		return err
	}
	for _, u := range members {
		if err := w.touchSession(u, state.SessionGroup, g.ID, m.Created); err != nil {
			return err
		}
	}
	w.markTouched(g.ID, m.Created)
	return nil
}

// joined returns userID's join time in group gid, or ErrNotFound /
// ErrNotMember.
func (r *rtx) joined(gid, userID uint32) (uint32, error) {
	if _, err := r.group(gid); err != nil {
		return 0, err
	}
	v := r.get(bGroupMembers, key(gid, userID))
	if v == nil {
		return 0, fmt.Errorf("user %d in group %d: %w", userID, gid, state.ErrNotMember)
	}
	return u32(v), nil
}

// Messages implements state.Store.
func (s *Store) Messages(ctx context.Context, userID uint32, q state.HistoryQuery) ([]state.Message, error) {
	var out []state.Message
	err := s.view(ctx, func(r *rtx) error {
		if q.Count == 0 {
			return nil
		}
		switch q.Type {
		case state.SessionSingle:
			small, big := pair(userID, q.SessionID)
			return r.singleDesc(small, big, q.BeginID, func(id uint32, v []byte) (bool, error) {
				m, err := decodeSingleMsg(v, userID, q.SessionID, id)
				if err != nil {
					return false, err
				}
				out = append(out, m)
				return uint32(len(out)) < q.Count, nil
			})
		case state.SessionGroup:
		default:
			return fmt.Errorf("%w: session type %d", state.ErrInvalid, q.Type)
		}
		joined, err := r.joined(q.SessionID, userID)
		if err != nil {
			return err
		}
		p := key(q.SessionID)
		var from []byte
		if q.BeginID != 0 {
			from = append(slices.Clone(p), putU32(q.BeginID)...)
		}
		return r.prefixReverse(bGroupMessages, p, from, func(k, v []byte) (bool, error) {
			m, err := decodeMsg(v, q.SessionID, u32(k[len(p):]))
			if err != nil {
				return false, err
			}
			if m.Created < joined {
				// Older than the join: so is everything before it
				// (ids and times grow together, up to clock skew).
				return false, nil
			}
			out = append(out, m)
			return uint32(len(out)) < q.Count, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: history of %d with %d: %w", userID, q.SessionID, err)
	}
	return out, nil
}

// MessagesByID implements state.Store.
func (s *Store) MessagesByID(ctx context.Context, userID uint32, st state.SessionType, sid uint32, ids []uint32) ([]state.Message, error) {
	var out []state.Message
	err := s.view(ctx, func(r *rtx) error {
		var joined uint32
		switch st {
		case state.SessionSingle:
		case state.SessionGroup:
			j, err := r.joined(sid, userID)
			if err != nil {
				return err
			}
			joined = j
		default:
			return fmt.Errorf("%w: session type %d", state.ErrInvalid, st)
		}
		ids = slices.Clone(ids)
		slices.SortFunc(ids, func(a, b uint32) int { return cmp.Compare(b, a) })
		ids = slices.Compact(ids)
		for _, id := range ids {
			var (
				m   state.Message
				ok  bool
				err error
			)
			if st == state.SessionSingle {
				m, ok, err = r.singleMsg(userID, sid, id)
			} else {
				m, ok, err = r.groupMsg(sid, id)
				ok = ok && m.Created >= joined
			}
			if err != nil {
				return err
			}
			if ok {
				out = append(out, m)
				if len(out) == maxByID {
					break
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: messages by id of %d with %d: %w", userID, sid, err)
	}
	return out, nil
}

// LatestMsgID implements state.Store.
func (s *Store) LatestMsgID(ctx context.Context, userID uint32, st state.SessionType, sid uint32) (uint32, error) {
	var id uint32
	err := s.view(ctx, func(r *rtx) error {
		switch st {
		case state.SessionSingle:
			id = r.lastSingleID(userID, sid)
		case state.SessionGroup:
			g, err := r.group(sid)
			if err != nil && !errorsIsNotFound(err) {
				return err
			}
			id = g.LatestMsgID
		default:
			return fmt.Errorf("%w: session type %d", state.ErrInvalid, st)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("boltstore: latest msg id: %w", err)
	}
	return id, nil
}
