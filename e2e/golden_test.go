package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"teamtalk/internal/capture"
	"teamtalk/state"
	"teamtalk/state/boltstore"
	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// vectorsDir is /work/shared/vectors seen from this package: CI checks the
// repository out with shared/ beside the clone, at the same relative place.
var vectorsDir = filepath.Join("..", "..", "shared", "vectors")

// capLine is one capture line (vectors/README.md, "Line format").

// capFrame is one captured frame.
type capFrame struct {
	line     int
	stream   int
	toServer bool // C->S
	h        wire.Header
	body     []byte
}

func (f capFrame) frame() []byte { return wire.AppendFrame(nil, f.h, f.body) }

func (f capFrame) String() string {
	dir := "S->C"
	if f.toServer {
		dir = "C->S"
	}
	return fmt.Sprintf("line %d stream %d %s %s seq=%d", f.line, f.stream, dir, pb.CommandName(f.h.CommandID), f.h.Seq)
}

// loadCapture parses a capture file; a line that is not a frame fails the
// test (nothing is skipped).
func loadCapture(t *testing.T, name string) []capFrame {
	t.Helper()
	frames, err := capture.Load(filepath.Join(vectorsDir, name))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]capFrame, 0, len(frames))
	for _, f := range frames {
		out = append(out, capFrame{line: f.Line, stream: f.Stream, toServer: f.ToServer, h: wire.ParseHeader(f.Raw), body: f.Body()})
	}
	return out
}

// captureUser is a row of the IMUser table behind the capture
// (vectors/README.md, "The data behind the capture").
type captureUser struct {
	name, nick, sign string
	sex              uint8
	salt             string
	clientPassword   string // what the capture's client sends as password
}

var captureUsers = []captureUser{
	{name: "alice", nick: "Alice", sign: "hi from alice", sex: 1, salt: "1234", clientPassword: state.MD5Hex("123456")},
	{name: "bob", nick: "Bob", sign: "hi from bob", sex: 2, salt: "5678", clientPassword: state.MD5Hex("123456")},
	{name: "carol", nick: "Carol", sign: "", sex: 0, salt: "42", clientPassword: "secret"},
}

