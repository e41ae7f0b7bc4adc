package boltstore

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"teamtalk/state"
)

// Bucket names (see the tree in doc.go).
var (
	bMeta          = []byte("meta")
	bUsers         = []byte("users")
	bUserNames     = []byte("user_names")
	bDeparts       = []byte("departs")
	bRelations     = []byte("relations")
	bMessages      = []byte("messages")
	bMsgLog        = []byte("msglog")
	bMsgIdx        = []byte("msgidx")
	bUnread        = []byte("unread")
	bSessions      = []byte("sessions")
	bGroups        = []byte("groups")
	bGroupMembers  = []byte("group_members")
	bUserGroups    = []byte("user_groups")
	bGroupMessages = []byte("group_messages")
	bTokens        = []byte("tokens")
	bTokenOwners   = []byte("token_owners")
	bFiles         = []byte("files")
	bAudio         = []byte("audio")
)

// rtx is a read transaction with typed accessors.
type rtx struct {
	tx *bolt.Tx
	// The buckets opened so far, by the address of their name (the
	// package's bucket name variables): bbolt looks a bucket up afresh on
	// every Tx.Bucket of a read transaction, which made a loop of gets (the
	// device tokens of a group's 500 members) spend most of its time there.
	open  [8]openBucket
	nopen int
}

type openBucket struct {
	name *byte
	b    *bolt.Bucket
	c    *bolt.Cursor // get's, made on its first use
}

// bucket returns the top-level bucket called name, opened once per
// transaction.
func (r *rtx) bucket(name []byte) *bolt.Bucket {
	b, _ := r.lookup(name)
	return b
}

// lookup returns the top-level bucket called name and its cache slot (nil
// when the bucket does not exist or the slots are taken).
func (r *rtx) lookup(name []byte) (*bolt.Bucket, *openBucket) {
	if len(name) == 0 {
		return r.tx.Bucket(name), nil
	}
	p := &name[0]
	for i := range r.nopen {
		if r.open[i].name == p {
			return r.open[i].b, &r.open[i]
		}
	}
	b := r.tx.Bucket(name)
	switch {
	case b == nil:
		return nil, nil
	case p == &bMsgLog[0]:
		// Appended to at its end only: full pages, not the half-full
		// ones a split leaves for keys that arrive in any order.
		b.FillPercent = 1.0
	case p == &bUsers[0]:
		// Ids are handed out in order: nearly full pages, so a login
		// (which reads its user) maps fewer of them (~330 instead of
		// ~620 B of im.db per logged-in user). Some room stays for
		// records that grow.
		b.FillPercent = 0.9
	}
	if r.nopen == len(r.open) {
		return b, nil
	}
	r.open[r.nopen] = openBucket{name: p, b: b}
	r.nopen++
	return b, &r.open[r.nopen-1]
}

// get returns the value under key (nil if none), read with the bucket's
// own cursor: bbolt's Bucket.Get makes a cursor, and grows its stack, per
// call, which was a good part of a message save's allocations.
func (r *rtx) get(bucket, key []byte) []byte {
	b, slot := r.lookup(bucket)
	if slot == nil {
		return b.Get(key)
	}
	if slot.c == nil {
		slot.c = b.Cursor()
	}
	// Seek gives nested buckets a nil value, as Get does.
	if k, v := slot.c.Seek(key); string(k) == string(key) {
		return v
	}
	return nil
}

// getJSON decodes the JSON value under key into v; it reports whether the key
// exists.
func (r *rtx) getJSON(bucket, key []byte, v any) (bool, error) {
	raw := r.get(bucket, key)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("boltstore: decode %s/%x: %w", bucket, key, err)
	}
	return true, nil
}

