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
// recent sessions from one UPDATE and one INSERT of the missing rows; the
// committers' connections send all of these in two round trips (ids, then
// the rest), COMMIT in a third. The
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
// transaction, setting each message's ID: one round trip for the ids, one
// for everything else (more when its text would pass maxStmtBytes).
func saveSingles(q *txq, msgs []pendingSingle) error {
	if err := allocSingleIDs(q, msgs); err != nil {
		return err
	}
	w := &multi{q: q}
	insertSingles(w, msgs)
	countUnread(w, msgs)
	touchSessions(w, msgs)
	return w.flush()
}

// multi collects statements and sends them several per round trip (the
// committers' connections allow multiple statements), splitting where
// the text would grow past maxStmtBytes.
type multi struct {
	q    *txq
	b    strings.Builder
	args []any
	size int // estimated text length after interpolation
	err  error
}

// add appends one statement; its error, if any, comes from flush.
func (w *multi) add(stmt string, args ...any) {
	size := len(stmt) + 2
	for _, a := range args {
		if s, ok := a.(string); ok {
			size += 2*len(s) + 2 // every byte escaped at worst
		} else {
			size += 20
		}
	}
	if w.size > 0 && w.size+size > maxStmtBytes {
		w.send()
	}
	if w.size > 0 {
		w.b.WriteString(";\n")
	}
	w.b.WriteString(stmt)
	w.args = append(w.args, args...)
	w.size += size
}

func (w *multi) send() {
	if w.err == nil && w.size > 0 {
		if _, err := w.q.exec(w.b.String(), w.args...); err != nil {
			w.err = bulkErr("write messages", err)
		}
	}
	w.b.Reset()
	w.args = w.args[:0]
	w.size = 0
}

// flush sends what is left and returns the first error.
func (w *multi) flush() error {
	w.send()
	return w.err
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
		// One round trip: the UPDATE, then the SELECT of the new values
		// (a missing row is missing from both).
		var b strings.Builder
		args := make([]any, 0, 4*len(rels))
		b.WriteString(`UPDATE tt_msg_counter SET lastMsgId = lastMsgId + CASE relateId`)
		for _, rel := range rels {
			b.WriteString(` WHEN ? THEN ?`)
			args = append(args, rel, counts[rel])
		}
		in := placeholders(len(rels))
		b.WriteString(` ELSE 0 END WHERE relateId IN (` + in + `);
SELECT relateId, lastMsgId FROM tt_msg_counter WHERE relateId IN (` + in + `)`)
		for range 2 {
			for _, rel := range rels {
				args = append(args, rel)
			}
		}
		if err := readCounters(q, b.String(), args, last); err != nil {
			return err
		}
		if len(last) != len(rels) {
			return fmt.Errorf("%w: %d of %d counter rows", errBulk, len(last), len(rels))
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

// readCounters runs the counters' UPDATE; SELECT and reads the second
// result into last.
func readCounters(q *txq, query string, args []any, last map[uint32]uint32) error {
	rows, err := q.query(query, args...)
	if err != nil {
		return bulkErr("next msg ids", err)
	}
	defer rows.Close()
	// The UPDATE has no result set: go-sql-driver skips to the SELECT's
	// (a driver that does not has an empty one first).
	if cols, err := rows.Columns(); err != nil || len(cols) == 0 {
		if !rows.NextResultSet() {
			if err := rows.Err(); err != nil {
				return bulkErr("next msg ids", err)
			}
			return fmt.Errorf("%w: next msg ids: no result of the SELECT", errBulk)
		}
	}
	for rows.Next() {
		var rel, id uint32
		if err := rows.Scan(&rel, &id); err != nil {
			return fmt.Errorf("read msg ids: %w", err)
		}
		last[rel] = id
	}
	if err := rows.Err(); err != nil {
		return bulkErr("read msg ids", err)
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
func insertSingles(w *multi, msgs []pendingSingle) {
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
			for n < len(part) && (n == 0 || size+2*len(part[n].m.Content) < maxStmtBytes/2) {
				p := part[n]
				if n > 0 {
					b.WriteString(`, `)
				}
				b.WriteString(`(?, ?, ?, ?, ?, ?, 0, ?, ?)`)
				args = append(args, p.rel, p.m.From, p.m.To, p.m.ID, string(p.m.Content), uint8(p.m.Type), p.m.Created, p.m.Created)
				size += 2*len(p.m.Content) + 128
				n++
			}
			w.add(b.String(), args...)
			part = part[n:]
		}
	}
}

// countUnread adds the batch's messages to the receivers' unread counters
// in one upsert.
func countUnread(w *multi, msgs []pendingSingle) {
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
	w.add(b.String(), args...)
}

// touchSessions makes both sides' sessions of every message visible and at
// least as recent as the message: one UPDATE of the rows that exist (all
// of them, duplicates included), one INSERT of those missing.
func touchSessions(w *multi, msgs []pendingSingle) {
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
	w.add(b.String(), args...)

	b.Reset()
	args = make([]any, 0, 3*len(keys)+2)
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
	w.add(b.String(), args...)
}
