package mysqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"teamtalk/state"
)

// querier is *sql.DB or *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const groupRowCols = `id, name, avatar, creator, type, status, version, lastChated, created, updated`

func scanGroup(sc scanner) (state.Group, error) {
	var (
		g   state.Group
		typ uint8
	)
	err := sc.Scan(&g.ID, &g.Name, &g.Avatar, &g.Creator, &typ, &g.Status, &g.Version, &g.LastChated, &g.Created, &g.Updated)
	g.Type = state.GroupType(typ)
	return g, err
}

// groupLatest is the newest message id of gid (the counter, or the stored
// maximum).
func groupLatest(ctx context.Context, db querier, gid uint32) (uint32, error) {
	var id uint32
	err := db.QueryRowContext(ctx, `SELECT COALESCE((SELECT lastMsgId FROM tt_group_counter WHERE groupId = ?),
(SELECT MAX(msgId) FROM `+groupMsgTable(gid)+` WHERE groupId = ?), 0)`, gid, gid).Scan(&id)
	return id, err
}

// loadGroup reads a group (lock: " FOR UPDATE" or ""), with members when
// asked. Members are the status-0 rows of IMGroupMember, their join time
// the row's updated, their shield from tt_group_shield.
func loadGroup(ctx context.Context, db querier, gid uint32, lock string, members bool) (state.Group, error) {
	g, err := scanGroup(db.QueryRowContext(ctx, `SELECT `+groupRowCols+` FROM IMGroup WHERE id = ?`+lock, gid))
	if errors.Is(err, sql.ErrNoRows) {
		return g, fmt.Errorf("group %d: %w", gid, state.ErrNotFound)
	} else if err != nil {
		return g, closedErr(err)
	}
	if g.LatestMsgID, err = groupLatest(ctx, db, gid); err != nil {
		return g, err
	}
	if !members {
		return g, nil
	}
	rows, err := db.QueryContext(ctx, `SELECT gm.userId, MAX(gm.updated), COALESCE(MAX(sh.shield), 0)
FROM IMGroupMember gm LEFT JOIN tt_group_shield sh ON sh.groupId = gm.groupId AND sh.userId = gm.userId
WHERE gm.groupId = ? AND gm.status = 0 GROUP BY gm.userId ORDER BY gm.userId`, gid)
	if err != nil {
		return g, err
	}
	defer rows.Close()
	g.Members = []state.Member{}
	for rows.Next() {
		var (
			m      state.Member
			shield uint8
		)
		if err := rows.Scan(&m.UserID, &m.Joined, &shield); err != nil {
			return g, err
		}
		m.Shield = shield != 0
		g.Members = append(g.Members, m)
	}
	return g, rows.Err()
}

// ensureGroupCounter creates gid's counter row if missing (seeded from the
// stored messages) and returns the group's newest id, locking the row.
func ensureGroupCounter(q *txq, gid uint32) (uint32, error) {
	if _, err := q.exec(`INSERT INTO tt_group_counter (groupId, lastMsgId)
SELECT ?, COALESCE(MAX(msgId), 0) FROM `+groupMsgTable(gid)+` WHERE groupId = ?
ON DUPLICATE KEY UPDATE lastMsgId = lastMsgId`, gid, gid); err != nil {
		return 0, fmt.Errorf("group counter: %w", err)
	}
	var last uint32
	err := q.queryRow(`SELECT lastMsgId FROM tt_group_counter WHERE groupId = ? FOR UPDATE`, gid).Scan(&last)
	return last, err
}

