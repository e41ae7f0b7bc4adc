// Package wire is TeamTalk's framing: the 16-byte big-endian PDU header, a
// splitter that finds whole frames in a byte stream, and frame encoding.
//
// A frame is the header followed by one protobuf body; the header's length
// field counts the whole frame, header included (PROTOCOL.md §1.1).
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// HeaderLen is the size of a PDU header in bytes.
const HeaderLen = 16

// Frame size limits (ARCHITECTURE.md, "Decisions and clarifications").
const (
	// MaxClientFrame bounds inbound frames on client listeners.
	MaxClientFrame = 4 << 20
	// MaxServerFrame bounds frames on server-to-server links.
	MaxServerFrame = 64 << 20
)

// Version is what our servers write in the version field.
const Version = 1

// Header is a decoded PDU header. Length counts the whole frame.
type Header struct {
	Length    uint32
	Version   uint16
	Flag      uint16
	ServiceID uint16
	CommandID uint16
	Seq       uint16
	Reserved  uint16
}

// Framing errors. Both mean the stream is unusable and the connection must be
// closed.
var (
	ErrShortLength = errors.New("wire: frame length under 16 bytes")
	ErrTooLarge    = errors.New("wire: frame length over the limit")
)

// ParseHeader decodes the header at the start of b, which must hold at least
// HeaderLen bytes.
func ParseHeader(b []byte) Header {
	_ = b[HeaderLen-1]
	return Header{
		Length:    binary.BigEndian.Uint32(b[0:4]),
		Version:   binary.BigEndian.Uint16(b[4:6]),
		Flag:      binary.BigEndian.Uint16(b[6:8]),
		ServiceID: binary.BigEndian.Uint16(b[8:10]),
		CommandID: binary.BigEndian.Uint16(b[10:12]),
		Seq:       binary.BigEndian.Uint16(b[12:14]),
		Reserved:  binary.BigEndian.Uint16(b[14:16]),
	}
}

// Put writes h into the first HeaderLen bytes of b.
func (h Header) Put(b []byte) {
	_ = b[HeaderLen-1]
	binary.BigEndian.PutUint32(b[0:4], h.Length)
	binary.BigEndian.PutUint16(b[4:6], h.Version)
	binary.BigEndian.PutUint16(b[6:8], h.Flag)
	binary.BigEndian.PutUint16(b[8:10], h.ServiceID)
	binary.BigEndian.PutUint16(b[10:12], h.CommandID)
	binary.BigEndian.PutUint16(b[12:14], h.Seq)
	binary.BigEndian.PutUint16(b[14:16], h.Reserved)
}

// FrameLen reports the length of the frame at the start of buf. It returns
// 0 and a nil error when buf does not yet hold a whole header; the caller then
// reads more. A length under HeaderLen or over max is an error: the stream
// cannot be resynchronised and the connection must be closed. A max of 0 means
// no limit. The returned length may exceed len(buf): the frame is incomplete.
func FrameLen(buf []byte, max int) (int, error) {
	if len(buf) < HeaderLen {
		return 0, nil
	}
	n := binary.BigEndian.Uint32(buf[0:4])
	if n < HeaderLen {
		return 0, fmt.Errorf("%w: length %d", ErrShortLength, n)
	}
	if max > 0 && uint64(n) > uint64(max) {
		return 0, fmt.Errorf("%w: length %d, limit %d", ErrTooLarge, n, max)
	}
	return int(n), nil
}
