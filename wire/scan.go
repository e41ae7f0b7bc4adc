package wire

import (
	"google.golang.org/protobuf/encoding/protowire"

	"teamtalk/wire/pb"
)

// MsgDataFields are the scalar fields of an IMMsgData body, read by
// ScanMsgData without decoding it.
type MsgDataFields struct {
	From, To, MsgID, CreateTime uint32
	Type                        pb.MsgType
	// Attach is attach_data (field 20), a sub-slice of the body; nil when
	// absent.
	Attach []byte
}

// ScanMsgData reads an IMMsgData body's scalar fields and attach data
// without decoding it into a message (no allocation). ok is true only for a
// body DecodeBody accepts and reads the same way: every required field
// present with its wire type, a declared message type, attach_data (if any)
// length-delimited, any other fields well formed with valid numbers (the
// last of a repeated field wins, as in a decode). Anything else is for
// DecodeBody, which reports what is wrong.
func ScanMsgData(body []byte) (f MsgDataFields, ok bool) {
	var seen uint8 // bit n-1: field n of 1..6
	for len(body) > 0 {
		num, typ, n := protowire.ConsumeTag(body)
		if n < 0 || !num.IsValid() {
			return MsgDataFields{}, false
		}
		body = body[n:]
		switch {
		case num >= 1 && num <= 5:
			if typ != protowire.VarintType {
				return MsgDataFields{}, false
			}
			v, m := protowire.ConsumeVarint(body)
			if m < 0 {
				return MsgDataFields{}, false
			}
			body = body[m:]
			switch num {
			case 1:
				f.From = uint32(v)
			case 2:
				f.To = uint32(v)
			case 3:
				f.MsgID = uint32(v)
			case 4:
				f.CreateTime = uint32(v)
			case 5:
				f.Type = pb.MsgType(int32(v))
			}
			seen |= 1 << (num - 1)
			continue
		case num == 6 || num == 20:
			if typ != protowire.BytesType {
				return MsgDataFields{}, false
			}
			v, m := protowire.ConsumeBytes(body)
			if m < 0 {
				return MsgDataFields{}, false
			}
			body = body[m:]
			if num == 6 {
				seen |= 1 << 5
			} else {
				f.Attach = v[:len(v):len(v)]
			}
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, body)
		if m < 0 {
			return MsgDataFields{}, false
		}
		body = body[m:]
	}
	if seen != 0x3f || pb.MsgType_name[int32(f.Type)] == "" {
		return MsgDataFields{}, false
	}
	return f, true
}
