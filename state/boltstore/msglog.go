package boltstore

import (
	"encoding/binary"
	"fmt"
)

// The one-to-one message log (schema 2).
//
// A one-to-one message is appended to msglog under the next number of the
// bucket's sequence, so every message of a commit lands on the log's last
// pages whatever its conversation. (In the messages bucket, keyed by pair,
// each conversation of a commit dirtied a page of its own: ~1.2 written
// pages per message at 100 conversations, which made the commit, and so
// the whole message path, slow.) Each entry names the entry of the pair's
// previous message, relations names the pair's newest entry, and msgidx
// names the entry of every idxEvery-th message of a pair, so a read starts
// at most idxEvery-1 steps above any id. Messages stored before schema 2
// stay in messages: a walk that passes the pair's first logged message goes
// on there.

// idxEvery is how often (in message ids of one pair) msgidx gets an entry.
const idxEvery = 64

// relation is a pair's relations record: the newest message id, when the
// pair first talked, and the newest message's log entry (0: none logged,
// every message is in messages).
type relation struct {
	last, created uint32
	lastSeq       uint64
}

// decodeRelation reads a relations value: u32 last | u32 created, then
// (schema 2) u64 last log entry.
func decodeRelation(v []byte) relation {
	var rel relation
	if len(v) >= 8 {
		rel.last, rel.created = u32(v), u32(v[4:])
	}
	if len(v) >= 16 {
		rel.lastSeq = binary.BigEndian.Uint64(v[8:])
	}
	return rel
}

func (rel relation) encode() []byte {
	v := make([]byte, 16)
	binary.BigEndian.PutUint32(v, rel.last)
	binary.BigEndian.PutUint32(v[4:], rel.created)
	binary.BigEndian.PutUint64(v[8:], rel.lastSeq)
	return v
}

func putU64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// logHeadLen is the log entry's head: u32 msg id | u64 previous entry.
const logHeadLen = 12

// encodeLogMsg builds a log entry: the head, then the message record.
func encodeLogMsg(id uint32, prev uint64, rec []byte) []byte {
	v := make([]byte, logHeadLen, logHeadLen+len(rec))
	binary.BigEndian.PutUint32(v, id)
	binary.BigEndian.PutUint64(v[4:], prev)
	return append(v, rec...)
}

// appendSingle stores message id of the pair (small, big), whose relations
// record is rel, as the pair's newest: a log entry, an msgidx entry every
// idxEvery ids, and the relations record naming it.
func (w *wtx) appendSingle(small, big, id uint32, rel relation, rec []byte) error {
	seq, err := w.bucket(bMsgLog).NextSequence()
	if err != nil {
		return fmt.Errorf("boltstore: message log sequence: %w", err)
	}
	sk := putU64(seq)
	if err := w.put(bMsgLog, sk, encodeLogMsg(id, rel.lastSeq, rec)); err != nil {
		return err
	}
	if id%idxEvery == 0 {
		if err := w.put(bMsgIdx, key(small, big, id), sk); err != nil {
			return err
		}
	}
	rel.last, rel.lastSeq = id, seq
	return w.put(bRelations, key(small, big), rel.encode())
}

// singleDesc calls fn with the messages of the pair (small, big) whose id
// is at most hi (0: the newest), newest first, as their id and message
// record, until fn returns false or an error, or the oldest was seen.
func (r *rtx) singleDesc(small, big, hi uint32, fn func(id uint32, rec []byte) (bool, error)) error {
	rel := decodeRelation(r.get(bRelations, key(small, big)))
	if rel.last == 0 {
		return nil
	}
	if hi == 0 || hi > rel.last {
		hi = rel.last
	}
	legacyFrom := hi // the newest id to look for in messages
	if rel.lastSeq != 0 {
		seq := rel.lastSeq
		if hi < rel.last {
			// The first indexed message at or above hi (or the newest,
			// when none is): fewer than idxEvery steps above hi.
			c := r.bucket(bMsgIdx).Cursor()
			p := key(small, big)
			if k, v := c.Seek(key(small, big, hi)); k != nil && hasPrefix(k, p) && len(v) == 8 {
				seq = binary.BigEndian.Uint64(v)
			}
		}
		log := r.bucket(bMsgLog)
		for seq != 0 {
			v := log.Get(putU64(seq))
			if len(v) < logHeadLen {
				return fmt.Errorf("boltstore: message log entry %d of %d/%d missing or short", seq, small, big)
			}
			id := u32(v)
			if id <= hi {
				more, err := fn(id, v[logHeadLen:])
				if err != nil || !more {
					return err
				}
			}
			legacyFrom = min(hi, id-1)
			seq = binary.BigEndian.Uint64(v[4:])
		}
		// Past the first logged message: older ones are in messages.
		if legacyFrom == 0 {
			return nil
		}
	}
	p := key(small, big)
	return r.prefixReverse(bMessages, p, key(small, big, legacyFrom), func(k, v []byte) (bool, error) {
		return fn(u32(k[len(p):]), v)
	})
}