// seedCapture writes the capture's directory into a fresh im.db in dir:
// department 1 "dev" and users 1 alice, 2 bob, 3 carol with the capture's
// profile fields. The stored passwords are the capture's own rows,
// md5hex(client-sent password + salt) with the capture's salts: carol's was
// made from the literal "secret" her client sends, which no plain password
// can produce through CreateUser (md5hex(md5hex(plain) + salt)), so the rows
// are rewritten the way an import of the reference's IMUser table stores
// them (boltstore's documented layout: users / u32 id -> JSON record).
func seedCapture(t *testing.T, dir string) {
	t.Helper()
	path := filepath.Join(dir, "im.db")
	st, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatalf("seed: open store: %v", err)
	}
	ctx := context.Background()
	d, err := st.CreateDepart(ctx, state.NewDepart{Name: "dev"})
	if err != nil || d.ID != 1 {
		t.Fatalf("seed: depart: %+v %v", d, err)
	}
	for i, u := range captureUsers {
		got, err := st.CreateUser(ctx, state.NewUser{
			Name: u.name, Password: "placeholder", Nick: u.nick, Domain: u.name, Sex: u.sex,
			Phone: fmt.Sprintf("1380000000%d", i+1), Email: u.name + "@example.com", DepartID: d.ID, SignInfo: u.sign,
		})
		if err != nil || got.ID != uint32(i+1) {
			t.Fatalf("seed: user %s: %+v %v", u.name, got, err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatalf("seed: close: %v", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("seed: reopen: %v", err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("users"))
		if b == nil {
			return fmt.Errorf("no users bucket")
		}
		for i, u := range captureUsers {
			key := binary.BigEndian.AppendUint32(nil, uint32(i+1))
			var rec map[string]any
			if err := json.Unmarshal(b.Get(key), &rec); err != nil {
				return fmt.Errorf("user %d: %w", i+1, err)
			}
			if _, ok := rec["password"]; !ok {
				return fmt.Errorf("user %d: no password in %v", i+1, rec)
			}
			rec["salt"] = u.salt
			rec["password"] = state.SaltedHash(u.clientPassword, u.salt)
			raw, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			if err := b.Put(key, raw); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("seed: capture password rows: %v", err)
	}
}

// replayConn is our raw TCP connection standing in for one capture stream.
type replayConn struct {
	stream  int
	conn    net.Conn
	frames  chan []byte // whole frames from the server; closed on EOF or error
	done    chan struct{}
	readErr error      // why frames was closed (read after it is)
	pending []capFrame // S->C frames the capture shows that we still wait for
	user    uint32     // the user logged in on it (0 until a login succeeded)
	refused bool       // its last login reply refused the login: the server closes
	last    int        // index of the stream's last capture frame
	closed  bool
}

func dialReplay(t *testing.T, addr string, stream, last int) *replayConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("stream %d: dial %s: %v", stream, addr, err)
	}
	rc := &replayConn{stream: stream, conn: c, frames: make(chan []byte, 64), done: make(chan struct{}), last: last}
	go func() {
		defer close(rc.done)
		defer close(rc.frames)
		d := wire.NewDecoder(wire.MaxClientFrame)
		for {
			for {
				f, err := d.Next()
				if err != nil {
					rc.readErr = err
					return
				}
				if f == nil {
					break
				}
				rc.frames <- bytes.Clone(f)
			}
			if _, err := d.Fill(c); err != nil {
				rc.readErr = err
				return
			}
		}
	}()
	t.Cleanup(func() {
		c.Close()
		for range rc.frames {
		}
		<-rc.done
	})
	return rc
}

// await reads frames until every pending expectation is met. Replies are
// matched by command and seq; unsolicited frames (seq 0) by command, since
// they may arrive in another order relative to replies than in the
// capture. A frame the capture does not show fails the test.
func (r *goldenRun) await(rc *replayConn) {
	t := r.t
	t.Helper()
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	for len(rc.pending) > 0 {
		var got []byte
		select {
		case f, ok := <-rc.frames:
			if !ok {
				t.Fatalf("stream %d: connection ended (%v) while waiting for %v", rc.stream, rc.readErr, rc.pending)
			}
			got = f
		case <-timer.C:
			t.Fatalf("stream %d: no frame within 10 s; still waiting for %v", rc.stream, rc.pending)
		}
		h := wire.ParseHeader(got)
		i := slices.IndexFunc(rc.pending, func(e capFrame) bool {
			return e.h.CommandID == h.CommandID && e.h.Seq == h.Seq
		})
		if i < 0 {
			t.Fatalf("stream %d: frame the capture does not show: %s seq=%d %s", rc.stream, pb.CommandName(h.CommandID), h.Seq, describe(h.CommandID, got[wire.HeaderLen:]))
		}
		want := rc.pending[i]
		rc.pending = slices.Delete(rc.pending, i, i+1)
		r.compare(rc, want, got)
		r.matched++
	}
}

func describe(cmd uint16, body []byte) string {
	m, err := wire.DecodeBody(cmd, body)
	if err != nil {
		return fmt.Sprintf("(undecodable: %v, %x)", err, body)
	}
	return prototext.MarshalOptions{}.Format(m)
}

// goldenRun is one replay of a capture against a running appliance.
type goldenRun struct {
	t       *testing.T
	a       *appliance
	addr    string
	since   uint32 // the earliest time a server-set time field may hold
	conns   map[int]*replayConn
	sender  map[[3]uint32]uint32 // {user, peer, msg id} -> who sent it, from the capture's acks
	matched int
}

// looseTimes are the fields that carry the server's clock (or a time
// derived from it) and so differ from the capture's: ours must hold a
// current time instead (between seeding and now).
var looseTimes = map[protoreflect.FullName]string{
	"IM.Login.IMLoginRes.server_time":                       "the msg server's clock",
	"IM.Message.IMMsgData.create_time":                      "set by msg when the message arrives (§4.3 step 2)",
	"IM.BaseDefine.MsgInfo.create_time":                     "the stored message's create_time",
	"IM.BaseDefine.ContactSessionInfo.updated_time":         "when the session was last touched",
	"IM.Buddy.IMAllUserRsp.latest_update_time":              "the newest user's updated time: when we seeded the users",
	"IM.Buddy.IMDepartmentRsp.latest_update_time":           "the newest department's updated time",
	"IM.Buddy.IMRecentContactSessionRsp.latest_update_time": "a session time",
}

// compare checks one of our frames against the captured one: the header
// (all but the length) exactly, the bodies field by field.
func (r *goldenRun) compare(rc *replayConn, want capFrame, got []byte) {
	t := r.t
	t.Helper()
	h := wire.ParseHeader(got)
	wh := want.h
	wh.Length = h.Length
	if h != wh {
		t.Errorf("%v: header %+v, capture %+v", want, h, want.h)
	}
	ours, err := wire.DecodeBody(h.CommandID, got[wire.HeaderLen:])
	if err != nil {
		t.Errorf("%v: our body fails the checking parser: %v (%x)", want, err, got[wire.HeaderLen:])
		return
	}
	theirs, err := wire.DecodeBody(want.h.CommandID, want.body)
	if err != nil {
		t.Fatalf("%v: capture body: %v", want, err)
	}
	r.fixReference(theirs)
	if res, ok := ours.(*pb.IMLoginRes); ok {
		if res.GetResultCode() == pb.ResultType_REFUSE_REASON_NONE {
			rc.user = res.GetUserInfo().GetUserId()
			rc.refused = false
		} else {
			rc.refused = true
		}
	}
	var diffs []string
	r.diff(&diffs, "", theirs.ProtoReflect(), ours.ProtoReflect())
	if len(diffs) > 0 {
		t.Errorf("%v: body differs from the capture:\n  %s\n ours:    %s\n capture: %s", want, strings.Join(diffs, "\n  "),
			prototext.MarshalOptions{}.Format(ours), prototext.MarshalOptions{}.Format(theirs))
	}
}

// fixReference turns a captured body into what we answer where we
// deliberately fix a reference bug (PROTOCOL.md §10.2): recent sessions and
// unread entries report the real sender of the latest message as
// latest_msg_from_user_id; the reference always puts the peer there. The
// real sender comes from the capture's own message acks.
func (r *goldenRun) fixReference(m proto.Message) {
	fix := func(owner, peer, id uint32, from *uint32) *uint32 {
		if s, ok := r.sender[[3]uint32{owner, peer, id}]; ok {
			return proto.Uint32(s)
		}
		return from
	}
	switch x := m.(type) {
	case *pb.IMRecentContactSessionRsp:
		for _, s := range x.GetContactSessionList() {
			if s.GetSessionType() == pb.SessionType_SESSION_TYPE_SINGLE {
				s.LatestMsgFromUserId = fix(x.GetUserId(), s.GetSessionId(), s.GetLatestMsgId(), s.LatestMsgFromUserId)
			}
		}
	case *pb.IMUnreadMsgCntRsp:
		for _, u := range x.GetUnreadinfoList() {
			if u.GetSessionType() == pb.SessionType_SESSION_TYPE_SINGLE {
				u.LatestMsgFromUserId = fix(x.GetUserId(), u.GetSessionId(), u.GetLatestMsgId(), u.LatestMsgFromUserId)
			}
		}
	}
}

// diff appends the differences between the capture's message a and ours b.
func (r *goldenRun) diff(out *[]string, path string, a, b protoreflect.Message) {
	fields := a.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		p := path + string(fd.Name())
		if why, ok := looseTimes[fd.FullName()]; ok {
			if a.Has(fd) {
				v := uint32(b.Get(fd).Uint())
				now := uint32(time.Now().Unix()) + 2
				if !b.Has(fd) || v < r.since || v > now {
					*out = append(*out, fmt.Sprintf("%s = %d (present %v): want a current time in [%d, %d] (%s)", p, v, b.Has(fd), r.since, now, why))
				}
			}
			continue
		}
		if a.Has(fd) != b.Has(fd) {
			*out = append(*out, fmt.Sprintf("%s: present in capture %v, in ours %v", p, a.Has(fd), b.Has(fd)))
			continue
		}
		if !a.Has(fd) {
			continue
		}
		switch {
		case fd.IsList():
			la, lb := a.Get(fd).List(), b.Get(fd).List()
			if fd.FullName() == "IM.Buddy.IMRecentContactSessionRsp.contact_session_list" {
				la, lb = r.sessionOrder(out, p, la, lb)
			}
			if la.Len() != lb.Len() {
				*out = append(*out, fmt.Sprintf("%s: %d entries, capture %d", p, lb.Len(), la.Len()))
				continue
			}
			for j := 0; j < la.Len(); j++ {
				ep := fmt.Sprintf("%s[%d]", p, j)
				if fd.Message() != nil {
					r.diff(out, ep+".", la.Get(j).Message(), lb.Get(j).Message())
				} else if !la.Get(j).Equal(lb.Get(j)) {
					*out = append(*out, fmt.Sprintf("%s = %v, capture %v", ep, lb.Get(j), la.Get(j)))
				}
			}
		case fd.Message() != nil:
			r.diff(out, p+".", a.Get(fd).Message(), b.Get(fd).Message())
		default:
			if !a.Get(fd).Equal(b.Get(fd)) {
				*out = append(*out, fmt.Sprintf("%s = %v, capture %v", p, b.Get(fd), a.Get(fd)))
			}
		}
	}
	if !bytes.Equal(a.GetUnknown(), b.GetUnknown()) {
		*out = append(*out, fmt.Sprintf("%sunknown fields %x, capture %x", path, b.GetUnknown(), a.GetUnknown()))
	}
}

