package boltstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"teamtalk/state"
)

// unreadOf returns userID's unread count in one conversation.
func (r *rtx) unreadOf(userID uint32, st state.SessionType, sid uint32) (uint32, error) {
	if st == state.SessionSingle {
		return u32(r.get(bUnread, key(userID, sid))), nil
	}
	marker := r.get(bUserGroups, key(userID, sid))
	if marker == nil {
		return 0, nil
	}
	g, err := r.group(sid)
	if err != nil {
		return 0, err
	}
	if g.LatestMsgID <= u32(marker) {
		return 0, nil
	}
	return g.LatestMsgID - u32(marker), nil
}

// eachUnread calls fn for every conversation of userID with unread messages:
// singles by peer id, then groups by group id.
func (r *rtx) eachUnread(userID uint32, fn func(st state.SessionType, sid, n uint32) error) error {
	if err := r.prefix(bUnread, key(userID), func(k, v []byte) (bool, error) {
		if n := u32(v); n > 0 {
			return true, fn(state.SessionSingle, u32(k[4:]), n)
		}
		return true, nil
	}); err != nil {
		return err
	}
	return r.prefix(bUserGroups, key(userID), func(k, v []byte) (bool, error) {
		gid := u32(k[4:])
		g, err := r.group(gid)
		if err != nil {
			return false, err
		}
		if g.LatestMsgID > u32(v) {
			return true, fn(state.SessionGroup, gid, g.LatestMsgID-u32(v))
		}
		return true, nil
	})
}

// Unread implements state.Store.
func (s *Store) Unread(ctx context.Context, userID uint32) ([]state.Unread, error) {
	var out []state.Unread
	err := s.view(ctx, func(r *rtx) error {
		return r.eachUnread(userID, func(st state.SessionType, sid, n uint32) error {
			m, ok, err := r.latest(userID, st, sid)
			if err != nil || !ok {
				return err
			}
			out = append(out, state.Unread{Type: st, SessionID: sid, Count: n, Latest: m})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: unread of %d: %w", userID, err)
	}
	return out, nil
}

// UnreadTotal implements state.Store.
func (s *Store) UnreadTotal(ctx context.Context, userID uint32) (uint32, error) {
	var total uint32
	err := s.view(ctx, func(r *rtx) error {
		return r.eachUnread(userID, func(_ state.SessionType, _, n uint32) error {
			total += n
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("boltstore: unread total of %d: %w", userID, err)
	}
	return total, nil
}

// MarkRead implements state.Store.
func (s *Store) MarkRead(ctx context.Context, userID uint32, st state.SessionType, sid, msgID uint32) error {
	var fn func(w *wtx) error
	switch st {
	case state.SessionSingle:
		fn = func(w *wtx) error { return w.markSingleRead(userID, sid, msgID) }
	case state.SessionGroup:
		fn = func(w *wtx) error {
			if _, err := w.joined(sid, userID); err != nil {
				return err
			}
			return w.markGroupRead(userID, sid, msgID)
		}
	default:
		return fmt.Errorf("boltstore: read ack: %w: session type %d", state.ErrInvalid, st)
	}
	if err := s.update(ctx, fn); err != nil {
		return fmt.Errorf("boltstore: read ack of %d for %d: %w", userID, sid, err)
	}
	return nil
}

// markSingleRead leaves unread only the peer's messages newer than msgID (0:
// none).
func (w *wtx) markSingleRead(userID, peer, msgID uint32) error {
	uk := key(userID, peer)
	cur := u32(w.get(bUnread, uk))
	if cur == 0 {
		return nil
	}
	last := w.lastSingleID(userID, peer)
	if msgID == 0 || msgID >= last {
		return w.del(bUnread, uk)
	}
	small, big := pair(userID, peer)
	var newer uint32
	err := w.singleDesc(small, big, 0, func(id uint32, rec []byte) (bool, error) {
		if id <= msgID {
			return false, nil
		}
		if u32(rec) == peer {
			newer++
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	if n := min(cur, newer); n > 0 {
		return w.put(bUnread, uk, putU32(n))
	}
	return w.del(bUnread, uk)
}

// markGroupRead moves userID's read marker of gid up to msgID (0: the
// newest); it never moves back.
func (w *wtx) markGroupRead(userID, gid, msgID uint32) error {
	g, err := w.group(gid)
	if err != nil {
		return err
	}
	mark := g.LatestMsgID
	if msgID != 0 && msgID < mark {
		mark = msgID
	}
	mk := key(userID, gid)
	if old := w.get(bUserGroups, mk); old != nil && u32(old) >= mark {
		return nil
	}
	return w.put(bUserGroups, mk, putU32(mark))
}

// RecentSessions implements state.Store.
func (s *Store) RecentSessions(ctx context.Context, userID, since uint32, limit int) ([]state.Session, error) {
	var out []state.Session
	err := s.view(ctx, func(r *rtx) error {
		var all []state.Session
		if err := r.prefix(bSessions, key(userID), func(k, v []byte) (bool, error) {
			rec := decodeSession(v)
			if rec.status == 0 && rec.updated > since {
				all = append(all, state.Session{Type: state.SessionType(k[4]), PeerID: u32(k[5:]), Updated: rec.updated})
			}
			return true, nil
		}); err != nil {
			return err
		}
		slices.SortStableFunc(all, func(a, b state.Session) int {
			return cmp.Or(cmp.Compare(b.Updated, a.Updated), cmp.Compare(b.PeerID, a.PeerID))
		})
		for _, ss := range all {
			m, ok, err := r.latest(userID, ss.Type, ss.PeerID)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			ss.Latest = m
			if ss.Unread, err = r.unreadOf(userID, ss.Type, ss.PeerID); err != nil {
				return err
			}
			out = append(out, ss)
			if limit > 0 && len(out) == limit {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: recent sessions of %d: %w", userID, err)
	}
	return out, nil
}

// RemoveSession implements state.Store.
func (s *Store) RemoveSession(ctx context.Context, userID uint32, st state.SessionType, sid uint32) error {
	if !st.Valid() {
		return fmt.Errorf("boltstore: remove session: %w: session type %d", state.ErrInvalid, st)
	}
	now := s.now()
	err := s.update(ctx, func(w *wtx) error {
		k := sessionKey(userID, st, sid)
		v := w.get(bSessions, k)
		if v == nil || decodeSession(v).status != 0 {
			return fmt.Errorf("session %d/%d: %w", st, sid, state.ErrNotFound)
		}
		rec := decodeSession(v)
		rec.status, rec.updated = 1, max(now, rec.updated)
		if err := w.put(bSessions, k, rec.encode()); err != nil {
			return err
		}
		if st == state.SessionSingle {
			return w.del(bUnread, key(userID, sid))
		}
		if w.get(bUserGroups, key(userID, sid)) == nil {
			return nil
		}
		return w.markGroupRead(userID, sid, 0)
	})
	if err != nil {
		return fmt.Errorf("boltstore: remove session of %d: %w", userID, err)
	}
	return nil
}
