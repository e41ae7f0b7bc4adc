package mysqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"teamtalk/state"
)

// maxByID caps MessagesByID, as the reference does.
const maxByID = 100

func pair(a, b uint32) (small, big uint32) {
	if a < b {
		return a, b
	}
	return b, a
}

// sessionKey routes a conversation to its committer.
func sessionKey(m state.NewMessage) uint64 {
	var h uint64
	if m.Type.IsGroup() {
		h = 1<<63 | uint64(m.To)
	} else {
		small, big := pair(m.From, m.To)
		h = uint64(small)<<32 | uint64(big)
	}
	h *= 0x9E3779B97F4A7C15
	return h ^ h>>29
}

// SaveMessage implements state.Store. The message goes to its
// conversation's committer, which stores it with other messages in one
// transaction (group commit) and allocates its id there; SaveMessage
// returns after that transaction committed. Content must be UTF-8 of at
// most 4096 characters (the content column of TeamTalk's schema; clients
// send base64 text).
func (s *Store) SaveMessage(ctx context.Context, nm state.NewMessage) (state.Message, error) {
	m, req, err := s.prepareMessage(ctx, nm)
	if err == nil {
		err = s.wait(ctx, sessionKey(nm), req)
	}
	if err != nil {
		return state.Message{}, saveErr(nm, err)
	}
	return *m, nil
}

var _ state.MessageQueuer = (*Store)(nil)

// SaveMessageAsync implements state.MessageQueuer: it checks the message,
// creates the pair's relation on its first message (waiting for that
// small transaction), queues the message on its conversation's committer
// (blocking while that queue is full) and returns; done runs on the
// committer's goroutine after the batch holding the message committed,
// with what SaveMessage would have returned.
func (s *Store) SaveMessageAsync(ctx context.Context, nm state.NewMessage, done func(state.Message, error)) {
	m, req, err := s.prepareMessage(ctx, nm)
	if err != nil {
		done(state.Message{}, saveErr(nm, err))
		return
	}
	req.finish = func(err error) {
		if err != nil {
			done(state.Message{}, saveErr(nm, err))
			return
		}
		done(*m, nil)
	}
	if err := s.submit(ctx, sessionKey(nm), req); err != nil {
		done(state.Message{}, saveErr(nm, err))
	}
}

func saveErr(nm state.NewMessage, err error) error {
	return fmt.Errorf("mysqlstore: save message %d→%d: %w", nm.From, nm.To, err)
}

// prepareMessage checks nm and makes its committer request (without
// finish): a one-to-one message is validated here, so that once queued it
// cannot be refused and is written in bulk; a group message checks its
// group and sender in the batch, behind a savepoint.
func (s *Store) prepareMessage(ctx context.Context, nm state.NewMessage) (*state.Message, *request, error) {
	if err := nm.Validate(); err != nil {
		return nil, nil, err
	}
	if !utf8.Valid(nm.Content) || utf8.RuneCount(nm.Content) > state.MaxContentLen {
		return nil, nil, fmt.Errorf("%w: content is not UTF-8 of at most %d characters", state.ErrInvalid, state.MaxContentLen)
	}
	if err := s.guard(); err != nil {
		return nil, nil, err
	}
	if nm.Created == 0 {
		nm.Created = s.now()
	}
	m := &state.Message{From: nm.From, To: nm.To, Type: nm.Type, Created: nm.Created, Content: nm.Content}
	if nm.Type.IsGroup() {
		return m, &request{ctx: ctx, fn: func(q *txq) error { return saveGroup(q, m) }}, nil
	}
	rel, err := s.relation(ctx, nm.From, nm.To, nm.Created)
	if err != nil {
		return nil, nil, err
	}
	return m, &request{ctx: ctx, single: &pendingSingle{rel: rel, m: m}}, nil
}