// CreateGroup implements state.Store.
func (s *Store) CreateGroup(ctx context.Context, ng state.NewGroup) (state.Group, error) {
	if err := ng.Validate(); err != nil {
		return state.Group{}, fmt.Errorf("mysqlstore: create group: %w", err)
	}
	members := state.DistinctIDs(ng.Members)
	if len(members) == 0 {
		return state.Group{}, fmt.Errorf("mysqlstore: create group: %w: no valid member ids", state.ErrInvalid)
	}
	now := s.now()
	var g state.Group
	err := s.txn(ctx, func(q *txq) error {
		g = state.Group{Name: ng.Name, Avatar: ng.Avatar, Creator: ng.Creator, Type: ng.Type, Version: 1, Created: now, Updated: now}
		res, err := q.exec(`INSERT INTO IMGroup (name, avatar, creator, type, userCnt, status, version, lastChated, updated, created)
VALUES (?, ?, ?, ?, ?, 0, 1, 0, ?, ?)`, g.Name, g.Avatar, g.Creator, uint8(g.Type), len(members), now, now)
		if err != nil {
			return fmt.Errorf("insert group: %w", err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		g.ID = uint32(id)
		// As the reference: rows left under this id by others go first.
		if _, err := q.exec(`DELETE FROM IMGroupMember WHERE groupId = ?`, g.ID); err != nil {
			return err
		}
		if g.LatestMsgID, err = ensureGroupCounter(q, g.ID); err != nil {
			return err
		}
		for _, u := range members {
			if _, err := q.exec(`INSERT INTO IMGroupMember (groupId, userId, status, created, updated) VALUES (?, ?, 0, ?, ?)`,
				g.ID, u, now, now); err != nil {
				return fmt.Errorf("insert member: %w", err)
			}
			if _, err := q.exec(`INSERT INTO tt_group_read (userId, groupId, msgId) VALUES (?, ?, ?)
ON DUPLICATE KEY UPDATE msgId = VALUES(msgId)`, u, g.ID, g.LatestMsgID); err != nil {
				return fmt.Errorf("read marker: %w", err)
			}
			g.Members = append(g.Members, state.Member{UserID: u, Joined: now})
		}
		return nil
	})
	if err != nil {
		return state.Group{}, fmt.Errorf("mysqlstore: create group: %w", err)
	}
	return g, nil
}

// Group implements state.Store.
func (s *Store) Group(ctx context.Context, gid uint32) (state.Group, error) {
	if err := s.guard(); err != nil {
		return state.Group{}, err
	}
	g, err := loadGroup(ctx, s.db, gid, "", true)
	if err != nil {
		return state.Group{}, fmt.Errorf("mysqlstore: group: %w", closedErr(err))
	}
	return g, nil
}

// ListGroups implements state.Store: the groups, then every status-0
// membership in one query; a group without a counter row gets its newest id
// from its message table, as loadGroup.
func (s *Store) ListGroups(ctx context.Context) ([]state.Group, error) {
	if err := s.guard(); err != nil {
		return nil, err
	}
	out, err := s.listGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: list groups: %w", closedErr(err))
	}
	return out, nil
}

func (s *Store) listGroups(ctx context.Context) ([]state.Group, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+groupRowCols+`, c.lastMsgId IS NOT NULL, COALESCE(c.lastMsgId, 0)
FROM IMGroup LEFT JOIN tt_group_counter c ON c.groupId = IMGroup.id ORDER BY id`)
	if err != nil {
		return nil, err
	}
	var (
		out     []state.Group
		counted []bool
	)
	for rows.Next() {
		var (
			g   state.Group
			typ uint8
			has bool
		)
		if err := rows.Scan(&g.ID, &g.Name, &g.Avatar, &g.Creator, &typ, &g.Status, &g.Version, &g.LastChated, &g.Created, &g.Updated, &has, &g.LatestMsgID); err != nil {
			rows.Close()
			return nil, err
		}
		g.Type, g.Members = state.GroupType(typ), []state.Member{}
		out, counted = append(out, g), append(counted, has)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		if !counted[i] {
			if out[i].LatestMsgID, err = groupLatest(ctx, s.db, out[i].ID); err != nil {
				return nil, err
			}
		}
	}
	rows, err = s.db.QueryContext(ctx, `SELECT gm.groupId, gm.userId, MAX(gm.updated), COALESCE(MAX(sh.shield), 0)
FROM IMGroupMember gm LEFT JOIN tt_group_shield sh ON sh.groupId = gm.groupId AND sh.userId = gm.userId
WHERE gm.status = 0 GROUP BY gm.groupId, gm.userId ORDER BY gm.groupId, gm.userId`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	i := 0
	for rows.Next() {
		var (
			gid    uint32
			m      state.Member
			shield uint8
		)
		if err := rows.Scan(&gid, &m.UserID, &m.Joined, &shield); err != nil {
			return nil, err
		}
		m.Shield = shield != 0
		for i < len(out) && out[i].ID < gid {
			i++
		}
		if i < len(out) && out[i].ID == gid {
			out[i].Members = append(out[i].Members, m)
		}
	}
	return out, rows.Err()
}

// UserGroups implements state.Store.
func (s *Store) UserGroups(ctx context.Context, userID uint32) ([]state.Group, error) {
	if err := s.guard(); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+groupRowCols+` FROM IMGroup
WHERE id IN (SELECT groupId FROM IMGroupMember WHERE userId = ? AND status = 0) ORDER BY updated DESC, id DESC`, userID)
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: groups of %d: %w", userID, closedErr(err))
	}
	var out []state.Group
	for rows.Next() {
		g, err := scanGroup(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("mysqlstore: groups of %d: %w", userID, err)
		}
		out = append(out, g)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mysqlstore: groups of %d: %w", userID, err)
	}
	for i := range out {
		if out[i].LatestMsgID, err = groupLatest(ctx, s.db, out[i].ID); err != nil {
			return nil, fmt.Errorf("mysqlstore: groups of %d: %w", userID, closedErr(err))
		}
	}
	return out, nil
}