// sessionOrder checks that our recent sessions are newest first and returns
// both lists ordered by session id. The capture's sessions were touched 2 s
// apart; the replay sends the same frames within one second, so updated
// times tie and tied entries may come in any order.
func (r *goldenRun) sessionOrder(out *[]string, p string, la, lb protoreflect.List) (protoreflect.List, protoreflect.List) {
	var prev uint64 = 1 << 62
	for j := 0; j < lb.Len(); j++ {
		u := lb.Get(j).Message().Get(lb.Get(j).Message().Descriptor().Fields().ByName("updated_time")).Uint()
		if u > prev {
			*out = append(*out, fmt.Sprintf("%s: not newest first at %d (%d after %d)", p, j, u, prev))
		}
		prev = u
	}
	sorted := func(l protoreflect.List) protoreflect.List {
		s := &pb.IMRecentContactSessionRsp{}
		for j := 0; j < l.Len(); j++ {
			s.ContactSessionList = append(s.ContactSessionList, proto.Clone(l.Get(j).Message().Interface()).(*pb.ContactSessionInfo))
		}
		slices.SortStableFunc(s.ContactSessionList, func(x, y *pb.ContactSessionInfo) int {
			return int(x.GetSessionId()) - int(y.GetSessionId())
		})
		return s.ProtoReflect().Get(s.ProtoReflect().Descriptor().Fields().ByName("contact_session_list")).List()
	}
	return sorted(la), sorted(lb)
}

