package msg

import (
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"teamtalk/daemons/internal/attach"
	"teamtalk/wire"
)

// attachField is the field number of attach_data in every message that has
// one (PROTOCOL.md §1.8).
const attachField = 20

// getUint32 returns the scalar uint32 field called name, if m has one.
func getUint32(m proto.Message, name protoreflect.Name) (uint32, bool) {
	r := m.ProtoReflect()
	fd := r.Descriptor().Fields().ByName(name)
	if fd == nil || fd.Kind() != protoreflect.Uint32Kind || fd.IsList() {
		return 0, false
	}
	return uint32(r.Get(fd).Uint()), true
}

// setUint32 sets the scalar uint32 field called name, if m has one, and
// reports whether it did.
func setUint32(m proto.Message, name protoreflect.Name, v uint32) bool {
	r := m.ProtoReflect()
	fd := r.Descriptor().Fields().ByName(name)
	if fd == nil || fd.Kind() != protoreflect.Uint32Kind || fd.IsList() {
		return false
	}
	r.Set(fd, protoreflect.ValueOfUint32(v))
	return true
}

// getAttach returns m's attach_data bytes (nil when it has none).
func getAttach(m proto.Message) []byte {
	r := m.ProtoReflect()
	fd := r.Descriptor().Fields().ByNumber(attachField)
	if fd == nil || fd.Kind() != protoreflect.BytesKind || !r.Has(fd) {
		return nil
	}
	return r.Get(fd).Bytes()
}

// setAttach sets m's attach_data (nil clears it) and reports whether m has
// the field.
func setAttach(m proto.Message, b []byte) bool {
	r := m.ProtoReflect()
	fd := r.Descriptor().Fields().ByNumber(attachField)
	if fd == nil || fd.Kind() != protoreflect.BytesKind {
		return false
	}
	if b == nil {
		r.Clear(fd)
	} else {
		r.Set(fd, protoreflect.ValueOfBytes(b))
	}
	return true
}

// decodeAttach decodes m's attach data; ok is false when there is none or it
// is malformed.
func decodeAttach(m proto.Message) (attach.Data, bool) {
	b := getAttach(m)
	if b == nil {
		return attach.Data{}, false
	}
	d, err := attach.Decode(b)
	return d, err == nil
}

// frame encodes a PDU; encoding our own messages cannot fail short of a
// programming error, which it reports as a nil frame.
func frame(h wire.Header, m proto.Message) []byte {
	f, err := wire.Marshal(h, m)
	if err != nil {
		return nil
	}
	return f
}

// rateLog lets a log line through at most once per interval per key and
// counts what it suppressed.
type rateLog struct {
	mu    sync.Mutex
	every time.Duration
	last  map[string]time.Time
	held  map[string]uint64
}

func newRateLog(every time.Duration) *rateLog {
	return &rateLog{every: every, last: map[string]time.Time{}, held: map[string]uint64{}}
}

// allow reports whether a line for key may be logged now, and how many were
// suppressed since the last one.
func (r *rateLog) allow(key string) (bool, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if now.Sub(r.last[key]) < r.every {
		r.held[key]++
		return false, 0
	}
	r.last[key] = now
	n := r.held[key]
	delete(r.held, key)
	return true, n
}