// ChangeMembers implements state.Store. IMGroup.userCnt is set to the real
// member count (the reference doubled it at creation and never lowered it).
func (s *Store) ChangeMembers(ctx context.Context, gid uint32, op state.ModifyType, userIDs []uint32) (state.Group, []uint32, error) {
	if op != state.ModifyAdd && op != state.ModifyDel {
		return state.Group{}, nil, fmt.Errorf("mysqlstore: change members: %w: change type %d", state.ErrInvalid, op)
	}
	ids := state.DistinctIDs(userIDs)
	now := s.now()
	var (
		out     state.Group
		changed []uint32
	)
	err := s.txn(ctx, func(q *txq) error {
		g, err := loadGroup(q.ctx, q.tx, gid, " FOR UPDATE", true)
		if err != nil {
			return err
		}
		changed = changed[:0]
		for _, u := range ids {
			if g.IsMember(u) != (op == state.ModifyAdd) {
				changed = append(changed, u)
			}
		}
		if len(changed) == 0 {
			out = g
			return nil
		}
		latest, err := ensureGroupCounter(q, gid)
		if err != nil {
			return err
		}
		for _, u := range changed {
			if err := changeMember(q, gid, op, u, now, latest); err != nil {
				return err
			}
		}
		if _, err := q.exec(`UPDATE IMGroup SET version = version + 1, updated = GREATEST(updated, ?),
userCnt = (SELECT COUNT(DISTINCT userId) FROM IMGroupMember WHERE groupId = ? AND status = 0) WHERE id = ?`, now, gid, gid); err != nil {
			return fmt.Errorf("group version: %w", err)
		}
		out, err = loadGroup(q.ctx, q.tx, gid, "", true)
		return err
	})
	if err != nil {
		return state.Group{}, nil, fmt.Errorf("mysqlstore: change members of %d: %w", gid, err)
	}
	return out, slices.Clone(changed), nil
}

// changeMember adds or removes one member. A new member has read everything
// so far (join time now); a removed member's session of the group is
// hidden and its read marker and shield are dropped.
func changeMember(q *txq, gid uint32, op state.ModifyType, u, now, latest uint32) error {
	if op == state.ModifyAdd {
		n, err := q.affected(`UPDATE IMGroupMember SET status = 0, updated = ? WHERE groupId = ? AND userId = ?`, now, gid, u)
		if err != nil {
			return fmt.Errorf("rejoin member: %w", err)
		}
		if n == 0 {
			if _, err := q.exec(`INSERT INTO IMGroupMember (groupId, userId, status, created, updated) VALUES (?, ?, 0, ?, ?)`,
				gid, u, now, now); err != nil {
				return fmt.Errorf("insert member: %w", err)
			}
		}
		_, err = q.exec(`INSERT INTO tt_group_read (userId, groupId, msgId) VALUES (?, ?, ?)
ON DUPLICATE KEY UPDATE msgId = VALUES(msgId)`, u, gid, latest)
		return err
	}
	for _, st := range []struct{ what, query string }{
		{"remove member", `UPDATE IMGroupMember SET status = 1 WHERE groupId = ? AND userId = ? AND status = 0`},
		{"drop read marker", `DELETE FROM tt_group_read WHERE groupId = ? AND userId = ?`},
		{"drop shield", `DELETE FROM tt_group_shield WHERE groupId = ? AND userId = ?`},
	} {
		if _, err := q.exec(st.query, gid, u); err != nil {
			return fmt.Errorf("%s: %w", st.what, err)
		}
	}
	if _, err := q.exec(`UPDATE IMRecentSession SET status = 1, updated = GREATEST(updated, ?) WHERE userId = ? AND peerId = ? AND type = ?`,
		now, u, gid, state.SessionGroup); err != nil {
		return fmt.Errorf("hide session: %w", err)
	}
	return nil
}

// SetGroupShield implements state.Store.
func (s *Store) SetGroupShield(ctx context.Context, gid, userID uint32, on bool) error {
	if err := s.guard(); err != nil {
		return err
	}
	if _, err := s.joined(ctx, gid, userID); err != nil {
		return fmt.Errorf("mysqlstore: group shield of %d in %d: %w", userID, gid, err)
	}
	v := 0
	if on {
		v = 1
	}
	err := s.txn(ctx, func(q *txq) error {
		_, err := q.exec(`INSERT INTO tt_group_shield (groupId, userId, shield) VALUES (?, ?, ?)
ON DUPLICATE KEY UPDATE shield = VALUES(shield)`, gid, userID, v)
		return err
	})
	if err != nil {
		return fmt.Errorf("mysqlstore: group shield of %d in %d: %w", userID, gid, err)
	}
	return nil
}
