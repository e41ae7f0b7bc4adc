package msg

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// TestAckFrame checks the hand-encoded message ack against proto.Marshal.
func TestAckFrame(t *testing.T) {
	tests := []struct {
		name                 string
		user, session, msgID uint32
		st                   pb.SessionType
	}{
		{"single small", 1, 2, 3, pb.SessionType_SESSION_TYPE_SINGLE},
		{"group", 100000, 7, 1 << 20, pb.SessionType_SESSION_TYPE_GROUP},
		{"max ids", 0xffffffff, 0xffffffff, 0xffffffff, pb.SessionType_SESSION_TYPE_SINGLE},
		{"zeros", 0, 0, 0, pb.SessionType_SESSION_TYPE_SINGLE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := wire.NewHeader(pb.CmdMsgDataAck, 77)
			want := frame(h, &pb.IMMsgDataAck{UserId: &tt.user, SessionId: &tt.session, MsgId: &tt.msgID, SessionType: tt.st.Enum()})
			if got := ackFrame(h, tt.user, tt.session, tt.msgID, tt.st); !bytes.Equal(got, want) {
				t.Errorf("ackFrame = %x, want %x", got, want)
			}
		})
	}
}

// TestStripAttach checks the spliced delivery frame against encoding the
// message again without its attach.
func TestStripAttach(t *testing.T) {
	msg := func(attach []byte, data string) *pb.IMMsgData {
		return &pb.IMMsgData{
			FromUserId: proto.Uint32(5), ToSessionId: proto.Uint32(6), MsgId: proto.Uint32(9), CreateTime: proto.Uint32(1700000000),
			MsgType: pb.MsgType_MSG_TYPE_SINGLE_TEXT.Enum(), MsgData: []byte(data), AttachData: attach,
		}
	}
	tests := []struct {
		name string
		m    *pb.IMMsgData
	}{
		{"with attach", msg([]byte{1, 2, 3, 4, 5, 6, 7, 8}, "hello")},
		{"no attach", msg(nil, "hello")},
		{"empty attach", msg([]byte{}, "x")},
		{"long data", msg([]byte("attach"), string(bytes.Repeat([]byte("z"), 5000)))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := frame(wire.NewHeader(pb.CmdMsgData, 3), tt.m)
			h := wire.NewHeader(pb.CmdMsgData, 0)
			bare := proto.Clone(tt.m).(*pb.IMMsgData)
			bare.AttachData = nil
			want := frame(h, bare)
			if got := stripAttach(h, raw); !bytes.Equal(got, want) {
				t.Errorf("stripAttach = %x, want %x", got, want)
			}
		})
	}
	t.Run("garbage body", func(t *testing.T) {
		raw := append(make([]byte, wire.HeaderLen), 0xff, 0xff, 0xff)
		if got := stripAttach(wire.NewHeader(pb.CmdMsgData, 0), raw); got != nil {
			t.Errorf("stripAttach of a bad body = %x, want nil", got)
		}
	})
	t.Run("short frame", func(t *testing.T) {
		if got := stripAttach(wire.NewHeader(pb.CmdMsgData, 0), []byte{1, 2}); got != nil {
			t.Errorf("stripAttach of a short frame = %x, want nil", got)
		}
	})
}