// relation returns the pair's relation id, creating the relation and its
// seeded counter row in a transaction of their own when the pair first
// talks, so message batches only ever update existing rows.
func (s *Store) relation(ctx context.Context, a, b, now uint32) (uint32, error) {
	small, big := pair(a, b)
	k := [2]uint32{small, big}
	s.relsMu.RLock()
	rel, ok := s.rels[k]
	s.relsMu.RUnlock()
	if ok {
		return rel, nil
	}
	s.relMu.Lock()
	defer s.relMu.Unlock()
	err := s.txnIso(ctx, repeatableRead, func(q *txq) error {
		var err error
		if rel, err = relationTx(q, a, b, now); err != nil {
			return err
		}
		_, err = q.exec(`INSERT INTO tt_msg_counter (relateId, lastMsgId)
SELECT ?, COALESCE(MAX(msgId), 0) FROM `+msgTable(rel)+` WHERE relateId = ?
ON DUPLICATE KEY UPDATE lastMsgId = lastMsgId`, rel, rel)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("relation %d/%d: %w", small, big, err)
	}
	s.relsMu.Lock()
	if len(s.rels) >= maxCachedRels {
		clear(s.rels)
	}
	s.rels[k] = rel
	s.relsMu.Unlock()
	return rel, nil
}

// relationTx returns the pair's IMRelationShip id, creating the row (or
// reviving an inactive one) under lock.
func relationTx(q *txq, a, b, now uint32) (uint32, error) {
	small, big := pair(a, b)
	var (
		id     uint32
		status uint8
	)
	err := q.queryRow(`SELECT id, COALESCE(status, 0) FROM IMRelationShip WHERE smallId = ? AND bigId = ?
ORDER BY status, id LIMIT 1 FOR UPDATE`, small, big).Scan(&id, &status)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		res, err := q.exec(`INSERT INTO IMRelationShip (smallId, bigId, status, created, updated) VALUES (?, ?, 0, ?, ?)`, small, big, now, now)
		if err != nil {
			return 0, fmt.Errorf("insert relation: %w", err)
		}
		n, err := res.LastInsertId()
		return uint32(n), err
	case err != nil:
		return 0, fmt.Errorf("relation: %w", err)
	case status != 0:
		if _, err := q.exec(`UPDATE IMRelationShip SET status = 0, updated = ? WHERE id = ?`, now, id); err != nil {
			return 0, fmt.Errorf("revive relation: %w", err)
		}
	}
	return id, nil
}

