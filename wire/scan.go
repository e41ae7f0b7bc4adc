package wire

import (
	"encoding/binary"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"

	"teamtalk/wire/pb"
)

// MsgDataFields are the scalar fields of an IMMsgData body, read by
// ScanMsgData without decoding it.
type MsgDataFields struct {
	From, To, MsgID, CreateTime uint32
	Type                        pb.MsgType
	// Data is msg_data (field 6), a sub-slice of the body.
	Data []byte
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
				f.Data = v[:len(v):len(v)]
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

// AppendMsgDataSplice appends to dst a frame with header h (its Length set)
// whose body is the IMMsgData body with from_user_id and create_time set to
// from and created and attach_data set to attach (nil: none), every other
// field copied byte for byte in its place. It does what decoding, setting
// the three fields and marshalling again does, without allocating a
// message. body must be one ScanMsgData accepts; for any other it returns
// nil.
func AppendMsgDataSplice(dst []byte, h Header, body []byte, from, created uint32, attach []byte) []byte {
	return appendMsgDataEdit(dst, h, body, msgDataEdit{set: 1<<1 | 1<<4, vals: [5]uint32{1: from, 4: created}, attach: true, attachData: attach})
}

// AppendMsgDataID appends to dst a frame with header h (its Length set)
// whose body is the IMMsgData body with msg_id set to id, every other field
// (attach_data too) copied byte for byte: db's answer to a stored message,
// made without decoding it. body must be one ScanMsgData accepts; for any
// other it returns nil.
func AppendMsgDataID(dst []byte, h Header, body []byte, id uint32) []byte {
	return appendMsgDataEdit(dst, h, body, msgDataEdit{set: 1 << 3, vals: [5]uint32{3: id}})
}

// AppendMsgDataNoAttach appends to dst a frame with header h (its Length
// set) whose body is the IMMsgData body without its attach_data, every
// other field copied byte for byte: a stored message as its receivers get
// it. It returns nil for a body that does not split into fields.
func AppendMsgDataNoAttach(dst []byte, h Header, body []byte) []byte {
	return appendMsgDataEdit(dst, h, body, msgDataEdit{attach: true})
}

// msgDataEdit says which of IMMsgData's varint fields 1..4 a splice sets
// (bit n: field n, to vals[n]) and whether it replaces attach_data.
type msgDataEdit struct {
	set        uint8
	vals       [5]uint32
	attach     bool
	attachData []byte // nil: none
}

func appendMsgDataEdit(dst []byte, h Header, body []byte, e msgDataEdit) []byte {
	start := len(dst)
	dst = slices.Grow(dst, HeaderLen+len(body)+len(e.attachData)+2*binary.MaxVarintLen32+3)
	dst = append(dst, make([]byte, HeaderLen)...)
	for rest := body; len(rest) > 0; {
		num, typ, n := protowire.ConsumeField(rest)
		if n < 0 {
			return nil
		}
		switch {
		case num >= 1 && num <= 4 && typ == protowire.VarintType && e.set&(1<<num) != 0:
			dst = protowire.AppendTag(dst, num, protowire.VarintType)
			dst = protowire.AppendVarint(dst, uint64(e.vals[num]))
		case num == 20 && typ == protowire.BytesType && e.attach:
			// dropped: the new attach (if any) goes last
		default:
			dst = append(dst, rest[:n]...)
		}
		rest = rest[n:]
	}
	if e.attach && e.attachData != nil {
		dst = protowire.AppendTag(dst, 20, protowire.BytesType)
		dst = protowire.AppendBytes(dst, e.attachData)
	}
	h.Length = uint32(len(dst) - start)
	h.Put(dst[start:])
	return dst
}

// ScanMsgDataAck reports whether body is an IMMsgDataAck that DecodeBody
// accepts, checked without decoding it (no allocation): every required
// field present as a varint, a declared session type (the last one, as a
// decode reads it), any other fields well formed with valid numbers. false
// means "ask DecodeBody", which says what is wrong.
func ScanMsgDataAck(body []byte) bool {
	var seen uint8
	var st int32
	for len(body) > 0 {
		num, typ, n := protowire.ConsumeTag(body)
		if n < 0 || !num.IsValid() {
			return false
		}
		body = body[n:]
		if num >= 1 && num <= 4 {
			if typ != protowire.VarintType {
				return false
			}
			v, m := protowire.ConsumeVarint(body)
			if m < 0 {
				return false
			}
			body = body[m:]
			if num == 4 {
				st = int32(v)
			}
			seen |= 1 << (num - 1)
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, body)
		if m < 0 {
			return false
		}
		body = body[m:]
	}
	return seen == 0xf && pb.SessionType_name[st] != ""
}
