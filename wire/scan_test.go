package wire

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"teamtalk/wire/pb"
)

func scanBody(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := MarshalBody(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func scanMsg() *pb.IMMsgData {
	return &pb.IMMsgData{
		FromUserId: proto.Uint32(11), ToSessionId: proto.Uint32(22), MsgId: proto.Uint32(3), CreateTime: proto.Uint32(1700000000),
		MsgType: pb.MsgType_MSG_TYPE_SINGLE_TEXT.Enum(), MsgData: []byte("hi"), AttachData: []byte{1, 2, 3},
	}
}

// TestScanMsgData checks ScanMsgData against DecodeBody: what it accepts
// decodes to the same fields, and it refuses what it cannot vouch for.
func TestScanMsgData(t *testing.T) {
	with := func(f func(*pb.IMMsgData)) []byte {
		m := scanMsg()
		f(m)
		return scanBody(t, m)
	}
	full := scanBody(t, scanMsg())
	add := func(num protowire.Number, typ protowire.Type, v uint64) []byte {
		b := protowire.AppendTag(append([]byte{}, full...), num, typ)
		if typ == protowire.BytesType {
			return protowire.AppendBytes(b, []byte{byte(v)})
		}
		return protowire.AppendVarint(b, v)
	}
	tests := []struct {
		name   string
		body   []byte
		wantOK bool
	}{
		{"single", full, true},
		{"group", with(func(m *pb.IMMsgData) { m.MsgType = pb.MsgType_MSG_TYPE_GROUP_TEXT.Enum() }), true},
		{"no attach", with(func(m *pb.IMMsgData) { m.AttachData = nil }), true},
		{"empty attach", with(func(m *pb.IMMsgData) { m.AttachData = []byte{} }), true},
		{"big ids", with(func(m *pb.IMMsgData) { m.FromUserId, m.MsgId = proto.Uint32(0xffffffff), proto.Uint32(1<<31) }), true},
		{"unknown field", add(9, protowire.VarintType, 5), true},
		{"repeated from: last wins", add(1, protowire.VarintType, 99), true},
		{"repeated attach: last wins", add(20, protowire.BytesType, 7), true},
		{"missing type", with(func(m *pb.IMMsgData) { m.MsgType = nil }), false},
		{"missing data", with(func(m *pb.IMMsgData) { m.MsgData = nil }), false},
		{"missing create time", with(func(m *pb.IMMsgData) { m.CreateTime = nil }), false},
		{"undeclared type", add(5, protowire.VarintType, 77), false},
		{"from as bytes", add(1, protowire.BytesType, 1), false},
		{"attach as varint", add(20, protowire.VarintType, 1), false},
		{"truncated", full[:len(full)-1], false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, ok := ScanMsgData(tt.body)
			if ok != tt.wantOK {
				t.Fatalf("ScanMsgData ok = %v, want %v", ok, tt.wantOK)
			}
			checkScan(t, tt.body, f, ok)
		})
	}
}

// checkScan fails when ScanMsgData accepted a body DecodeBody refuses or
// reads differently.
func checkScan(t *testing.T, body []byte, f MsgDataFields, ok bool) {
	t.Helper()
	if !ok {
		if f.From|f.To|f.MsgID|f.CreateTime != 0 || f.Type != 0 || f.Attach != nil {
			t.Fatalf("refused scan returned %+v", f)
		}
		return
	}
	m, err := DecodeBody(pb.CmdMsgData, body)
	if err != nil {
		t.Fatalf("scan accepted a body DecodeBody refuses: %v", err)
	}
	d := m.(*pb.IMMsgData)
	want := MsgDataFields{From: d.GetFromUserId(), To: d.GetToSessionId(), MsgID: d.GetMsgId(), CreateTime: d.GetCreateTime(), Type: d.GetMsgType(), Data: d.GetMsgData(), Attach: d.AttachData}
	if f.From != want.From || f.To != want.To || f.MsgID != want.MsgID || f.CreateTime != want.CreateTime || f.Type != want.Type ||
		!bytes.Equal(f.Data, want.Data) || !bytes.Equal(f.Attach, want.Attach) || (f.Attach == nil) != (want.Attach == nil) {
		t.Fatalf("scan read %+v, decode %+v", f, want)
	}
	checkSplice(t, body, d)
}

// checkSplice fails when AppendMsgDataSplice of an accepted body differs
// from decoding it, setting from, create time and attach, and encoding it
// again (with and without an attach).
func checkSplice(t *testing.T, body []byte, d *pb.IMMsgData) {
	t.Helper()
	for _, attach := range [][]byte{nil, {}, {9, 8, 7}} {
		h := NewHeader(pb.CmdMsgData, 7)
		prefix := []byte("keep")
		out := AppendMsgDataSplice(prefix, h, body, 0xfffffffe, 1234, attach)
		if out == nil {
			t.Fatal("splice refused a scanned body")
		}
		if string(out[:len(prefix)]) != "keep" {
			t.Fatal("splice overwrote dst")
		}
		frame := out[len(prefix):]
		gh, gm, err := DecodeFrame(frame)
		if err != nil {
			t.Fatalf("splice made an undecodable frame: %v", err)
		}
		if gh.CommandID != h.CommandID || gh.Seq != h.Seq || int(gh.Length) != len(frame) {
			t.Fatalf("splice header %+v, frame of %d bytes", gh, len(frame))
		}
		want := proto.Clone(d).(*pb.IMMsgData)
		want.FromUserId, want.CreateTime, want.AttachData = proto.Uint32(0xfffffffe), proto.Uint32(1234), attach
		if !proto.Equal(gm, want) {
			t.Fatalf("splice decodes to %v, want %v", gm, want)
		}
	}
	out := AppendMsgDataID(nil, NewHeader(pb.CmdMsgData, 9), body, 0x80000001)
	_, gm, err := DecodeFrame(out)
	if err != nil {
		t.Fatalf("AppendMsgDataID made an undecodable frame: %v", err)
	}
	want := proto.Clone(d).(*pb.IMMsgData)
	want.MsgId = proto.Uint32(0x80000001)
	if !proto.Equal(gm, want) {
		t.Fatalf("AppendMsgDataID decodes to %v, want %v", gm, want)
	}
	out = AppendMsgDataNoAttach(nil, NewHeader(pb.CmdMsgData, 0), body)
	if _, gm, err = DecodeFrame(out); err != nil {
		t.Fatalf("AppendMsgDataNoAttach made an undecodable frame: %v", err)
	}
	want = proto.Clone(d).(*pb.IMMsgData)
	want.AttachData = nil
	if !proto.Equal(gm, want) {
		t.Fatalf("AppendMsgDataNoAttach decodes to %v, want %v", gm, want)
	}
}

// FuzzScanMsgData: whatever ScanMsgData accepts, DecodeBody accepts and
// reads the same way.
func FuzzScanMsgData(f *testing.F) {
	f.Add(scanBody(f, scanMsg()))
	g := scanMsg()
	g.MsgType = pb.MsgType_MSG_TYPE_GROUP_AUDIO.Enum()
	g.AttachData = nil
	f.Add(scanBody(f, g))
	f.Add([]byte("\x80\x9dϪ00\b0\x100\x180 0(\x012\x03000")) // field number out of range
	f.Add([]byte{0x08, 0x01})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		sf, ok := ScanMsgData(body)
		checkScan(t, body, sf, ok)
	})
}