// nextMsgID allocates the next message id of a conversation from its
// counter row (tt_msg_counter or tt_group_counter), seeding a missing row
// from the highest msgId already stored in the conversation's shard, so ids
// of an existing TeamTalk database are never reused. The row stays locked
// until the transaction ends.
func nextMsgID(q *txq, counter, keyCol string, key uint32, shard, shardKey string) (uint32, error) {
	res, err := q.exec(`UPDATE `+counter+` SET lastMsgId = LAST_INSERT_ID(lastMsgId + 1) WHERE `+keyCol+` = ?`, key)
	if err != nil {
		return 0, fmt.Errorf("next msg id: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return 0, err
	} else if n == 1 {
		id, err := res.LastInsertId()
		return uint32(id), err
	}
	var last uint32
	if err := q.queryRow(`SELECT COALESCE(MAX(msgId), 0) FROM `+shard+` WHERE `+shardKey+` = ?`, key).Scan(&last); err != nil {
		return 0, fmt.Errorf("seed msg id: %w", err)
	}
	if last == ^uint32(0) {
		return 0, fmt.Errorf("%w: message ids of %s %d exhausted", state.ErrInvalid, keyCol, key)
	}
	if _, err := q.exec(`INSERT INTO `+counter+` (`+keyCol+`, lastMsgId) VALUES (?, ?)
ON DUPLICATE KEY UPDATE lastMsgId = GREATEST(lastMsgId + 1, VALUES(lastMsgId))`, key, last+1); err != nil {
		return 0, fmt.Errorf("seed msg id: %w", err)
	}
	var id uint32
	if err := q.queryRow(`SELECT lastMsgId FROM `+counter+` WHERE `+keyCol+` = ?`, key).Scan(&id); err != nil {
		return 0, fmt.Errorf("seed msg id: %w", err)
	}
	return id, nil
}

// touchSession makes user's session with peer visible and at least as
// recent as t, creating it if needed. Duplicate rows (possible in databases
// written by other tools) are all updated alike.
func touchSession(q *txq, user uint32, st state.SessionType, peer, t uint32) error {
	n, err := q.affected(`UPDATE IMRecentSession SET status = 0, updated = GREATEST(updated, ?)
WHERE userId = ? AND peerId = ? AND type = ?`, t, user, peer, st)
	if err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	if n > 0 {
		return nil
	}
	if _, err := q.exec(`INSERT INTO IMRecentSession (userId, peerId, type, status, created, updated) VALUES (?, ?, ?, 0, ?, ?)`,
		user, peer, st, t, t); err != nil {
		return fmt.Errorf("insert session: %w", err)
	}
	return nil
}

func saveSingle(q *txq, rel uint32, m *state.Message) error {
	var err error
	if m.ID, err = nextMsgID(q, "tt_msg_counter", "relateId", rel, msgTable(rel), "relateId"); err != nil {
		return err
	}
	if _, err := q.exec(`INSERT INTO `+msgTable(rel)+` (relateId, fromId, toId, msgId, content, type, status, updated, created)
VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)`, rel, m.From, m.To, m.ID, string(m.Content), uint8(m.Type), m.Created, m.Created); err != nil {
		return fmt.Errorf("insert message: %w", err)
	}
	if _, err := q.exec(`INSERT INTO tt_unread (userId, peerId, cnt) VALUES (?, ?, 1) ON DUPLICATE KEY UPDATE cnt = cnt + 1`,
		m.To, m.From); err != nil {
		return fmt.Errorf("count unread: %w", err)
	}
	if err := touchSession(q, m.From, state.SessionSingle, m.To, m.Created); err != nil {
		return err
	}
	return touchSession(q, m.To, state.SessionSingle, m.From, m.Created)
}

func saveGroup(q *txq, m *state.Message) error {
	gid := m.To
	var one int
	err := q.queryRow(`SELECT 1 FROM IMGroup WHERE id = ? FOR UPDATE`, gid).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("group %d: %w", gid, state.ErrNotFound)
	} else if err != nil {
		return fmt.Errorf("group: %w", err)
	}
	err = q.queryRow(`SELECT 1 FROM IMGroupMember WHERE groupId = ? AND userId = ? AND status = 0 LIMIT 1`, gid, m.From).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("user %d in group %d: %w", m.From, gid, state.ErrNotMember)
	} else if err != nil {
		return fmt.Errorf("membership: %w", err)
	}
	if m.ID, err = nextMsgID(q, "tt_group_counter", "groupId", gid, groupMsgTable(gid), "groupId"); err != nil {
		return err
	}
	if _, err := q.exec(`INSERT INTO `+groupMsgTable(gid)+` (groupId, userId, msgId, content, type, status, updated, created)
VALUES (?, ?, ?, ?, ?, 0, ?, ?)`, gid, m.From, m.ID, string(m.Content), uint8(m.Type), m.Created, m.Created); err != nil {
		return fmt.Errorf("insert group message: %w", err)
	}
	if _, err := q.exec(`UPDATE IMGroup SET lastChated = GREATEST(lastChated, ?) WHERE id = ?`, m.Created, gid); err != nil {
		return fmt.Errorf("group last chated: %w", err)
	}
	// The sender has read everything up to its own message.
	if _, err := q.exec(`INSERT INTO tt_group_read (userId, groupId, msgId) VALUES (?, ?, ?)
ON DUPLICATE KEY UPDATE msgId = GREATEST(msgId, VALUES(msgId))`, m.From, gid, m.ID); err != nil {
		return fmt.Errorf("sender read marker: %w", err)
	}
	// Every member's session shows the group at once (the reference ran a
	// 5-second job for this): two set-based statements, whatever the size.
	if _, err := q.exec(`UPDATE IMRecentSession r JOIN IMGroupMember gm ON gm.userId = r.userId AND gm.groupId = ? AND gm.status = 0
SET r.status = 0, r.updated = GREATEST(r.updated, ?) WHERE r.peerId = ? AND r.type = ?`, gid, m.Created, gid, state.SessionGroup); err != nil {
		return fmt.Errorf("touch group sessions: %w", err)
	}
	if _, err := q.exec(`INSERT INTO IMRecentSession (userId, peerId, type, status, created, updated)
SELECT DISTINCT gm.userId, ?, ?, 0, ?, ? FROM IMGroupMember gm WHERE gm.groupId = ? AND gm.status = 0
AND NOT EXISTS (SELECT 1 FROM IMRecentSession r WHERE r.userId = gm.userId AND r.peerId = ? AND r.type = ?)`,
		gid, state.SessionGroup, m.Created, m.Created, gid, gid, state.SessionGroup); err != nil {
		return fmt.Errorf("insert group sessions: %w", err)
	}
	return nil
}

