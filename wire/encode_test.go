package wire

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"teamtalk/wire/pb"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAppendixB encodes the worked examples of PROTOCOL.md Appendix B and
// decodes them back.
func TestAppendixB(t *testing.T) {
	tests := []struct {
		name string
		h    Header
		msg  proto.Message
		want string
	}{
		{
			name: "heartbeat",
			h:    NewHeader(uint16(pb.OtherCmdID_CID_OTHER_HEARTBEAT), 0),
			msg:  &pb.IMHeartBeat{},
			want: "00 00 00 10 00 01 00 00 00 07 07 01 00 00 00 00",
		},
		{
			name: "login request",
			h:    NewHeader(uint16(pb.LoginCmdID_CID_LOGIN_REQ_USERLOGIN), 1),
			msg: &pb.IMLoginReq{
				UserName:      proto.String("test"),
				Password:      proto.String("098f6bcd4621d373cade4e832627b4f6"),
				OnlineStatus:  pb.UserStatType_USER_STATUS_ONLINE.Enum(),
				ClientType:    pb.ClientType_CLIENT_TYPE_WINDOWS.Enum(),
				ClientVersion: proto.String("1.0"),
			},
			want: `00 00 00 41 00 01 00 00 00 01 01 03 00 01 00 00
				0a 04 74 65 73 74
				12 20 30 39 38 66 36 62 63 64 34 36 32 31 64 33 37 33 63 61 64 65 34 65 38 33 32 36 32 37 62 34 66 36
				18 01 20 01 2a 03 31 2e 30`,
		},
		{
			name: "text message with msg_id 0 written",
			h:    NewHeader(uint16(pb.MessageCmdID_CID_MSG_DATA), 2),
			msg: &pb.IMMsgData{
				FromUserId:  proto.Uint32(1),
				ToSessionId: proto.Uint32(2),
				MsgId:       proto.Uint32(0),
				CreateTime:  proto.Uint32(1700000000),
				MsgType:     pb.MsgType_MSG_TYPE_SINGLE_TEXT.Enum(),
				MsgData:     []byte("nnZSBwfPCz60q69ddmfIJA=="),
			},
			want: `00 00 00 38 00 01 00 00 00 03 03 01 00 02 00 00
				08 01 10 02 18 00 20 80 e2 cf aa 06 28 01
				32 18 6e 6e 5a 53 42 77 66 50 43 7a 36 30 71 36 39 64 64 6d 66 49 4a 41 3d 3d`,
		},
		{
			name: "ack with the message's seq",
			h:    Header{Version: 1, ServiceID: 3, CommandID: 0x0301, Seq: 2}.Reply(uint16(pb.MessageCmdID_CID_MSG_DATA_ACK)),
			msg: &pb.IMMsgDataAck{
				UserId: proto.Uint32(1), SessionId: proto.Uint32(2), MsgId: proto.Uint32(7),
				SessionType: pb.SessionType_SESSION_TYPE_SINGLE.Enum(),
			},
			want: "00 00 00 18 00 01 00 00 00 03 03 02 00 02 00 00   08 01 10 02 18 07 20 01",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := unhex(t, tt.want)
			got, err := Marshal(tt.h, tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Marshal\n got %x\nwant %x", got, want)
			}
			h, msg, err := DecodeFrame(want)
			if err != nil {
				t.Fatal(err)
			}
			if h != ParseHeader(want) || !proto.Equal(msg, tt.msg) {
				t.Fatalf("DecodeFrame = %+v %v", h, msg)
			}
		})
	}
}

// TestAttachExamples: the attach data of Appendix B rides in field 20 and
// comes back byte for byte.
func TestAttachExamples(t *testing.T) {
	tests := []struct {
		name   string
		attach string
	}{
		{"handle attach", "00 00 00 01 00 00 00 2a 00 00 00 00"},
		{"pdu attach, no payload", "00 00 00 01 00 00 00 2a 00 00 00 00 00 00 00 00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := unhex(t, tt.attach)
			req := &pb.IMValidateReq{UserName: proto.String("bob"), Password: proto.String("x"), AttachData: a}
			frame, err := Marshal(NewHeader(uint16(pb.OtherCmdID_CID_OTHER_VALIDATE_REQ), 5), req)
			if err != nil {
				t.Fatal(err)
			}
			// field 20, wire type 2: tag a2 01, then the length.
			if !bytes.Contains(frame, append([]byte{0xa2, 0x01, byte(len(a))}, a...)) {
				t.Fatalf("attach not in field 20: %x", frame)
			}
			_, msg, err := DecodeFrame(frame)
			if err != nil {
				t.Fatal(err)
			}
			if got := msg.(*pb.IMValidateReq).GetAttachData(); !bytes.Equal(got, a) {
				t.Fatalf("attach %x, want %x", got, a)
			}
		})
	}
}

func TestHeaders(t *testing.T) {
	req := Header{Length: 99, Version: 6, Flag: 3, ServiceID: 3, CommandID: 0x0309, Seq: 0xff01, Reserved: 0x30}
	tests := []struct {
		name string
		got  Header
		want Header
	}{
		{"new", NewHeader(0x0203, 0), Header{Version: 1, ServiceID: 2, CommandID: 0x0203}},
		{"new unknown cmd", NewHeader(0x0999, 4), Header{Version: 1, CommandID: 0x0999, Seq: 4}},
		{"reply keeps seq", req.Reply(0x030a), Header{Version: 1, ServiceID: 3, CommandID: 0x030a, Seq: 0xff01}},
		{"forward keeps all but length", req.Forward(), Header{Version: 6, Flag: 3, ServiceID: 3, CommandID: 0x0309, Seq: 0xff01, Reserved: 0x30}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %+v, want %+v", tt.got, tt.want)
			}
		})
	}
}

func TestAppendFrame(t *testing.T) {
	tests := []struct {
		name string
		dst  []byte
		body []byte
	}{
		{"empty body", nil, nil},
		{"append to prefix", []byte("prefix"), []byte{1, 2, 3}},
		{"length ignored", nil, bytes.Repeat([]byte{9}, 300)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := Header{Length: 12345, Version: 1, ServiceID: 3, CommandID: 0x0301, Seq: 77}
			prefix := len(tt.dst)
			out := AppendFrame(tt.dst, h, tt.body)
			f := out[prefix:]
			got := ParseHeader(f)
			h.Length = uint32(HeaderLen + len(tt.body))
			if got != h || !bytes.Equal(f[HeaderLen:], tt.body) || len(f) != int(h.Length) {
				t.Fatalf("frame %x", f)
			}
			// AppendMarshal of the same body bytes as a message agrees.
			m, err := AppendMarshal(tt.dst[:prefix:prefix], h, nil)
			if err != nil || ParseHeader(m[prefix:]).Length != HeaderLen {
				t.Fatalf("AppendMarshal(nil msg) = %x, %v", m, err)
			}
		})
	}
}

// TestMarshalPartial: a message lacking a required field is written as it
// is, as the reference does (the empty device-token reply, PROTOCOL.md §10).
func TestMarshalPartial(t *testing.T) {
	frame, err := Marshal(NewHeader(uint16(pb.LoginCmdID_CID_LOGIN_RES_DEVICETOKEN), 8), &pb.IMDeviceTokenRsp{})
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, "00 00 00 10 00 01 00 00 00 01 01 09 00 08 00 00"); !bytes.Equal(frame, want) {
		t.Fatalf("got %x, want %x", frame, want)
	}
}