// prefix calls fn for every key in bucket that starts with p, in key order,
// until fn returns false or an error.
func (r *rtx) prefix(bucket, p []byte, fn func(k, v []byte) (bool, error)) error {
	c := r.bucket(bucket).Cursor()
	for k, v := c.Seek(p); k != nil && hasPrefix(k, p); k, v = c.Next() {
		more, err := fn(k, v)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// prefixReverse is prefix from the last key down, starting at or below from
// (from must start with p; nil means the end of the prefix range).
func (r *rtx) prefixReverse(bucket, p, from []byte, fn func(k, v []byte) (bool, error)) error {
	c := r.bucket(bucket).Cursor()
	var k, v []byte
	switch end := prefixEnd(p); {
	case from != nil:
		k, v = c.Seek(from)
		if k == nil {
			k, v = c.Last()
		} else if string(k) != string(from) {
			k, v = c.Prev()
		}
	case end != nil:
		k, v = c.Seek(end)
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
	default:
		k, v = c.Last()
	}
	for ; k != nil && hasPrefix(k, p); k, v = c.Prev() {
		more, err := fn(k, v)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// wtx is the committer's write transaction. dirty reports whether the
// current write function has modified it.
type wtx struct {
	rtx
	dirty bool
	// touched is the committer's record of group sessions already fresh
	// (see groupTouch); the marks this transaction sets wait in pending
	// until it commits.
	touched *groupTouch
	pending map[uint32]uint32
}

// groupTouch remembers, per group, a time t such that in the committed
// database every member's session of the group is visible and updated at
// t or later: a group message created at or before t need not touch the
// members' sessions again. Owned by the committer goroutine. Any other
// write to a group's members or to a member's session of the group drops
// the group's mark (wtx.put and wtx.del see to it).
type groupTouch struct{ at map[uint32]uint32 }

// touchedAt returns group gid's mark (0: none).
func (w *wtx) touchedAt(gid uint32) uint32 {
	if t, ok := w.pending[gid]; ok {
		return t
	}
	if w.touched == nil {
		return 0
	}
	return w.touched.at[gid]
}

// markTouched sets gid's mark once the transaction commits.
func (w *wtx) markTouched(gid, t uint32) {
	if w.touched == nil {
		return
	}
	if w.pending == nil {
		w.pending = map[uint32]uint32{}
	}
	w.pending[gid] = t
}

// untouch drops the mark of the group that a write to bucket under key
// concerns, at once (dropping is safe even if the transaction rolls back).
func (w *wtx) untouch(bucket, key []byte) {
	if w.touched == nil {
		return
	}
	var gid uint32
	switch {
	case string(bucket) == string(bGroupMembers) && len(key) >= 4:
		gid = u32(key)
	case string(bucket) == string(bSessions) && len(key) == 9 && state.SessionType(key[4]) == state.SessionGroup:
		gid = u32(key[5:])
	default:
		return
	}
	delete(w.touched.at, gid)
	delete(w.pending, gid)
}

// committed applies the transaction's marks; called after Commit succeeded.
func (w *wtx) committed() {
	if w.touched == nil {
		return
	}
	for gid, t := range w.pending {
		w.touched.at[gid] = t
	}
}

func (w *wtx) put(bucket, key, value []byte) error {
	w.untouch(bucket, key)
	return w.putRaw(bucket, key, value)
}

// putRaw is put without dropping a group's session mark (for the writes
// that keep the mark true).
func (w *wtx) putRaw(bucket, key, value []byte) error {
	w.dirty = true
	if err := w.bucket(bucket).Put(key, value); err != nil {
		return fmt.Errorf("boltstore: put %s: %w", bucket, err)
	}
	return nil
}

func (w *wtx) putJSON(bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("boltstore: encode %s: %w", bucket, err)
	}
	return w.put(bucket, key, raw)
}

func (w *wtx) del(bucket, key []byte) error {
	w.untouch(bucket, key)
	w.dirty = true
	if err := w.bucket(bucket).Delete(key); err != nil {
		return fmt.Errorf("boltstore: delete %s: %w", bucket, err)
	}
	return nil
}

// nextID returns the bucket's next sequence number as a uint32 id.
func (w *wtx) nextID(bucket []byte) (uint32, error) {
	w.dirty = true
	n, err := w.bucket(bucket).NextSequence()
	if err != nil {
		return 0, fmt.Errorf("boltstore: sequence %s: %w", bucket, err)
	}
	if n > 0xffffffff {
		return 0, fmt.Errorf("boltstore: sequence %s exhausted", bucket)
	}
	return uint32(n), nil
}

func hasPrefix(k, p []byte) bool { return len(k) >= len(p) && string(k[:len(p)]) == string(p) }

// prefixEnd returns the smallest key greater than every key starting with p,
// or nil if there is none (p is all 0xff).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// key builds a key from big-endian uint32s.
func key(ids ...uint32) []byte {
	k := make([]byte, 4*len(ids))
	for i, id := range ids {
		binary.BigEndian.PutUint32(k[4*i:], id)
	}
	return k
}

func u32(b []byte) uint32 {
	if len(b) < 4 {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

func putU32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
