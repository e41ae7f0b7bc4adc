package records

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"teamtalk/appliance/ctlapi"
)

func open(t *testing.T, opts Options) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "appliance.db")
	d, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, path
}

func TestEventsBoundedAndPersistent(t *testing.T) {
	d, path := open(t, Options{MaxEvents: 5})
	for i := 0; i < 8; i++ {
		e, err := d.AppendEvent(ctlapi.Event{Service: "msg", Kind: ctlapi.EventStarted, Message: string(rune('a' + i))})
		if err != nil {
			t.Fatal(err)
		}
		if e.Seq != uint64(i+1) || e.Time.IsZero() {
			t.Fatalf("event %d: %+v", i, e)
		}
	}
	tests := []struct {
		name         string
		since        uint64
		limit        int
		first, count int
	}{
		{name: "all kept", since: 0, limit: 0, first: 4, count: 5},
		{name: "since", since: 6, limit: 0, first: 7, count: 2},
		{name: "limit", since: 0, limit: 2, first: 7, count: 2},
		{name: "since and limit", since: 4, limit: 10, first: 5, count: 4},
		{name: "none newer", since: 8, limit: 3, first: 0, count: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := d.Events(tc.since, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != tc.count || (tc.count > 0 && evs[0].Seq != uint64(tc.first)) {
				t.Fatalf("Events(%d,%d) = %+v", tc.since, tc.limit, evs)
			}
		})
	}
	d.Close()
	d2, err := Open(path, Options{MaxEvents: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	evs, _ := d2.Events(0, 0)
	if len(evs) != 5 || evs[4].Message != "h" {
		t.Fatalf("after reopen: %+v", evs)
	}
	e, _ := d2.AppendEvent(ctlapi.Event{Kind: ctlapi.EventStopped})
	if e.Seq != 9 {
		t.Fatalf("seq after reopen = %d", e.Seq)
	}
}

func TestSamplesRing(t *testing.T) {
	d, _ := open(t, Options{MaxSamples: 3})
	t0 := time.Unix(1700000000, 0)
	for i := 0; i < 5; i++ {
		if err := d.AppendSample(ctlapi.CounterSample{Time: t0.Add(time.Duration(i) * time.Second), MsgsPerSec: float64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	s, err := d.Samples(0)
	if err != nil || len(s) != 3 || s[0].MsgsPerSec != 2 || s[2].MsgsPerSec != 4 {
		t.Fatalf("Samples = %+v, %v", s, err)
	}
	s, _ = d.Samples(1)
	if len(s) != 1 || s[0].MsgsPerSec != 4 {
		t.Fatalf("Samples(1) = %+v", s)
	}
}

func TestMsgServers(t *testing.T) {
	d, _ := open(t, Options{MaxLoad: 2})
	t0 := time.Unix(1700000000, 0)
	for i := 0; i < 3; i++ {
		err := d.PutMsgServers(t0.Add(time.Duration(i)*time.Second), []ctlapi.MsgServer{
			{Addr: "127.0.0.1:8000", CurConns: uint32(i), MaxConns: 100},
			{Addr: "127.0.0.2:8000", CurConns: 7, MaxConns: 100},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	ms, err := d.MsgServers()
	if err != nil || len(ms) != 2 || ms[0].CurConns != 2 {
		t.Fatalf("MsgServers = %+v, %v", ms, err)
	}
	h, err := d.LoadHistory("127.0.0.1:8000", 0)
	if err != nil || len(h) != 2 || h[0].CurConns != 1 || h[1].CurConns != 2 {
		t.Fatalf("LoadHistory = %+v, %v", h, err)
	}
	if h, _ := d.LoadHistory("10.9.9.9:1", 0); len(h) != 0 {
		t.Fatalf("unknown server history = %+v", h)
	}
}

// TestMigrations has one case per migration: each must take the schema from
// its predecessor to its version and leave what it promises. Adding a
// migration without a case here fails the test.
func TestMigrations(t *testing.T) {
	checks := map[int]func(t *testing.T, tx *bolt.Tx){
		1: func(t *testing.T, tx *bolt.Tx) {
			for _, b := range []string{bucketEvents, bucketMsgServers, bucketMsgLoad, bucketCounters} {
				if tx.Bucket([]byte(b)) == nil {
					t.Errorf("bucket %s missing", b)
				}
			}
		},
	}
	for v := 1; v <= CurrentSchema(); v++ {
		check, ok := checks[v]
		if !ok {
			t.Fatalf("migration %d (%s) has no test case", v, migrations()[v-1].name)
		}
		t.Run(migrations()[v-1].name, func(t *testing.T) {
			db, err := bolt.Open(filepath.Join(t.TempDir(), "m.db"), 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := db.Update(func(tx *bolt.Tx) error { return migrateTo(tx, v-1) }); err != nil {
				t.Fatal(err)
			}
			if err := db.Update(func(tx *bolt.Tx) error { return migrateTo(tx, v) }); err != nil {
				t.Fatal(err)
			}
			db.View(func(tx *bolt.Tx) error {
				if got := schemaOf(tx); got != v {
					t.Errorf("schema = %d, want %d", got, v)
				}
				check(t, tx)
				return nil
			})
		})
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	d, path := open(t, Options{})
	if v, _ := d.SchemaVersion(); v != CurrentSchema() {
		t.Fatalf("schema = %d", v)
	}
	d.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketMeta)).Put([]byte(keySchema), []byte{0, 0, 0, 99})
	})
	d.Close()
	if _, err := Open(path, Options{}); !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("Open newer = %v", err)
	}
}
