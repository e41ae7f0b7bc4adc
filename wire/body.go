package wire

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"teamtalk/wire/pb"
)

// Body errors. Callers branch on them with errors.Is: the reference drops such
// a PDU (logged) and keeps the connection open (PROTOCOL.md §1.2).
var (
	// ErrUnknownCommand: the command id has no body type (PROTOCOL.md §2).
	ErrUnknownCommand = errors.New("wire: unknown command")
	// ErrBadBody: the body is not valid protobuf for its type, lacks a
	// required field, or holds an enum value the schema does not declare.
	ErrBadBody = errors.New("wire: bad body")
	// ErrShortFrame: a frame shorter than its header or than its length field.
	ErrShortFrame = errors.New("wire: frame shorter than its length")
)

// unmarshalOpts parses leniently; closeEnums and CheckInitialized then apply
// the reference's checking-parser rules.
var unmarshalOpts = proto.UnmarshalOptions{AllowPartial: true}

// DecodeBody decodes body as the message type of cmd, the way the reference's
// checking parser does: it fails (ErrBadBody) when the bytes are not valid
// protobuf, when a required field is missing, or when an enum field holds a
// value the enum does not declare. As in proto2's closed enums, such a value
// is moved to the unknown fields, so a required enum field holding one counts
// as missing, while an optional one is simply unset and its bytes survive a
// re-encode. Unknown fields (e.g. attach data a peer added) are kept and are
// written again by Marshal. An unknown cmd gives ErrUnknownCommand.
func DecodeBody(cmd uint16, body []byte) (proto.Message, error) {
	msg, ok := pb.NewBody(cmd)
	if !ok {
		return nil, fmt.Errorf("%w 0x%04x", ErrUnknownCommand, cmd)
	}
	if err := decodeInto(body, msg); err != nil {
		return nil, fmt.Errorf("wire: decode %s: %w", pb.CommandName(cmd), err)
	}
	return msg, nil
}

// Unmarshal decodes body into msg (reset first) with the same rules as
// DecodeBody, for callers that know the type or reuse messages.
func Unmarshal(body []byte, msg proto.Message) error {
	proto.Reset(msg)
	if err := decodeInto(body, msg); err != nil {
		return fmt.Errorf("wire: decode %s: %w", msg.ProtoReflect().Descriptor().FullName(), err)
	}
	return nil
}

// DecodeFrame splits a whole frame (as Decoder.Next returns it) into its
// header and decoded body. The header is returned even when the body fails.
func DecodeFrame(frame []byte) (Header, proto.Message, error) {
	if len(frame) < HeaderLen {
		return Header{}, nil, fmt.Errorf("%w: %d bytes", ErrShortFrame, len(frame))
	}
	h := ParseHeader(frame)
	if h.Length < HeaderLen || uint64(h.Length) > uint64(len(frame)) {
		return h, nil, fmt.Errorf("%w: length %d, %d bytes", ErrShortFrame, h.Length, len(frame))
	}
	msg, err := DecodeBody(h.CommandID, frame[HeaderLen:h.Length])
	return h, msg, err
}

func decodeInto(body []byte, msg proto.Message) error {
	if err := unmarshalOpts.Unmarshal(body, msg); err != nil {
		return fmt.Errorf("%w: %w", ErrBadBody, err)
	}
	closeEnums(msg.ProtoReflect())
	if err := proto.CheckInitialized(msg); err != nil {
		return fmt.Errorf("%w: %w", ErrBadBody, err)
	}
	return nil
}

// closeEnums gives m proto2's closed-enum semantics, which protobuf-go does
// not apply on parse: an enum field (at any depth) holding an undeclared value
// is cleared and the value appended to the unknown fields as a varint, as the
// C++ runtime does (the int32 value sign-extended to 64 bits).
func closeEnums(m protoreflect.Message) {
	var unknown []byte
	// Walk the descriptor's fields rather than Range: no closure and no
	// values for the scalar fields, which are most of a body.
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		switch {
		case fd.Kind() == protoreflect.EnumKind && fd.IsList():
			if !m.Has(fd) {
				continue
			}
			list := m.Get(fd).List()
			kept := 0
			for i := 0; i < list.Len(); i++ {
				e := list.Get(i).Enum()
				if declared(fd, e) {
					list.Set(kept, list.Get(i))
					kept++
					continue
				}
				unknown = appendEnum(unknown, fd, e)
			}
			list.Truncate(kept)
			if kept == 0 {
				m.Clear(fd)
			}
		case fd.Kind() == protoreflect.EnumKind:
			if !m.Has(fd) {
				continue
			}
			if e := m.Get(fd).Enum(); !declared(fd, e) {
				unknown = appendEnum(unknown, fd, e)
				m.Clear(fd)
			}
		case fd.Message() != nil && fd.IsList():
			if !m.Has(fd) {
				continue
			}
			list := m.Get(fd).List()
			for i := 0; i < list.Len(); i++ {
				closeEnums(list.Get(i).Message())
			}
		case fd.Message() != nil && !fd.IsMap():
			if m.Has(fd) {
				closeEnums(m.Get(fd).Message())
			}
		}
	}
	if len(unknown) > 0 {
		m.SetUnknown(append(m.GetUnknown(), unknown...))
	}
}

func declared(fd protoreflect.FieldDescriptor, e protoreflect.EnumNumber) bool {
	return fd.Enum().Values().ByNumber(e) != nil
}

func appendEnum(b []byte, fd protoreflect.FieldDescriptor, e protoreflect.EnumNumber) []byte {
	b = protowire.AppendTag(b, fd.Number(), protowire.VarintType)
	return protowire.AppendVarint(b, uint64(int64(e)))
}
