// Package attach encodes and decodes the reference's attach blobs
// (PROTOCOL.md §1.8): the opaque bytes a requesting server puts in a request's
// attach_data field (field 20) so that it can route the echoed reply.
//
// Two layouts exist, all integers uint32 big-endian:
//
//	handle attach: type, handle, service_type                     12 bytes
//	pdu attach:    type, handle, service_type, pdu_len, pdu bytes  16+pdu_len bytes
//
// Our handles are 32-bit netloop connection ids; service_type is always 0.
package attach

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Attach types (PROTOCOL.md §1.8).
const (
	// TypeHandle carries only the requesting connection's handle.
	TypeHandle uint32 = 1
	// TypePDU is defined by the reference and never used.
	TypePDU uint32 = 2
	// TypeHandleAndPDU carries a handle and a serialized IMMsgData (group fan-out).
	TypeHandleAndPDU uint32 = 3
	// TypePDUForPush carries a serialized IMPushToUserReq (users-status probe before a push).
	TypePDUForPush uint32 = 4
	// TypeHandleAndPDUForFile carries a handle and a serialized IMFileTransferReq.
	TypeHandleAndPDUForFile uint32 = 5
)

// Sizes of the two layouts without payload.
const (
	HandleLen  = 12
	PDUHeadLen = 16
)

// ErrMalformed means the bytes are neither a 12-byte handle attach nor a
// pdu attach whose pdu_len matches the bytes that follow.
var ErrMalformed = errors.New("attach: malformed attach data")

// Data is a decoded attach blob.
type Data struct {
	// Type is one of the Type constants (any value is decoded).
	Type uint32
	// Handle is the requesting server's connection handle.
	Handle uint32
	// ServiceType is always 0 in the reference.
	ServiceType uint32
	// HasPDU reports whether the blob used the pdu layout (even with 0 bytes).
	HasPDU bool
	// PDU is the payload of a pdu attach; it aliases the decoded bytes.
	PDU []byte
}

// Handle returns a 12-byte handle attach.
func Handle(typ, handle uint32) []byte {
	b := make([]byte, HandleLen)
	binary.BigEndian.PutUint32(b[0:], typ)
	binary.BigEndian.PutUint32(b[4:], handle)
	return b
}

// PDU returns a pdu attach carrying pdu (which may be empty).
func PDU(typ, handle uint32, pdu []byte) []byte {
	b := make([]byte, PDUHeadLen+len(pdu))
	binary.BigEndian.PutUint32(b[0:], typ)
	binary.BigEndian.PutUint32(b[4:], handle)
	binary.BigEndian.PutUint32(b[12:], uint32(len(pdu)))
	copy(b[PDUHeadLen:], pdu)
	return b
}

// Encode returns the bytes of d: the pdu layout when d.HasPDU or d.PDU is
// not empty, else the handle layout.
func (d Data) Encode() []byte {
	var b []byte
	if d.HasPDU || len(d.PDU) > 0 {
		b = PDU(d.Type, d.Handle, d.PDU)
	} else {
		b = Handle(d.Type, d.Handle)
	}
	binary.BigEndian.PutUint32(b[8:], d.ServiceType)
	return b
}

// Decode parses an attach blob. Exactly 12 bytes is a handle attach; 16 or
// more bytes must be a pdu attach whose pdu_len equals the remaining length.
// Anything else is ErrMalformed (the reference's parser would throw).
func Decode(b []byte) (Data, error) {
	switch {
	case len(b) == HandleLen:
		return Data{
			Type:        binary.BigEndian.Uint32(b[0:]),
			Handle:      binary.BigEndian.Uint32(b[4:]),
			ServiceType: binary.BigEndian.Uint32(b[8:]),
		}, nil
	case len(b) >= PDUHeadLen:
		n := binary.BigEndian.Uint32(b[12:])
		if uint64(n) != uint64(len(b)-PDUHeadLen) {
			return Data{}, fmt.Errorf("%w: pdu_len %d with %d bytes following", ErrMalformed, n, len(b)-PDUHeadLen)
		}
		return Data{
			Type:        binary.BigEndian.Uint32(b[0:]),
			Handle:      binary.BigEndian.Uint32(b[4:]),
			ServiceType: binary.BigEndian.Uint32(b[8:]),
			HasPDU:      true,
			PDU:         b[PDUHeadLen:],
		}, nil
	default:
		return Data{}, fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
}
