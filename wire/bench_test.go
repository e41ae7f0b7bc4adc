package wire

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"teamtalk/wire/pb"
)

func benchMsg() *pb.IMMsgData {
	return &pb.IMMsgData{
		FromUserId:  proto.Uint32(1),
		ToSessionId: proto.Uint32(2),
		MsgId:       proto.Uint32(12345),
		CreateTime:  proto.Uint32(1700000000),
		MsgType:     pb.MsgType_MSG_TYPE_SINGLE_TEXT.Enum(),
		MsgData:     make([]byte, 200),
		AttachData:  []byte{0, 0, 0, 1, 0, 0, 0, 42, 0, 0, 0, 0},
	}
}

// BenchmarkMarshalMsgData encodes a 200-byte text message frame into a
// reused buffer.
func BenchmarkMarshalMsgData(b *testing.B) {
	m := benchMsg()
	h := NewHeader(uint16(pb.MessageCmdID_CID_MSG_DATA), 9)
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		buf, err = AppendMarshal(buf[:0], h, m)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkDecodeMsgData splits a stream of such frames with a Decoder and
// decodes each body with DecodeBody.
func BenchmarkDecodeMsgData(b *testing.B) {
	frame, err := Marshal(NewHeader(uint16(pb.MessageCmdID_CID_MSG_DATA), 9), benchMsg())
	if err != nil {
		b.Fatal(err)
	}
	d := NewDecoder(MaxClientFrame)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		d.Feed(frame)
		f, err := d.Next()
		if err != nil || f == nil {
			b.Fatal(err)
		}
		h := ParseHeader(f)
		if _, err := DecodeBody(h.CommandID, f[HeaderLen:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecoderSplit measures framing alone, frames arriving in 1000-byte
// reads that cut them anywhere.
func BenchmarkDecoderSplit(b *testing.B) {
	frame, _ := Marshal(NewHeader(uint16(pb.MessageCmdID_CID_MSG_DATA), 9), benchMsg())
	var stream []byte
	for len(stream) < 1<<20 {
		stream = append(stream, frame...)
	}
	d := NewDecoder(MaxClientFrame)
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		for off := 0; off < len(stream); off += 1000 {
			d.Feed(stream[off:min(off+1000, len(stream))])
			for {
				f, err := d.Next()
				if err != nil {
					b.Fatal(err)
				}
				if f == nil {
					break
				}
			}
		}
	}
}
