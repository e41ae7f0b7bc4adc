package records

import (
	"encoding/binary"

	bolt "go.etcd.io/bbolt"
)

// migration moves the schema from its index to index+1.
type migration struct {
	name string
	fn   func(tx *bolt.Tx) error
}

// migrations is the ordered list of schema changes; the schema version is the
// number applied. Append only; never edit or reorder one that shipped.
func migrations() []migration {
	return []migration{
		{name: "create buckets", fn: func(tx *bolt.Tx) error {
			for _, b := range []string{bucketEvents, bucketMsgServers, bucketMsgLoad, bucketCounters} {
				if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
					return err
				}
			}
			return nil
		}},
	}
}

// CurrentSchema returns the schema version this build writes.
func CurrentSchema() int { return len(migrations()) }

func schemaOf(tx *bolt.Tx) int {
	b := tx.Bucket([]byte(bucketMeta))
	if b == nil {
		return 0
	}
	v := b.Get([]byte(keySchema))
	if len(v) != 4 {
		return 0
	}
	return int(binary.BigEndian.Uint32(v))
}

// migrate applies the pending migrations inside tx.
func migrate(tx *bolt.Tx) error {
	return migrateTo(tx, CurrentSchema())
}

func migrateTo(tx *bolt.Tx, target int) error {
	meta, err := tx.CreateBucketIfNotExists([]byte(bucketMeta))
	if err != nil {
		return err
	}
	cur := schemaOf(tx)
	if cur > CurrentSchema() {
		return ErrNewerSchema
	}
	ms := migrations()
	for v := cur; v < target; v++ {
		if err := ms[v].fn(tx); err != nil {
			return err
		}
		b := make([]byte, 4)
		binary.BigEndian.PutUint32(b, uint32(v+1))
		if err := meta.Put([]byte(keySchema), b); err != nil {
			return err
		}
	}
	return nil
}