// relationID returns the pair's relation id (0 when the pair never talked).
func (s *Store) relationID(ctx context.Context, a, b uint32) (uint32, error) {
	small, big := pair(a, b)
	var id uint32
	err := s.db.QueryRowContext(ctx, `SELECT id FROM IMRelationShip WHERE smallId = ? AND bigId = ? ORDER BY status, id LIMIT 1`,
		small, big).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return id, closedErr(err)
}

// joined returns userID's join time in gid (ErrNotFound, ErrNotMember).
func (s *Store) joined(ctx context.Context, gid, userID uint32) (uint32, error) {
	var j sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT (SELECT MAX(updated) FROM IMGroupMember WHERE groupId = g.id AND userId = ? AND status = 0)
FROM IMGroup g WHERE g.id = ?`, userID, gid).Scan(&j)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("group %d: %w", gid, state.ErrNotFound)
	}
	if err != nil {
		return 0, closedErr(err)
	}
	if !j.Valid {
		return 0, fmt.Errorf("user %d in group %d: %w", userID, gid, state.ErrNotMember)
	}
	return uint32(j.Int64), nil
}

const singleCols = `fromId, toId, msgId, COALESCE(content, ''), type, created`

const groupCols = `userId, groupId, msgId, content, type, created`

// queryMsgs collects messages selected with singleCols or groupCols,
// dropping repeated ids (a database whose ids were reused by the
// reference) after the first.
func (s *Store) queryMsgs(ctx context.Context, query string, args ...any) ([]state.Message, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, closedErr(err)
	}
	defer rows.Close()
	var out []state.Message
	for rows.Next() {
		var (
			m   state.Message
			typ uint8
		)
		if err := rows.Scan(&m.From, &m.To, &m.ID, &m.Content, &typ, &m.Created); err != nil {
			return nil, err
		}
		m.Type = state.MsgType(typ)
		if n := len(out); n > 0 && out[n-1].ID == m.ID {
			continue
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Messages implements state.Store.
func (s *Store) Messages(ctx context.Context, userID uint32, q state.HistoryQuery) ([]state.Message, error) {
	if err := s.guard(); err != nil {
		return nil, err
	}
	out, err := s.history(ctx, userID, q)
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: history of %d with %d: %w", userID, q.SessionID, err)
	}
	return out, nil
}

func (s *Store) history(ctx context.Context, userID uint32, q state.HistoryQuery) ([]state.Message, error) {
	begin := q.BeginID
	if begin == 0 {
		begin = ^uint32(0)
	}
	switch q.Type {
	case state.SessionSingle:
		if q.Count == 0 {
			return nil, nil
		}
		rel, err := s.relationID(ctx, userID, q.SessionID)
		if err != nil || rel == 0 {
			return nil, err
		}
		return s.queryMsgs(ctx, `SELECT `+singleCols+` FROM `+msgTable(rel)+`
WHERE relateId = ? AND status = 0 AND msgId <= ? ORDER BY msgId DESC, id DESC LIMIT ?`, rel, begin, q.Count)
	case state.SessionGroup:
		joined, err := s.joined(ctx, q.SessionID, userID)
		if err != nil || q.Count == 0 {
			return nil, err
		}
		return s.queryMsgs(ctx, `SELECT `+groupCols+` FROM `+groupMsgTable(q.SessionID)+`
WHERE groupId = ? AND status = 0 AND msgId <= ? AND created >= ? ORDER BY msgId DESC, id DESC LIMIT ?`,
			q.SessionID, begin, joined, q.Count)
	}
	return nil, fmt.Errorf("%w: session type %d", state.ErrInvalid, q.Type)
}

// MessagesByID implements state.Store.
func (s *Store) MessagesByID(ctx context.Context, userID uint32, st state.SessionType, sid uint32, ids []uint32) ([]state.Message, error) {
	if err := s.guard(); err != nil {
		return nil, err
	}
	out, err := s.byID(ctx, userID, st, sid, ids)
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: messages by id of %d with %d: %w", userID, sid, err)
	}
	return out, nil
}

func (s *Store) byID(ctx context.Context, userID uint32, st state.SessionType, sid uint32, ids []uint32) ([]state.Message, error) {
	var query string
	var key, joined uint32
	switch st {
	case state.SessionSingle:
		rel, err := s.relationID(ctx, userID, sid)
		if err != nil || rel == 0 {
			return nil, err
		}
		key = rel
		query = `SELECT ` + singleCols + ` FROM ` + msgTable(rel) + ` WHERE relateId = ? AND status = 0 AND msgId IN (%s) ORDER BY msgId DESC, id DESC`
	case state.SessionGroup:
		j, err := s.joined(ctx, sid, userID)
		if err != nil {
			return nil, err
		}
		key, joined = sid, j
		query = `SELECT ` + groupCols + ` FROM ` + groupMsgTable(sid) + ` WHERE groupId = ? AND status = 0 AND created >= ? AND msgId IN (%s) ORDER BY msgId DESC, id DESC`
	default:
		return nil, fmt.Errorf("%w: session type %d", state.ErrInvalid, st)
	}
	ids = slices.Clone(ids)
	slices.SortFunc(ids, func(a, b uint32) int { return cmp.Compare(b, a) })
	ids = slices.Compact(ids)
	var out []state.Message
	const chunk = 200
	for lo := 0; lo < len(ids) && len(out) < maxByID; lo += chunk {
		part := ids[lo:min(lo+chunk, len(ids))]
		args := []any{key}
		if st == state.SessionGroup {
			args = append(args, joined)
		}
		ms, err := s.queryMsgs(ctx, fmt.Sprintf(query, placeholders(len(part))), append(args, u32Args(part)...)...)
		if err != nil {
			return nil, err
		}
		out = append(out, ms...)
	}
	if len(out) > maxByID {
		out = out[:maxByID]
	}
	return out, nil
}

// latestSingleID is the newest message id of a relation (0 if none): the
// counter, or the stored maximum before this store wrote to the pair.
func (s *Store) latestSingleID(ctx context.Context, rel uint32) (uint32, error) {
	var id uint32
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE((SELECT lastMsgId FROM tt_msg_counter WHERE relateId = ?),
(SELECT MAX(msgId) FROM `+msgTable(rel)+` WHERE relateId = ?), 0)`, rel, rel).Scan(&id)
	return id, closedErr(err)
}

