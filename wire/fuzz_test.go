package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"teamtalk/wire/pb"
)

// FuzzDecoder feeds an arbitrary stream in arbitrary pieces (the split
// pattern comes from the fuzzer too): the decoder must never panic, and every
// frame it returns must be exactly a header plus the body its length field
// declares, the frames in order forming a prefix of the stream.
func FuzzDecoder(f *testing.F) {
	var all []byte
	for _, v := range loadVectors(f) {
		f.Add(v.frame, []byte{3, 1, 16})
		all = append(all, v.frame...)
	}
	f.Add(all, []byte{1, 2, 3, 5, 8, 13, 21, 34})
	f.Add([]byte{0, 0, 0, 0x10, 0, 1, 0, 0, 0, 7, 7, 1, 0, 0, 0, 0, 0, 0, 0, 5}, []byte{17, 1})
	f.Add(make([]byte, 16), []byte{0})
	f.Fuzz(func(t *testing.T, stream, splits []byte) {
		const limit = 1 << 16
		d := NewDecoder(limit)
		var out []byte
		off, i := 0, 0
		var ferr error
		for off < len(stream) && ferr == nil {
			n := len(stream) - off
			if len(splits) > 0 {
				n = min(n, int(splits[i%len(splits)])+1)
				i++
			}
			d.Feed(stream[off : off+n])
			off += n
			for {
				fr, err := d.Next()
				if err != nil {
					if !errors.Is(err, ErrShortLength) && !errors.Is(err, ErrTooLarge) {
						t.Fatalf("unexpected error %v", err)
					}
					ferr = err
					break
				}
				if fr == nil {
					break
				}
				if len(fr) < HeaderLen || int(binary.BigEndian.Uint32(fr)) != len(fr) || len(fr) > limit {
					t.Fatalf("frame of %d bytes, length field %d", len(fr), binary.BigEndian.Uint32(fr))
				}
				out = append(out, fr...)
			}
		}
		if !bytes.HasPrefix(stream, out) {
			t.Fatalf("frames are not a prefix of the stream")
		}
		if ferr == nil && len(out)+d.Buffered() != len(stream) {
			t.Fatalf("%d bytes in frames + %d buffered != %d fed", len(out), d.Buffered(), len(stream))
		}
	})
}

// FuzzDecodeBody decodes arbitrary bodies for any command id: never a panic,
// and whatever decodes re-encodes to bytes that decode to an equal message
// which re-encodes to the same bytes.
func FuzzDecodeBody(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(v.h.CommandID, v.body)
	}
	f.Add(uint16(0x0302), []byte{0x08, 1, 0x10, 2, 0x18, 7, 0x20, 9})
	f.Add(uint16(0x0104), []byte{0x08, 1, 0x10, 0, 0x20, 9})
	f.Add(uint16(0x0203), []byte{0x0a, 4, 0x08, 2, 0x10, 9})
	f.Fuzz(func(t *testing.T, cmd uint16, body []byte) {
		msg, err := DecodeBody(cmd, body)
		if err != nil {
			if !errors.Is(err, ErrBadBody) && !errors.Is(err, ErrUnknownCommand) {
				t.Fatalf("unexpected error %v", err)
			}
			if _, known := pb.Lookup(cmd); known == errors.Is(err, ErrUnknownCommand) {
				t.Fatalf("error %v for a command known=%v", err, known)
			}
			return
		}
		b1, err := MarshalBody(msg)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		msg2, err := DecodeBody(cmd, b1)
		if err != nil {
			t.Fatalf("re-encoded body does not decode: %v (%x)", err, b1)
		}
		if !proto.Equal(msg, msg2) {
			t.Fatalf("decode(encode(m)) != m\n%v\n%v", msg, msg2)
		}
		b2, err := MarshalBody(msg2)
		if err != nil || !bytes.Equal(b1, b2) {
			t.Fatalf("encoding not stable: %x vs %x (%v)", b1, b2, err)
		}
	})
}
