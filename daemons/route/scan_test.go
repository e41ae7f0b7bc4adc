package route

import (
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"teamtalk/wire"
	"teamtalk/wire/pb"
)

func msgDataBody(t testing.TB, m *pb.IMMsgData) []byte {
	t.Helper()
	b, err := wire.MarshalBody(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fullMsg() *pb.IMMsgData {
	return &pb.IMMsgData{
		FromUserId: proto.Uint32(11), ToSessionId: proto.Uint32(22), MsgId: proto.Uint32(3), CreateTime: proto.Uint32(1700000000),
		MsgType: pb.MsgType_MSG_TYPE_SINGLE_TEXT.Enum(), MsgData: []byte("hi"), AttachData: []byte{1, 2, 3},
	}
}

// TestScanMsgData checks the route's field scan of a chat message against
// wire.DecodeBody: what it accepts decodes to the same users and type, and
// what it refuses goes to the full decode.
func TestScanMsgData(t *testing.T) {
	group := fullMsg()
	group.MsgType = pb.MsgType_MSG_TYPE_GROUP_TEXT.Enum()
	noAttach := fullMsg()
	noAttach.AttachData = nil
	big := fullMsg()
	big.FromUserId, big.ToSessionId = proto.Uint32(0xffffffff), proto.Uint32(1<<31)
	noType := fullMsg()
	noType.MsgType = nil
	noData := fullMsg()
	noData.MsgData = nil
	full := msgDataBody(t, fullMsg())
	tests := []struct {
		name   string
		body   []byte
		wantOK bool
	}{
		{"single", full, true},
		{"group", msgDataBody(t, group), true},
		{"no attach", msgDataBody(t, noAttach), true},
		{"big ids", msgDataBody(t, big), true},
		{"unknown field kept", protowire.AppendVarint(protowire.AppendTag(append([]byte{}, full...), 9, protowire.VarintType), 5), true},
		{"repeated from: last wins", protowire.AppendVarint(protowire.AppendTag(append([]byte{}, full...), 1, protowire.VarintType), 99), true},
		{"missing type", msgDataBody(t, noType), false},
		{"missing data", msgDataBody(t, noData), false},
		{"undeclared type", protowire.AppendVarint(protowire.AppendTag(append([]byte{}, full...), 5, protowire.VarintType), 77), false},
		{"from as bytes", protowire.AppendBytes(protowire.AppendTag(append([]byte{}, full...), 1, protowire.BytesType), []byte{1}), false},
		{"attach as varint", protowire.AppendVarint(protowire.AppendTag(append([]byte{}, full...), 20, protowire.VarintType), 1), false},
		{"truncated", full[:len(full)-1], false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from, to, mt, ok := scanMsgData(tt.body)
			if ok != tt.wantOK {
				t.Fatalf("scanMsgData ok = %v, want %v", ok, tt.wantOK)
			}
			checkAgainstDecode(t, tt.body, from, to, mt, ok)
		})
	}
}

// checkAgainstDecode fails when scanMsgData accepted a body that
// wire.DecodeBody refuses or reads differently.
func checkAgainstDecode(t *testing.T, body []byte, from, to uint32, mt pb.MsgType, ok bool) {
	t.Helper()
	if !ok {
		return
	}
	m, err := wire.DecodeBody(pb.CmdMsgData, body)
	if err != nil {
		t.Fatalf("scan accepted a body DecodeBody refuses: %v", err)
	}
	d := m.(*pb.IMMsgData)
	if d.GetFromUserId() != from || d.GetToSessionId() != to || d.GetMsgType() != mt {
		t.Fatalf("scan read (%d, %d, %v), decode (%d, %d, %v)", from, to, mt, d.GetFromUserId(), d.GetToSessionId(), d.GetMsgType())
	}
}

// FuzzScanMsgData: whatever the scan accepts, the decode accepts and reads
// the same way.
func FuzzScanMsgData(f *testing.F) {
	f.Add(msgDataBody(f, fullMsg()))
	g := fullMsg()
	g.MsgType = pb.MsgType_MSG_TYPE_GROUP_AUDIO.Enum()
	f.Add(msgDataBody(f, g))
	f.Add([]byte{0x08, 0x01})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		from, to, mt, ok := scanMsgData(body)
		checkAgainstDecode(t, body, from, to, mt, ok)
	})
}

// BenchmarkRelayTargets compares reading a chat message's users by the
// field scan with decoding it (go test -run '^$' -bench RelayTargets ./daemons/route).
func BenchmarkRelayTargets(b *testing.B) {
	body := msgDataBody(b, fullMsg())
	b.Run("scan", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, _, ok := scanMsgData(body); !ok {
				b.Fatal("refused")
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m, err := wire.DecodeBody(pb.CmdMsgData, body)
			if err != nil {
				b.Fatal(err)
			}
			targets(m)
		}
	})
}
