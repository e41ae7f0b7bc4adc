package boltstore

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// ErrSchemaTooNew reports a file written by a newer boltstore: its schema
// version is above every migration this build knows.
var ErrSchemaTooNew = errors.New("boltstore: schema version newer than this build")

// migration raises the schema from version-1 to version. Every migration
// must have its own test (see schema_test.go: a test fails when one lacks it).
type migration struct {
	version uint32
	name    string
	apply   func(tx *bolt.Tx) error
}

// migrations is the ordered list of schema migrations; the last version is
// the current schema.
func migrations() []migration {
	return []migration{
		{version: 1, name: "initial buckets", apply: migrateV1},
		{version: 2, name: "one-to-one message log", apply: migrateV2},
	}
}

// schemaVersion returns the stored schema version (0 for a new file).
func schemaVersion(tx *bolt.Tx) uint32 {
	b := tx.Bucket(bMeta)
	if b == nil {
		return 0
	}
	return u32(b.Get([]byte("schema")))
}

// migrate brings db to the last version of ms in one transaction.
func migrate(db *bolt.DB, ms []migration) error {
	return db.Update(func(tx *bolt.Tx) error {
		cur := schemaVersion(tx)
		last := uint32(0)
		if len(ms) > 0 {
			last = ms[len(ms)-1].version
		}
		if cur > last {
			return fmt.Errorf("%w: file has %d, newest known %d", ErrSchemaTooNew, cur, last)
		}
		for _, m := range ms {
			if m.version <= cur {
				continue
			}
			if err := m.apply(tx); err != nil {
				return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
			}
			meta, err := tx.CreateBucketIfNotExists(bMeta)
			if err != nil {
				return fmt.Errorf("migration %d: meta: %w", m.version, err)
			}
			if err := meta.Put([]byte("schema"), putU32(m.version)); err != nil {
				return fmt.Errorf("migration %d: set version: %w", m.version, err)
			}
			cur = m.version
		}
		return nil
	})
}

// migrateV1 creates the buckets of doc.go's tree.
func migrateV1(tx *bolt.Tx) error {
	for _, name := range [][]byte{
		bMeta, bUsers, bUserNames, bDeparts, bRelations, bMessages, bUnread, bSessions,
		bGroups, bGroupMembers, bUserGroups, bGroupMessages, bTokens, bTokenOwners, bFiles, bAudio,
	} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// migrateV2 creates the one-to-one message log's buckets (msglog.go). The
// messages stored until then stay where they are and are read there.
func migrateV2(tx *bolt.Tx) error {
	for _, name := range [][]byte{bMsgLog, bMsgIdx} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}