// latestGroupID is the newest message id of a group (0 if none).
func (s *Store) latestGroupID(ctx context.Context, gid uint32) (uint32, error) {
	var id uint32
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE((SELECT lastMsgId FROM tt_group_counter WHERE groupId = ?),
(SELECT MAX(msgId) FROM `+groupMsgTable(gid)+` WHERE groupId = ?), 0)`, gid, gid).Scan(&id)
	return id, closedErr(err)
}

// LatestMsgID implements state.Store.
func (s *Store) LatestMsgID(ctx context.Context, userID uint32, st state.SessionType, sid uint32) (uint32, error) {
	if err := s.guard(); err != nil {
		return 0, err
	}
	var (
		id  uint32
		err error
	)
	switch st {
	case state.SessionSingle:
		var rel uint32
		if rel, err = s.relationID(ctx, userID, sid); err == nil && rel != 0 {
			id, err = s.latestSingleID(ctx, rel)
		}
	case state.SessionGroup:
		id, err = s.latestGroupID(ctx, sid)
	default:
		err = fmt.Errorf("%w: session type %d", state.ErrInvalid, st)
	}
	if err != nil {
		return 0, fmt.Errorf("mysqlstore: latest msg id: %w", err)
	}
	return id, nil
}

// latest returns the newest message of userID's conversation; ok is false
// when there is none.
func (s *Store) latest(ctx context.Context, userID uint32, st state.SessionType, sid uint32) (state.Message, bool, error) {
	var ms []state.Message
	var err error
	switch st {
	case state.SessionSingle:
		var rel uint32
		if rel, err = s.relationID(ctx, userID, sid); err != nil || rel == 0 {
			return state.Message{}, false, err
		}
		ms, err = s.queryMsgs(ctx, `SELECT `+singleCols+` FROM `+msgTable(rel)+`
WHERE relateId = ? AND status = 0 ORDER BY msgId DESC, id DESC LIMIT 1`, rel)
	case state.SessionGroup:
		ms, err = s.queryMsgs(ctx, `SELECT `+groupCols+` FROM `+groupMsgTable(sid)+`
WHERE groupId = ? AND status = 0 ORDER BY msgId DESC, id DESC LIMIT 1`, sid)
	}
	if err != nil || len(ms) == 0 {
		return state.Message{}, false, err
	}
	return ms[0], true, nil
}
