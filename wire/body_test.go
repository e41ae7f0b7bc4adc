package wire

import (
	"bytes"
	"errors"
	"testing"

	"teamtalk/wire/pb"
)

func TestDecodeBody(t *testing.T) {
	const (
		ack      = uint16(pb.MessageCmdID_CID_MSG_DATA_ACK)
		loginRes = uint16(pb.LoginCmdID_CID_LOGIN_RES_USERLOGIN)
		statNtf  = uint16(pb.BuddyListCmdID_CID_BUDDY_LIST_STATUS_NOTIFY)
		msgData  = uint16(pb.MessageCmdID_CID_MSG_DATA)
	)
	tests := []struct {
		name    string
		cmd     uint16
		body    string
		wantErr error
		// reencode, when set, is what re-encoding the decoded body gives.
		reencode string
	}{
		{name: "ack", cmd: ack, body: "08011002180720 01", reencode: "0801100218072001"},
		{name: "ack zero msg_id", cmd: ack, body: "0801100218002001", reencode: "0801100218002001"},
		{name: "ack missing session_type", cmd: ack, body: "080110021807", wantErr: ErrBadBody},
		{name: "ack undeclared session_type", cmd: ack, body: "0801100218072009", wantErr: ErrBadBody},
		{name: "ack negative session_type", cmd: ack, body: "08011002180720ffffffffffffffffff01", wantErr: ErrBadBody},
		{name: "empty body of a required message", cmd: uint16(pb.LoginCmdID_CID_LOGIN_RES_DEVICETOKEN), body: "", wantErr: ErrBadBody},
		{name: "empty message", cmd: uint16(pb.OtherCmdID_CID_OTHER_HEARTBEAT), body: "", reencode: ""},
		{name: "truncated varint", cmd: ack, body: "0881", wantErr: ErrBadBody},
		{name: "truncated bytes", cmd: msgData, body: "3205616263", wantErr: ErrBadBody},
		{name: "unknown command", cmd: 0x070c, body: "", wantErr: ErrUnknownCommand},
		{name: "unknown command 0x0715", cmd: 0x0715, body: "0801", wantErr: ErrUnknownCommand},
		// login result 0, online_status (optional enum) 9: the value moves to
		// the unknown fields, the message still parses, and the bytes survive.
		{name: "undeclared optional enum kept as unknown", cmd: loginRes, body: "0801 1000 2009", reencode: "080110002009"},
		{name: "undeclared negative optional enum", cmd: loginRes, body: "0801 1000 20ffffffff0f", reencode: "0801100020ffffffffffffffffff01"},
		// A nested required enum with an undeclared value fails the parent.
		{name: "nested undeclared enum", cmd: statNtf, body: "0a0408021009", wantErr: ErrBadBody},
		{name: "nested ok", cmd: statNtf, body: "0a0408021001", reencode: "0a0408021001"},
		// Unknown fields (a field 21, a field 99 of each wire type) survive.
		{name: "unknown fields kept", cmd: ack, body: "0801100218072001 a80107 9a06026869 9d0601020304", reencode: "0801100218072001a801079a060268699d0601020304"},
		{name: "attach data kept", cmd: msgData, body: "0801100218002000280132017a a2010c0000000100000 02a00000000", reencode: "0801100218002000280132017aa2010c00000001000000 2a00000000"},
		{name: "wrong wire type for a known field", cmd: ack, body: "0a0131 0801100218072001", reencode: "08011002180720010a0131"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := DecodeBody(tt.cmd, unhex(t, tt.body))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || msg != nil {
					t.Fatalf("DecodeBody = %v, %v; want %v", msg, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeBody: %v", err)
			}
			got, err := MarshalBody(msg)
			if err != nil {
				t.Fatal(err)
			}
			if want := unhex(t, tt.reencode); !bytes.Equal(got, want) {
				t.Fatalf("re-encoded %x, want %x", got, want)
			}
		})
	}
}

func TestDecodeBodyErrorsNameCommand(t *testing.T) {
	_, err := DecodeBody(uint16(pb.MessageCmdID_CID_MSG_DATA_ACK), nil)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("CID_MSG_DATA_ACK")) {
		t.Fatalf("error %v does not name the command", err)
	}
	_, err = DecodeBody(0x0999, nil)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("0x0999")) {
		t.Fatalf("error %v does not name the id", err)
	}
}

func TestUnmarshalReuse(t *testing.T) {
	var m pb.IMMsgDataAck
	if err := Unmarshal(unhex(t, "0801100218072001"), &m); err != nil {
		t.Fatal(err)
	}
	if err := Unmarshal(unhex(t, "080510062003"), &m); !errors.Is(err, ErrBadBody) {
		t.Fatalf("second Unmarshal kept fields of the first: %v (%v)", err, &m)
	}
}

func TestDecodeFrame(t *testing.T) {
	good := unhex(t, "00 00 00 18 00 01 00 00 00 03 03 02 00 02 00 00   08 01 10 02 18 07 20 01")
	tests := []struct {
		name    string
		frame   []byte
		wantErr error
	}{
		{"ok", good, nil},
		{"short header", good[:10], ErrShortFrame},
		{"body cut", good[:20], ErrShortFrame},
		{"bad body", append(bytes.Clone(good[:16]), 0x08), ErrBadBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame := tt.frame
			if tt.name == "bad body" {
				Header{Length: 17, Version: 1, ServiceID: 3, CommandID: 0x0302}.Put(frame)
			}
			_, msg, err := DecodeFrame(frame)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if err == nil && msg.(*pb.IMMsgDataAck).GetMsgId() != 7 {
				t.Fatalf("msg %v", msg)
			}
		})
	}
}
