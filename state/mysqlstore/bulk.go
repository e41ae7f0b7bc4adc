package mysqlstore

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"teamtalk/state"
)

// A batch's one-to-one messages are written with a fixed number of
// statements whatever their count (bulk): ids for every relation of the
// batch come from one UPDATE of the counters (lastMsgId + n) and one SELECT
// of the new values, the messages from one multi-row INSERT per shard
// table, the unread counters from one multi-row upsert, and both sides'
// recent sessions from one UPDATE and one INSERT of the missing rows. The
// messages were validated before they were queued, so none of them can be
// refused on its own; should a statement fail anyway (a counter row gone,
// an id range exhausted), the batch runs again one message at a time
// behind savepoints, which seeds the counter or refuses only the message
// at fault.

// pendingSingle is a validated one-to-one message waiting for its batch.
type pendingSingle struct {
	rel uint32
	m   *state.Message
}

// errBulk marks a bulk write that failed for a reason that is not
// transient: the batch is then run again message by message.
var errBulk = errors.New("bulk write refused")

// maxStmtBytes bounds the text of one multi-row statement (client-side
// interpolation sends it whole), well below every server's
// max_allowed_packet (1 MiB on old MySQL).
const maxStmtBytes = 768 << 10

// saveSingles writes msgs (one-to-one, validated, in queue order) in the
// transaction, setting each message's ID.
func saveSingles(q *txq, msgs []pendingSingle) error {
	if err := allocSingleIDs(q, msgs); err != nil {
		return err
	}
	if err := insertSingles(q, msgs); err != nil {
		return err
	}
	if err := countUnread(q, msgs); err != nil {
		return err
	}
	return touchSessions(q, msgs)
}

