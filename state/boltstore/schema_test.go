package boltstore

import (
	"errors"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// migrationTests holds one test per schema migration, by version. A
// migration without an entry fails TestEveryMigrationHasATest.
func migrationTests() map[uint32]func(t *testing.T) {
	return map[uint32]func(t *testing.T){
		1: testMigrateV1,
	}
}

func TestEveryMigrationHasATest(t *testing.T) {
	tests := migrationTests()
	prev := uint32(0)
	for _, m := range migrations() {
		if m.version != prev+1 {
			t.Fatalf("migration %d follows %d: versions must be consecutive", m.version, prev)
		}
		prev = m.version
		if tests[m.version] == nil {
			t.Errorf("migration %d (%s) has no test in migrationTests", m.version, m.name)
		}
	}
	for v := range tests {
		if v > prev {
			t.Errorf("migrationTests has version %d, but the newest migration is %d", v, prev)
		}
	}
}

func TestMigrations(t *testing.T) {
	for _, m := range migrations() {
		t.Run(m.name, migrationTests()[m.version])
	}
}

func openRaw(t *testing.T) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "im.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func testMigrateV1(t *testing.T) {
	db := openRaw(t)
	if err := migrate(db, migrations()[:1]); err != nil {
		t.Fatal(err)
	}
	err := db.View(func(tx *bolt.Tx) error {
		if v := schemaVersion(tx); v != 1 {
			t.Errorf("schema version %d, want 1", v)
		}
		for _, b := range [][]byte{bMeta, bUsers, bUserNames, bDeparts, bRelations, bMessages, bUnread, bSessions,
			bGroups, bGroupMembers, bUserGroups, bGroupMessages, bTokens, bTokenOwners, bFiles, bAudio} {
			if tx.Bucket(b) == nil {
				t.Errorf("bucket %s missing", b)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Running it again is a no-op.
	if err := migrate(db, migrations()[:1]); err != nil {
		t.Fatal(err)
	}
}

func TestSchemaTooNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "im.db")
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bMeta).Put([]byte("schema"), putU32(99)) })
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, Options{}); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open of a newer file: %v, want ErrSchemaTooNew", err)
	}
}