// finish ends the streams whose last capture frame lies before index i:
// a stream whose login was refused must be closed by the server (§4.1
// step 7); the others we close, as the capture's client did, and then wait
// until route has forgotten their users, so the next stream sees the
// presence the capture's next stream saw.
func (r *goldenRun) finish(i int) {
	t := r.t
	t.Helper()
	ended := false
	for _, rc := range r.conns {
		if rc.closed || rc.last >= i {
			continue
		}
		rc.closed = true
		if rc.refused {
			select {
			case f, ok := <-rc.frames:
				if ok {
					t.Fatalf("stream %d: frame after the refused login: %x", rc.stream, f)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("stream %d: the server did not close the connection after refusing the login", rc.stream)
			}
			rc.conn.Close()
			continue
		}
		rc.conn.Close()
		for f := range rc.frames {
			t.Fatalf("stream %d: frame the capture does not show before the close: %x", rc.stream, f)
		}
		ended = ended || rc.user != 0
	}
	if !ended {
		return
	}
	want := map[uint32]bool{}
	for _, rc := range r.conns {
		if !rc.closed && rc.user != 0 {
			want[rc.user] = true
		}
	}
	eventually(t, 10*time.Second, fmt.Sprintf("route's online users = %v", want), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		on, err := r.a.ctl.Online(ctx)
		if err != nil || len(on) != len(want) {
			return false
		}
		for _, u := range on {
			if !want[u.UserID] {
				return false
			}
		}
		return true
	})
}