// allocSingleIDs advances every relation's counter by its number of
// messages in the batch and hands the ids out in queue order.
func allocSingleIDs(q *txq, msgs []pendingSingle) error {
	counts := map[uint32]uint32{}
	var rels []uint32
	for _, p := range msgs {
		if counts[p.rel] == 0 {
			rels = append(rels, p.rel)
		}
		counts[p.rel]++
	}
	slices.Sort(rels) // lock counter rows in one order everywhere
	last := make(map[uint32]uint32, len(rels))
	if len(rels) == 1 {
		rel := rels[0]
		res, err := q.exec(`UPDATE tt_msg_counter SET lastMsgId = LAST_INSERT_ID(lastMsgId + ?) WHERE relateId = ?`, counts[rel], rel)
		if err != nil {
			return bulkErr("next msg ids", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return fmt.Errorf("%w: no counter row for relation %d", errBulk, rel)
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		last[rel] = uint32(id)
	} else {
		var b strings.Builder
		args := make([]any, 0, 3*len(rels))
		b.WriteString(`UPDATE tt_msg_counter SET lastMsgId = lastMsgId + CASE relateId`)
		for _, rel := range rels {
			b.WriteString(` WHEN ? THEN ?`)
			args = append(args, rel, counts[rel])
		}
		b.WriteString(` ELSE 0 END WHERE relateId IN (`)
		in := len(args)
		for i, rel := range rels {
			if i > 0 {
				b.WriteString(`, `)
			}
			b.WriteString(`?`)
			args = append(args, rel)
		}
		b.WriteString(`)`)
		n, err := q.affected(b.String(), args...)
		if err != nil {
			return bulkErr("next msg ids", err)
		}
		if n != int64(len(rels)) {
			return fmt.Errorf("%w: %d of %d counter rows", errBulk, n, len(rels))
		}
		rows, err := q.query(`SELECT relateId, lastMsgId FROM tt_msg_counter WHERE relateId IN (`+placeholders(len(rels))+`)`, args[in:]...)
		if err != nil {
			return fmt.Errorf("read msg ids: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var rel, id uint32
			if err := rows.Scan(&rel, &id); err != nil {
				return fmt.Errorf("read msg ids: %w", err)
			}
			last[rel] = id
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read msg ids: %w", err)
		}
		if len(last) != len(rels) {
			return fmt.Errorf("%w: read %d of %d counters", errBulk, len(last), len(rels))
		}
	}
	for rel, n := range counts { // next = the first id of the batch
		last[rel] -= n - 1
	}
	for _, p := range msgs {
		p.m.ID = last[p.rel]
		last[p.rel]++
	}
	return nil
}

// bulkErr wraps a statement's error: transient ones as they are (the
// batch is retried), others as errBulk (run again message by message).
func bulkErr(what string, err error) error {
	if transient(err) || brokenConn(err) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%w: %s: %w", errBulk, what, err)
}

// insertSingles inserts the messages with one multi-row INSERT per shard
// table (more when the text would grow past maxStmtBytes).
func insertSingles(q *txq, msgs []pendingSingle) error {
	var byShard [Shards][]pendingSingle
	for _, p := range msgs {
		byShard[p.rel%Shards] = append(byShard[p.rel%Shards], p)
	}
	var b strings.Builder
	var args []any
	for shard, part := range byShard {
		for len(part) > 0 {
			b.Reset()
			args = args[:0]
			b.WriteString(`INSERT INTO ` + msgTable(uint32(shard)) + ` (relateId, fromId, toId, msgId, content, type, status, updated, created) VALUES `)
			size := 0
			n := 0
			for n < len(part) && (n == 0 || size+2*len(part[n].m.Content) < maxStmtBytes) {
				p := part[n]
				if n > 0 {
					b.WriteString(`, `)
				}
				b.WriteString(`(?, ?, ?, ?, ?, ?, 0, ?, ?)`)
				args = append(args, p.rel, p.m.From, p.m.To, p.m.ID, string(p.m.Content), uint8(p.m.Type), p.m.Created, p.m.Created)
				size += 2*len(p.m.Content) + 128
				n++
			}
			if _, err := q.exec(b.String(), args...); err != nil {
				return bulkErr("insert messages", err)
			}
			part = part[n:]
		}
	}
	return nil
}

// countUnread adds the batch's messages to the receivers' unread counters
// in one upsert.
func countUnread(q *txq, msgs []pendingSingle) error {
	type key struct{ user, peer uint32 }
	counts := map[key]uint32{}
	for _, p := range msgs {
		counts[key{p.m.To, p.m.From}]++
	}
	keys := make([]key, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int { return cmp.Or(cmp.Compare(a.user, b.user), cmp.Compare(a.peer, b.peer)) })
	var b strings.Builder
	args := make([]any, 0, 3*len(keys))
	b.WriteString(`INSERT INTO tt_unread (userId, peerId, cnt) VALUES `)
	for i, k := range keys {
		if i > 0 {
			b.WriteString(`, `)
		}
		b.WriteString(`(?, ?, ?)`)
		args = append(args, k.user, k.peer, counts[k])
	}
	b.WriteString(` ON DUPLICATE KEY UPDATE cnt = cnt + VALUES(cnt)`)
	if _, err := q.exec(b.String(), args...); err != nil {
		return bulkErr("count unread", err)
	}
	return nil
}

// touchSessions makes both sides' sessions of every message visible and at
// least as recent as the message: one UPDATE of the rows that exist (all
// of them, duplicates included), one INSERT of those missing.
func touchSessions(q *txq, msgs []pendingSingle) error {
	type key struct{ user, peer uint32 }
	times := map[key]uint32{}
	for _, p := range msgs {
		for _, k := range [2]key{{p.m.From, p.m.To}, {p.m.To, p.m.From}} {
			times[k] = max(times[k], p.m.Created)
		}
	}
	keys := make([]key, 0, len(times))
	for k := range times {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int { return cmp.Or(cmp.Compare(a.user, b.user), cmp.Compare(a.peer, b.peer)) })

	var b strings.Builder
	args := make([]any, 0, 5*len(keys)+1)
	b.WriteString(`UPDATE IMRecentSession SET status = 0, updated = GREATEST(updated, CASE`)
	for _, k := range keys {
		b.WriteString(` WHEN userId = ? AND peerId = ? THEN ?`)
		args = append(args, k.user, k.peer, times[k])
	}
	b.WriteString(` ELSE 0 END) WHERE type = ? AND (`)
	args = append(args, state.SessionSingle)
	for i, k := range keys {
		if i > 0 {
			b.WriteString(` OR `)
		}
		b.WriteString(`(userId = ? AND peerId = ?)`)
		args = append(args, k.user, k.peer)
	}
	b.WriteString(`)`)
	if _, err := q.exec(b.String(), args...); err != nil {
		return bulkErr("touch sessions", err)
	}

	b.Reset()
	args = args[:0]
	b.WriteString(`INSERT INTO IMRecentSession (userId, peerId, type, status, created, updated) SELECT v.u, v.p, ?, 0, v.t, v.t FROM (`)
	args = append(args, state.SessionSingle)
	for i, k := range keys {
		if i == 0 {
			b.WriteString(`SELECT ? AS u, ? AS p, ? AS t`)
		} else {
			b.WriteString(` UNION ALL SELECT ?, ?, ?`)
		}
		args = append(args, k.user, k.peer, times[k])
	}
	b.WriteString(`) v WHERE NOT EXISTS (SELECT 1 FROM IMRecentSession r WHERE r.userId = v.u AND r.peerId = v.p AND r.type = ?)`)
	args = append(args, state.SessionSingle)
	if _, err := q.exec(b.String(), args...); err != nil {
		return bulkErr("insert sessions", err)
	}
	return nil
}