// BenchmarkScanMsgData compares the scan with a decode
// (go test -run '^$' -bench ScanMsgData ./wire).
func BenchmarkScanMsgData(b *testing.B) {
	body := scanBody(b, scanMsg())
	b.Run("scan", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := ScanMsgData(body); !ok {
				b.Fatal("refused")
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeBody(pb.CmdMsgData, body); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func scanAck() *pb.IMMsgDataAck {
	return &pb.IMMsgDataAck{UserId: proto.Uint32(1), SessionId: proto.Uint32(2), MsgId: proto.Uint32(3), SessionType: pb.SessionType_SESSION_TYPE_SINGLE.Enum()}
}

// TestScanMsgDataAck: what the scan accepts DecodeBody accepts; it refuses
// what it cannot vouch for.
func TestScanMsgDataAck(t *testing.T) {
	full := scanBody(t, scanAck())
	add := func(num protowire.Number, typ protowire.Type, v uint64) []byte {
		b := protowire.AppendTag(append([]byte{}, full...), num, typ)
		if typ == protowire.BytesType {
			return protowire.AppendBytes(b, []byte{byte(v)})
		}
		return protowire.AppendVarint(b, v)
	}
	noMsgID := scanAck()
	noMsgID.MsgId = nil
	tests := []struct {
		name   string
		body   []byte
		wantOK bool
	}{
		{"ack", full, true},
		{"group", scanBody(t, &pb.IMMsgDataAck{UserId: proto.Uint32(1), SessionId: proto.Uint32(9), MsgId: proto.Uint32(0), SessionType: pb.SessionType_SESSION_TYPE_GROUP.Enum()}), true},
		{"unknown field", add(7, protowire.BytesType, 1), true},
		{"session type again, declared", add(4, protowire.VarintType, 2), true},
		{"session type again, undeclared", add(4, protowire.VarintType, 9), false},
		{"missing msg id", scanBody(t, noMsgID), false},
		{"user id as bytes", add(1, protowire.BytesType, 1), false},
		{"truncated", full[:len(full)-1], false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok := ScanMsgDataAck(tt.body)
			if ok != tt.wantOK {
				t.Fatalf("ScanMsgDataAck = %v, want %v", ok, tt.wantOK)
			}
			checkScanAck(t, tt.body, ok)
		})
	}
}

func checkScanAck(t *testing.T, body []byte, ok bool) {
	t.Helper()
	if !ok {
		return
	}
	if _, err := DecodeBody(pb.CmdMsgDataAck, body); err != nil {
		t.Fatalf("scan accepted an ack DecodeBody refuses: %v", err)
	}
}

// FuzzScanMsgDataAck: whatever ScanMsgDataAck accepts, DecodeBody accepts.
func FuzzScanMsgDataAck(f *testing.F) {
	f.Add(scanBody(f, scanAck()))
	f.Add([]byte{0x08, 0x01, 0x10, 0x02, 0x18, 0x03, 0x20, 0x05})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		checkScanAck(t, body, ScanMsgDataAck(body))
	})
}
