package client

import (
	"google.golang.org/protobuf/proto"

	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// Event is something the server sent without being asked: an incoming
// message, a notify, a kick, or a reply nobody waits for. Switch on the
// concrete type (*MessageEvent, *KickEvent, ...); OtherEvent carries the rest.
type Event interface {
	// Header is the header of the PDU the event came in.
	Header() wire.Header
	// Body is the decoded body of that PDU.
	Body() proto.Message
}

// base holds the header every event carries.
type base struct{ h wire.Header }

// Header returns the header of the PDU the event came in.
func (b base) Header() wire.Header { return b.h }

// MessageEvent is an incoming IMMsgData (0x0301): a message to this user, or
// one this user sent from another device. Text content is still encrypted:
// see Client.Text.
type MessageEvent struct {
	base
	Msg *pb.IMMsgData
}

// Body returns Msg.
func (e *MessageEvent) Body() proto.Message { return e.Msg }

// ReadNotifyEvent is an IMMsgDataReadNotify (0x0304): this user read a
// session on another device.
type ReadNotifyEvent struct {
	base
	Notify *pb.IMMsgDataReadNotify
}

// Body returns Notify.
func (e *ReadNotifyEvent) Body() proto.Message { return e.Notify }

// StatusEvent is an IMUserStatNotify (0x0203): a user's PC presence changed.
type StatusEvent struct {
	base
	Notify *pb.IMUserStatNotify
}

// Body returns Notify.
func (e *StatusEvent) Body() proto.Message { return e.Notify }

// KickEvent is an IMKickUser (0x0107): a newer login of the same client
// family, or a phone, took this connection's place. The server does not close
// the connection; the client is expected to.
type KickEvent struct {
	base
	Kick *pb.IMKickUser
}

// Body returns Kick.
func (e *KickEvent) Body() proto.Message { return e.Kick }

// PCLoginStatusEvent is an IMPCLoginStatusNotify (0x020e), sent to mobile
// clients when the user's PC presence changes.
type PCLoginStatusEvent struct {
	base
	Notify *pb.IMPCLoginStatusNotify
}

// Body returns Notify.
func (e *PCLoginStatusEvent) Body() proto.Message { return e.Notify }

// SignInfoChangedEvent is an IMSignInfoChangedNotify (0x0215).
type SignInfoChangedEvent struct {
	base
	Notify *pb.IMSignInfoChangedNotify
}

// Body returns Notify.
func (e *SignInfoChangedEvent) Body() proto.Message { return e.Notify }

// AvatarChangedEvent is an IMAvatarChangedNotify (0x0212).
type AvatarChangedEvent struct {
	base
	Notify *pb.IMAvatarChangedNotify
}

// Body returns Notify.
func (e *AvatarChangedEvent) Body() proto.Message { return e.Notify }

// GroupChangeEvent is an IMGroupChangeMemberNotify (0x040b).
type GroupChangeEvent struct {
	base
	Notify *pb.IMGroupChangeMemberNotify
}

// Body returns Notify.
func (e *GroupChangeEvent) Body() proto.Message { return e.Notify }

// RemoveSessionEvent is an IMRemoveSessionNotify (0x020f): this user removed
// a session on another device.
type RemoveSessionEvent struct {
	base
	Notify *pb.IMRemoveSessionNotify
}

// Body returns Notify.
func (e *RemoveSessionEvent) Body() proto.Message { return e.Notify }

// P2PCmdEvent is an IMP2PCmdMsg (0x0601), e.g. a typing indicator.
type P2PCmdEvent struct {
	base
	Cmd *pb.IMP2PCmdMsg
}

// Body returns Cmd.
func (e *P2PCmdEvent) Body() proto.Message { return e.Cmd }

// FileNotifyEvent is an IMFileNotify (0x0508): someone offers a file.
type FileNotifyEvent struct {
	base
	Notify *pb.IMFileNotify
}

// Body returns Notify.
func (e *FileNotifyEvent) Body() proto.Message { return e.Notify }

// OtherEvent is any other unsolicited PDU with a known command: a reply whose
// request is no longer waited for (its context ended), a reply the server
// sends to all of a user's connections, a file-transfer PDU...
type OtherEvent struct {
	base
	Msg proto.Message
}

// Body returns Msg.
func (e *OtherEvent) Body() proto.Message { return e.Msg }

// newEvent wraps a decoded unsolicited body in its typed event.
func newEvent(h wire.Header, msg proto.Message) Event {
	b := base{h}
	switch m := msg.(type) {
	case *pb.IMMsgData:
		return &MessageEvent{b, m}
	case *pb.IMMsgDataReadNotify:
		return &ReadNotifyEvent{b, m}
	case *pb.IMUserStatNotify:
		return &StatusEvent{b, m}
	case *pb.IMKickUser:
		return &KickEvent{b, m}
	case *pb.IMPCLoginStatusNotify:
		return &PCLoginStatusEvent{b, m}
	case *pb.IMSignInfoChangedNotify:
		return &SignInfoChangedEvent{b, m}
	case *pb.IMAvatarChangedNotify:
		return &AvatarChangedEvent{b, m}
	case *pb.IMGroupChangeMemberNotify:
		return &GroupChangeEvent{b, m}
	case *pb.IMRemoveSessionNotify:
		return &RemoveSessionEvent{b, m}
	case *pb.IMP2PCmdMsg:
		return &P2PCmdEvent{b, m}
	case *pb.IMFileNotify:
		return &FileNotifyEvent{b, m}
	}
	return &OtherEvent{b, msg}
}
