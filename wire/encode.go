package wire

import (
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/proto"

	"teamtalk/wire/pb"
)

// ErrFrameTooLarge means an encoded frame would not fit the 32-bit length field.
var ErrFrameTooLarge = errors.New("wire: frame over 4 GiB")

// marshalOpts writes what the reference writes: every field that is set (a
// proto2 required field set to zero included) and, like the C++ runtime, a
// message that lacks a required field as it is (partial) instead of failing.
// Deterministic only matters for maps, which the schema has none of.
var marshalOpts = proto.MarshalOptions{AllowPartial: true}

// NewHeader returns the header our servers write for a new PDU: version 1,
// flag 0, reserved 0, the service id that goes with cmd (0 if unknown), and
// seq (0 for unsolicited PDUs, PROTOCOL.md §1.6). Length is set on encoding.
func NewHeader(cmd, seq uint16) Header {
	return Header{Version: Version, ServiceID: pb.ServiceOf(cmd), CommandID: cmd, Seq: seq}
}

// Reply returns the header of a reply with command cmd to the request whose
// header is h: the request's seq verbatim (clients match replies by it, and
// the Windows client keeps context in it), and otherwise what our servers
// write, as the reference does (version 1, flag 0, reserved 0; PROTOCOL.md
// §1.1, §1.6).
func (h Header) Reply(cmd uint16) Header {
	return NewHeader(cmd, h.Seq)
}

// Forward returns h unchanged except for Length, which encoding sets: a PDU
// re-encoded with a modified body keeps the service, command, seq, version,
// flag and reserved of the one received (PROTOCOL.md §1.1). It exists to make
// that intent explicit at call sites.
func (h Header) Forward() Header {
	h.Length = 0
	return h
}

// AppendFrame appends a frame made of h and body to dst and returns the
// extended slice. h.Length is ignored and written as HeaderLen+len(body).
// A body over 4 GiB panics (no caller can legitimately build one).
func AppendFrame(dst []byte, h Header, body []byte) []byte {
	if uint64(len(body)) > math.MaxUint32-HeaderLen {
		panic(ErrFrameTooLarge)
	}
	h.Length = uint32(HeaderLen + len(body))
	dst = append(dst, make([]byte, HeaderLen)...)
	h.Put(dst[len(dst)-HeaderLen:])
	return append(dst, body...)
}

// AppendMarshal appends a frame made of h and msg encoded as its body to dst,
// with h.Length set to the frame's length. A nil msg gives an empty body.
func AppendMarshal(dst []byte, h Header, msg proto.Message) ([]byte, error) {
	size := 0
	if msg != nil {
		size = marshalOpts.Size(msg)
	}
	return appendMarshal(dst, h, msg, size)
}

// Marshal returns a whole frame: h (with Length set) followed by msg encoded
// with proto2 semantics as the reference writes it (see AppendMarshal).
func Marshal(h Header, msg proto.Message) ([]byte, error) {
	size := 0
	if msg != nil {
		size = marshalOpts.Size(msg)
	}
	return appendMarshal(make([]byte, 0, HeaderLen+size), h, msg, size)
}

// appendMarshal does AppendMarshal for a msg whose Size was just computed
// (size), reusing the sizes that call cached.
func appendMarshal(dst []byte, h Header, msg proto.Message, size int) ([]byte, error) {
	if uint64(size) > math.MaxUint32-HeaderLen {
		return dst, fmt.Errorf("wire: marshal %s: %w", pb.CommandName(h.CommandID), ErrFrameTooLarge)
	}
	start := len(dst)
	dst = append(dst, make([]byte, HeaderLen)...)
	if msg != nil {
		opts := marshalOpts
		opts.UseCachedSize = true
		var err error
		dst, err = opts.MarshalAppend(dst, msg)
		if err != nil {
			return dst[:start], fmt.Errorf("wire: marshal %s: %w", pb.CommandName(h.CommandID), err)
		}
	}
	h.Length = uint32(len(dst) - start)
	h.Put(dst[start:])
	return dst, nil
}

// MarshalBody encodes msg alone, as a frame body, with the same semantics as
// Marshal. Use it for the serialized messages carried inside attach data.
func MarshalBody(msg proto.Message) ([]byte, error) {
	b, err := marshalOpts.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("wire: marshal %s: %w", msg.ProtoReflect().Descriptor().FullName(), err)
	}
	return b, nil
}
