package mysqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"teamtalk/state"
)

// unreadEntry is one conversation's unread count.
type unreadEntry struct {
	st  state.SessionType
	sid uint32
	n   uint32
}

// unreadCounts lists userID's conversations with unread messages: singles
// by peer id (tt_unread), then groups by group id (the group's newest id
// minus the user's read marker in tt_group_read).
func (s *Store) unreadCounts(ctx context.Context, userID uint32) ([]unreadEntry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT peerId, cnt FROM tt_unread WHERE userId = ? AND cnt > 0 ORDER BY peerId`, userID)
	if err != nil {
		return nil, closedErr(err)
	}
	var out []unreadEntry
	for rows.Next() {
		e := unreadEntry{st: state.SessionSingle}
		if err := rows.Scan(&e.sid, &e.n); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	type marker struct{ gid, read uint32 }
	var markers []marker
	rows, err = s.db.QueryContext(ctx, `SELECT groupId, msgId FROM tt_group_read WHERE userId = ? ORDER BY groupId`, userID)
	if err != nil {
		return nil, closedErr(err)
	}
	for rows.Next() {
		var m marker
		if err := rows.Scan(&m.gid, &m.read); err != nil {
			rows.Close()
			return nil, err
		}
		markers = append(markers, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, m := range markers {
		last, err := s.latestGroupID(ctx, m.gid)
		if err != nil {
			return nil, err
		}
		if last > m.read {
			out = append(out, unreadEntry{st: state.SessionGroup, sid: m.gid, n: last - m.read})
		}
	}
	return out, nil
}

// Unread implements state.Store.
func (s *Store) Unread(ctx context.Context, userID uint32) ([]state.Unread, error) {
	if err := s.guard(); err != nil {
		return nil, err
	}
	es, err := s.unreadCounts(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: unread of %d: %w", userID, err)
	}
	var out []state.Unread
	for _, e := range es {
		m, ok, err := s.latest(ctx, userID, e.st, e.sid)
		if err != nil {
			return nil, fmt.Errorf("mysqlstore: unread of %d: %w", userID, err)
		}
		if ok {
			out = append(out, state.Unread{Type: e.st, SessionID: e.sid, Count: e.n, Latest: m})
		}
	}
	return out, nil
}

// UnreadTotal implements state.Store.
func (s *Store) UnreadTotal(ctx context.Context, userID uint32) (uint32, error) {
	if err := s.guard(); err != nil {
		return 0, err
	}
	es, err := s.unreadCounts(ctx, userID)
	if err != nil {
		return 0, fmt.Errorf("mysqlstore: unread total of %d: %w", userID, err)
	}
	var total uint32
	for _, e := range es {
		total += e.n
	}
	return total, nil
}

// MarkRead implements state.Store.
func (s *Store) MarkRead(ctx context.Context, userID uint32, st state.SessionType, sid, msgID uint32) error {
	var err error
	switch st {
	case state.SessionSingle:
		err = s.txn(ctx, func(q *txq) error { return markSingleRead(q, userID, sid, msgID) })
	case state.SessionGroup:
		if _, err = s.joined(ctx, sid, userID); err == nil {
			err = s.txn(ctx, func(q *txq) error { return markGroupRead(q, userID, sid, msgID) })
		}
	default:
		err = fmt.Errorf("%w: session type %d", state.ErrInvalid, st)
	}
	if err != nil {
		return fmt.Errorf("mysqlstore: read ack of %d for %d: %w", userID, sid, err)
	}
	return nil
}

// markSingleRead leaves unread only the peer's messages newer than msgID
// (0: none).
func markSingleRead(q *txq, userID, peer, msgID uint32) error {
	var cur uint32
	err := q.queryRow(`SELECT cnt FROM tt_unread WHERE userId = ? AND peerId = ? FOR UPDATE`, userID, peer).Scan(&cur)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && cur == 0) {
		return nil
	}
	if err != nil {
		return err
	}
	clearAll := func() error {
		_, err := q.exec(`DELETE FROM tt_unread WHERE userId = ? AND peerId = ?`, userID, peer)
		return err
	}
	if msgID == 0 {
		return clearAll()
	}
	small, big := pair(userID, peer)
	var rel uint32
	err = q.queryRow(`SELECT id FROM IMRelationShip WHERE smallId = ? AND bigId = ? ORDER BY status, id LIMIT 1`, small, big).Scan(&rel)
	if errors.Is(err, sql.ErrNoRows) {
		return clearAll()
	} else if err != nil {
		return err
	}
	var newer uint32
	if err := q.queryRow(`SELECT COUNT(*) FROM `+msgTable(rel)+` WHERE relateId = ? AND status = 0 AND msgId > ? AND fromId = ?`,
		rel, msgID, peer).Scan(&newer); err != nil {
		return err
	}
	if n := min(cur, newer); n > 0 {
		_, err := q.exec(`UPDATE tt_unread SET cnt = ? WHERE userId = ? AND peerId = ?`, n, userID, peer)
		return err
	}
	return clearAll()
}

// markGroupRead moves userID's read marker of gid up to msgID (0: the
// newest); it never moves back.
func markGroupRead(q *txq, userID, gid, msgID uint32) error {
	var last uint32
	if err := q.queryRow(`SELECT COALESCE((SELECT lastMsgId FROM tt_group_counter WHERE groupId = ?),
(SELECT MAX(msgId) FROM `+groupMsgTable(gid)+` WHERE groupId = ?), 0)`, gid, gid).Scan(&last); err != nil {
		return err
	}
	mark := last
	if msgID != 0 && msgID < mark {
		mark = msgID
	}
	_, err := q.exec(`INSERT INTO tt_group_read (userId, groupId, msgId) VALUES (?, ?, ?)
ON DUPLICATE KEY UPDATE msgId = GREATEST(msgId, VALUES(msgId))`, userID, gid, mark)
	return err
}

// RecentSessions implements state.Store.
func (s *Store) RecentSessions(ctx context.Context, userID, since uint32, limit int) ([]state.Session, error) {
	if err := s.guard(); err != nil {
		return nil, err
	}
	out, err := s.recent(ctx, userID, since, limit)
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: recent sessions of %d: %w", userID, err)
	}
	return out, nil
}

func (s *Store) recent(ctx context.Context, userID, since uint32, limit int) ([]state.Session, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT type, peerId, MAX(updated) FROM IMRecentSession
WHERE userId = ? AND status = 0 AND updated > ? AND type IN (1, 2) GROUP BY type, peerId`, userID, since)
	if err != nil {
		return nil, closedErr(err)
	}
	var all []state.Session
	for rows.Next() {
		var (
			ss  state.Session
			typ uint8
		)
		if err := rows.Scan(&typ, &ss.PeerID, &ss.Updated); err != nil {
			rows.Close()
			return nil, err
		}
		ss.Type = state.SessionType(typ)
		all = append(all, ss)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.SortStableFunc(all, func(a, b state.Session) int {
		return cmp.Or(cmp.Compare(b.Updated, a.Updated), cmp.Compare(b.PeerID, a.PeerID))
	})
	var out []state.Session
	var counts []unreadEntry
	for _, ss := range all {
		m, ok, err := s.latest(ctx, userID, ss.Type, ss.PeerID)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if counts == nil {
			if counts, err = s.unreadCounts(ctx, userID); err != nil {
				return nil, err
			}
			counts = append(counts, unreadEntry{}) // non-nil from now on
		}
		for _, e := range counts {
			if e.st == ss.Type && e.sid == ss.PeerID {
				ss.Unread = e.n
			}
		}
		ss.Latest = m
		out = append(out, ss)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out, nil
}

// RemoveSession implements state.Store.
func (s *Store) RemoveSession(ctx context.Context, userID uint32, st state.SessionType, sid uint32) error {
	if !st.Valid() {
		return fmt.Errorf("mysqlstore: remove session: %w: session type %d", state.ErrInvalid, st)
	}
	now := s.now()
	err := s.txn(ctx, func(q *txq) error {
		n, err := q.affected(`UPDATE IMRecentSession SET status = 1, updated = GREATEST(updated, ?)
WHERE userId = ? AND peerId = ? AND type = ? AND status = 0`, now, userID, sid, st)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("session %d/%d: %w", st, sid, state.ErrNotFound)
		}
		if st == state.SessionSingle {
			_, err := q.exec(`DELETE FROM tt_unread WHERE userId = ? AND peerId = ?`, userID, sid)
			return err
		}
		var one int
		err = q.queryRow(`SELECT 1 FROM tt_group_read WHERE userId = ? AND groupId = ? FOR UPDATE`, userID, sid).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		} else if err != nil {
			return err
		}
		return markGroupRead(q, userID, sid, 0)
	})
	if err != nil {
		return fmt.Errorf("mysqlstore: remove session of %d: %w", userID, err)
	}
	return nil
}
