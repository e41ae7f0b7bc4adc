// Package records is the appliance's own state in appliance.db (bbolt): the
// lifecycle event log, the msg server registrations with their load history,
// and the counters history the console draws after a restart. The supervisor
// opens it once; the IM store lives elsewhere (im.db or MySQL).
//
// Bucket tree (keys are big-endian unless noted; values are JSON):
//
//	meta/
//	    schema      → uint32, the schema version (len(migrations))
//	    count/NAME  → uint64, keys in bucket NAME (so trimming never walks it)
//	events/
//	    seq uint64  → ctlapi.Event              (bounded: Options.MaxEvents)
//	msgservers/
//	    addr (text) → ctlapi.MsgServer          (the latest registration)
//	msgload/
//	    addr (text)/                            (one bucket per msg server)
//	        unix nano int64 → ctlapi.LoadSample (bounded: Options.MaxLoad)
//	counters/
//	    unix nano int64 → ctlapi.CounterSample  (bounded: Options.MaxSamples)
//
// Schema changes are migrations appended to the migrations list; each runs
// once, in order, inside one transaction with the version bump, and each has
// its own test case.
package records

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"teamtalk/appliance/ctlapi"
)

const (
	bucketMeta       = "meta"
	bucketEvents     = "events"
	bucketMsgServers = "msgservers"
	bucketMsgLoad    = "msgload"
	bucketCounters   = "counters"
	keySchema        = "schema"
)

// ErrNewerSchema is returned by Open for a file written by a newer teamtalkd.
var ErrNewerSchema = errors.New("records: appliance.db has a newer schema than this teamtalkd")

// Options bounds what is kept. Zero fields take the defaults.
type Options struct {
	MaxEvents  int // lifecycle events kept (default 10000)
	MaxSamples int // counters samples kept (default 86400, a day of seconds)
	MaxLoad    int // load samples kept per msg server (default 8640)
	Timeout    time.Duration
}

// DB is an open appliance.db. Its methods are safe for concurrent use.
type DB struct {
	db   *bolt.DB
	opts Options
}

// Open opens (creating if needed) the file at path and migrates it to the
// current schema. It fails after opts.Timeout (default 1 s) if another
// process holds the file.
func Open(path string, opts Options) (*DB, error) {
	if opts.MaxEvents <= 0 {
		opts.MaxEvents = 10000
	}
	if opts.MaxSamples <= 0 {
		opts.MaxSamples = 86400
	}
	if opts.MaxLoad <= 0 {
		opts.MaxLoad = 8640
	}
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("records: %s is locked by another process (another teamtalkd on this data dir?)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("records: open %s: %w", path, err)
	}
	d := &DB{db: bdb, opts: opts}
	if err := bdb.Update(migrate); err != nil {
		bdb.Close()
		return nil, fmt.Errorf("records: migrate %s: %w", path, err)
	}
	return d, nil
}

// Close closes the file.
func (d *DB) Close() error { return d.db.Close() }

// SchemaVersion returns the file's schema version.
func (d *DB) SchemaVersion() (int, error) {
	var v int
	err := d.db.View(func(tx *bolt.Tx) error {
		v = schemaOf(tx)
		return nil
	})
	return v, err
}

// AppendEvent records e, assigning its Seq (and Time, when zero), drops the
// oldest beyond MaxEvents, and returns the recorded event.
func (d *DB) AppendEvent(e ctlapi.Event) (ctlapi.Event, error) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	err := d.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketEvents))
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		e.Seq = seq
		v, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if err := b.Put(u64(seq), v); err != nil {
			return err
		}
		return trim(tx, b, bucketEvents, d.opts.MaxEvents)
	})
	if err != nil {
		return e, fmt.Errorf("records: append event: %w", err)
	}
	return e, nil
}