// TestGoldenReplay replays the client side of vectors/port_8000.txt against
// our msg server, one raw TCP connection per captured stream, concurrent
// where the capture's streams were, and compares every server frame of the
// capture with ours. Before each client frame every server frame the
// capture shows before it (on any stream) must have arrived: the capture's
// own order of cause and effect.
func TestGoldenReplay(t *testing.T) {
	frames := loadCapture(t, "port_8000.txt")
	since := uint32(time.Now().Unix()) - 1
	dir := t.TempDir()
	seedCapture(t, dir)
	a := start(t, "golden", dir)
	r := &goldenRun{t: t, a: a, addr: a.addr("msg.listen"), since: since, conns: map[int]*replayConn{}, sender: map[[3]uint32]uint32{}}

	last := map[int]int{}
	serverFrames := 0
	for i, f := range frames {
		last[f.stream] = i
		if f.toServer {
			continue
		}
		serverFrames++
		if f.h.CommandID == uint16(pb.MessageCmdID_CID_MSG_DATA_ACK) {
			var ack pb.IMMsgDataAck
			if err := wire.Unmarshal(f.body, &ack); err != nil {
				t.Fatalf("%v: %v", f, err)
			}
			from, to, id := ack.GetUserId(), ack.GetSessionId(), ack.GetMsgId()
			r.sender[[3]uint32{from, to, id}] = from
			r.sender[[3]uint32{to, from, id}] = from
		}
	}

	for i, f := range frames {
		if !f.toServer {
			rc := r.conns[f.stream]
			if rc == nil {
				t.Fatalf("%v: server frame on a stream the client never wrote to", f)
			}
			rc.pending = append(rc.pending, f)
			continue
		}
		for _, rc := range r.conns {
			if !rc.closed {
				r.await(rc)
			}
		}
		r.finish(i)
		rc := r.conns[f.stream]
		if rc == nil {
			rc = dialReplay(t, r.addr, f.stream, last[f.stream])
			r.conns[f.stream] = rc
		}
		if rc.closed {
			t.Fatalf("%v: stream already ended", f)
		}
		if _, err := rc.conn.Write(f.frame()); err != nil {
			t.Fatalf("%v: write: %v", f, err)
		}
	}
	for _, rc := range r.conns {
		if !rc.closed {
			r.await(rc)
		}
	}
	r.finish(len(frames))
	if r.matched != serverFrames {
		t.Fatalf("matched %d of the capture's %d server frames", r.matched, serverFrames)
	}
	t.Logf("%d server frames of %d streams matched", r.matched, len(r.conns))
}