// Events returns the events with Seq > since, oldest first; limit > 0 keeps
// only the newest limit of them.
func (d *DB) Events(since uint64, limit int) ([]ctlapi.Event, error) {
	var out []ctlapi.Event
	err := d.db.View(func(tx *bolt.Tx) error {
		return tail(tx.Bucket([]byte(bucketEvents)), u64(since+1), limit, func(v []byte) error {
			var e ctlapi.Event
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("records: events: %w", err)
	}
	return out, nil
}

// PutMsgServers records the current registrations at time now: each server's
// latest registration replaces the previous one and a load sample is
// appended to its history. Servers not in the list keep their last record.
func (d *DB) PutMsgServers(now time.Time, servers []ctlapi.MsgServer) error {
	if len(servers) == 0 {
		return nil
	}
	err := d.db.Update(func(tx *bolt.Tx) error {
		regs, loads := tx.Bucket([]byte(bucketMsgServers)), tx.Bucket([]byte(bucketMsgLoad))
		for _, s := range servers {
			v, err := json.Marshal(s)
			if err != nil {
				return err
			}
			if err := regs.Put([]byte(s.Addr), v); err != nil {
				return err
			}
			lb, err := loads.CreateBucketIfNotExists([]byte(s.Addr))
			if err != nil {
				return err
			}
			sample, err := json.Marshal(ctlapi.LoadSample{Time: now, CurConns: s.CurConns, MaxConns: s.MaxConns})
			if err != nil {
				return err
			}
			if err := lb.Put(i64(now.UnixNano()), sample); err != nil {
				return err
			}
			if err := trim(tx, lb, bucketMsgLoad+"/"+s.Addr, d.opts.MaxLoad); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("records: put msg servers: %w", err)
	}
	return nil
}

// MsgServers returns every recorded registration, ordered by address.
func (d *DB) MsgServers() ([]ctlapi.MsgServer, error) {
	var out []ctlapi.MsgServer
	err := d.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketMsgServers)).ForEach(func(_, v []byte) error {
			var s ctlapi.MsgServer
			if err := json.Unmarshal(v, &s); err != nil {
				return err
			}
			out = append(out, s)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("records: msg servers: %w", err)
	}
	return out, nil
}

// LoadHistory returns a msg server's load samples, oldest first; limit > 0
// keeps only the newest limit.
func (d *DB) LoadHistory(addr string, limit int) ([]ctlapi.LoadSample, error) {
	var out []ctlapi.LoadSample
	err := d.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketMsgLoad)).Bucket([]byte(addr))
		if b == nil {
			return nil
		}
		return tail(b, nil, limit, func(v []byte) error {
			var s ctlapi.LoadSample
			if err := json.Unmarshal(v, &s); err != nil {
				return err
			}
			out = append(out, s)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("records: load history %s: %w", addr, err)
	}
	return out, nil
}

// AppendSample records one counters sample and drops the oldest beyond
// MaxSamples.
func (d *DB) AppendSample(s ctlapi.CounterSample) error {
	err := d.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketCounters))
		v, err := json.Marshal(s)
		if err != nil {
			return err
		}
		if err := b.Put(i64(s.Time.UnixNano()), v); err != nil {
			return err
		}
		return trim(tx, b, bucketCounters, d.opts.MaxSamples)
	})
	if err != nil {
		return fmt.Errorf("records: append sample: %w", err)
	}
	return nil
}

// Samples returns the counters history, oldest first; limit > 0 keeps only
// the newest limit samples.
func (d *DB) Samples(limit int) ([]ctlapi.CounterSample, error) {
	var out []ctlapi.CounterSample
	err := d.db.View(func(tx *bolt.Tx) error {
		return tail(tx.Bucket([]byte(bucketCounters)), nil, limit, func(v []byte) error {
			var s ctlapi.CounterSample
			if err := json.Unmarshal(v, &s); err != nil {
				return err
			}
			out = append(out, s)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("records: samples: %w", err)
	}
	return out, nil
}

// tail calls fn for the values with key >= from (nil: all), oldest first,
// keeping only the last limit (limit <= 0: all).
func tail(b *bolt.Bucket, from []byte, limit int, fn func(v []byte) error) error {
	c := b.Cursor()
	start := from
	if limit > 0 {
		// Walk back limit entries from the end to find the first to return.
		k, _ := c.Last()
		for i := 1; i < limit && k != nil; i++ {
			k, _ = c.Prev()
		}
		if k == nil {
			k, _ = c.First()
		}
		if k != nil && (from == nil || bytes.Compare(k, from) > 0) {
			start = append([]byte(nil), k...)
		}
	}
	var k, v []byte
	if start == nil {
		k, v = c.First()
	} else {
		k, v = c.Seek(start)
	}
	for ; k != nil; k, v = c.Next() {
		if err := fn(v); err != nil {
			return err
		}
	}
	return nil
}

// trim records that one key was added to b (named name) and deletes the
// oldest keys until at most max remain. The count lives in meta under
// "count/NAME" so trimming never walks the bucket.
func trim(tx *bolt.Tx, b *bolt.Bucket, name string, max int) error {
	meta := tx.Bucket([]byte(bucketMeta))
	ck := []byte("count/" + name)
	var n uint64
	if v := meta.Get(ck); len(v) == 8 {
		n = binary.BigEndian.Uint64(v)
	}
	n++
	c := b.Cursor()
	for k, _ := c.First(); k != nil && n > uint64(max); k, _ = c.First() {
		if err := c.Delete(); err != nil {
			return err
		}
		n--
	}
	return meta.Put(ck, u64(n))
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

// i64 encodes a non-negative time so that byte order is time order.
func i64(v int64) []byte { return u64(uint64(v)) }
