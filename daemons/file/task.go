package file

import (
	"errors"
	"fmt"
	"time"

	"teamtalk/netloop"
	"teamtalk/wire/pb"
)

// taskState is where a transfer task stands (the reference's
// CLIENT_FILE_* task states, reduced to what decides behaviour).
type taskState int

// Task states.
const (
	// stateReady: created by the msg server, nobody logged in yet.
	stateReady taskState = iota
	// stateWaitPeer: online, one side logged in.
	stateWaitPeer
	// stateTransfer: online, both sides logged in (PEER_READY sent).
	stateTransfer
	// stateUploading: offline, the uploader logged in.
	stateUploading
	// stateFinished: a final IMFileState (cancel, refuse, done) went through,
	// or the offline upload completed.
	stateFinished
	// stateInvalid: one side left or the task timed out.
	stateInvalid
)

func (s taskState) String() string {
	switch s {
	case stateReady:
		return "ready"
	case stateWaitPeer:
		return "waiting-peer"
	case stateTransfer:
		return "transferring"
	case stateUploading:
		return "uploading"
	case stateFinished:
		return "finished"
	case stateInvalid:
		return "invalid"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// Login refusals.
var (
	errRole    = errors.New("file: role does not fit the task")
	errUser    = errors.New("file: user does not fit the role")
	errTaken   = errors.New("file: role already logged in")
	errOver    = errors.New("file: task is over")
	errPending = errors.New("file: too many pulls in flight")
)

// maxPending bounds the online pulls a receiver may have in flight.
const maxPending = 64

// task is one transfer created by IMFileTransferReq. Its methods are pure
// bookkeeping (no I/O); the Service guards tasks with its mutex.
type task struct {
	id       string
	from, to uint32
	name     string
	size     uint32
	offline  bool
	created  time.Time
	touched  time.Time // last login or data: the task timeout runs from here
	state    taskState
	sender   netloop.ConnID // online role 1, or offline role 3 (uploader)
	receiver netloop.ConnID // online role 2
	// pulls maps the offset of each online pull in flight to the seq the
	// receiver used, so the sender's block goes back with it (the reference
	// keeps only the last seq, which breaks pipelined pulls).
	pulls map[uint32]uint16
	// pending is a final IMFileState frame for the online side that had not
	// logged in when the other ended the task (a receiver refusing before
	// the sender connected): that side may still log in to receive it.
	pending []byte
}

func newTask(id string, from, to uint32, name string, size uint32, offline bool, now time.Time) *task {
	return &task{id: id, from: from, to: to, name: name, size: size, offline: offline, created: now, touched: now}
}

// login joins connection c of user uid in role r (1, 2 or 3; downloads are
// served from disk). ready reports that the online task just got both sides:
// send PEER_READY to the receiver.
func (t *task) login(r pb.ClientFileRole, uid uint32, c netloop.ConnID, now time.Time) (ready bool, err error) {
	if t.state == stateFinished || t.state == stateInvalid {
		return false, errOver
	}
	switch r {
	case pb.ClientFileRole_CLIENT_REALTIME_SENDER, pb.ClientFileRole_CLIENT_REALTIME_RECVER:
		if t.offline {
			return false, errRole
		}
		slot, want := &t.sender, t.from
		if r == pb.ClientFileRole_CLIENT_REALTIME_RECVER {
			slot, want = &t.receiver, t.to
		}
		if uid != want {
			return false, errUser
		}
		if *slot != 0 {
			return false, errTaken
		}
		*slot = c
		t.touched = now
		if t.sender != 0 && t.receiver != 0 {
			t.state = stateTransfer
			return true, nil
		}
		t.state = stateWaitPeer
		return false, nil
	case pb.ClientFileRole_CLIENT_OFFLINE_UPLOAD:
		if !t.offline {
			return false, errRole
		}
		if uid != t.from {
			return false, errUser
		}
		if t.sender != 0 || t.state != stateReady {
			return false, errTaken
		}
		t.sender = c
		t.state = stateUploading
		t.touched = now
		return false, nil
	}
	return false, errRole
}

// claim logs the missing online side in to a task the other side already
// ended, and returns the pending final state to hand it.
func (t *task) claim(r pb.ClientFileRole, uid uint32, c netloop.ConnID) ([]byte, bool) {
	if t.state != stateFinished || t.pending == nil || t.offline {
		return nil, false
	}
	switch {
	case r == pb.ClientFileRole_CLIENT_REALTIME_SENDER && uid == t.from && t.sender == 0:
		t.sender = c
	case r == pb.ClientFileRole_CLIENT_REALTIME_RECVER && uid == t.to && t.receiver == 0:
		t.receiver = c
	default:
		return nil, false
	}
	p := t.pending
	t.pending = nil
	return p, true
}

// roleOf reports the role connection c holds in the task (0 if none).
func (t *task) roleOf(c netloop.ConnID) pb.ClientFileRole {
	switch {
	case c == 0:
		return 0
	case c == t.sender && t.offline:
		return pb.ClientFileRole_CLIENT_OFFLINE_UPLOAD
	case c == t.sender:
		return pb.ClientFileRole_CLIENT_REALTIME_SENDER
	case c == t.receiver:
		return pb.ClientFileRole_CLIENT_REALTIME_RECVER
	}
	return 0
}

// peer returns the other online side of c (0 if none).
func (t *task) peer(c netloop.ConnID) netloop.ConnID {
	switch c {
	case t.sender:
		return t.receiver
	case t.receiver:
		return t.sender
	}
	return 0
}

// pull records an online pull of the receiver c (offset, seq) and returns
// the sender to forward it to.
func (t *task) pull(c netloop.ConnID, offset uint32, seq uint16, now time.Time) (netloop.ConnID, error) {
	if t.state != stateTransfer {
		return 0, errOver
	}
	if c != t.receiver {
		return 0, errRole
	}
	if t.pulls == nil {
		t.pulls = map[uint32]uint16{}
	}
	if _, dup := t.pulls[offset]; !dup && len(t.pulls) >= maxPending {
		return 0, errPending
	}
	t.pulls[offset] = seq
	t.touched = now
	return t.sender, nil
}

// block matches the sender's block at offset to its pull and returns the
// receiver and the seq to answer with (the last pull's for an offset never
// asked, as the reference does).
func (t *task) block(c netloop.ConnID, offset uint32, now time.Time) (netloop.ConnID, uint16, error) {
	if t.state != stateTransfer {
		return 0, 0, errOver
	}
	if c != t.sender {
		return 0, 0, errRole
	}
	seq, ok := t.pulls[offset]
	if !ok {
		return 0, 0, fmt.Errorf("%w: no pull for offset %d", errRole, offset)
	}
	delete(t.pulls, offset)
	t.touched = now
	return t.receiver, seq, nil
}

// end applies a final IMFileState frame (cancel, refuse, done) from c and
// returns the connection to forward it to; when the other side has not
// logged in yet the frame is kept for it (claim).
func (t *task) end(c netloop.ConnID, frame []byte) (netloop.ConnID, error) {
	if t.roleOf(c) == 0 {
		return 0, errRole
	}
	if t.state == stateInvalid {
		return 0, errOver
	}
	t.state = stateFinished
	peer := t.peer(c)
	if peer == 0 && !t.offline {
		t.pending = append([]byte(nil), frame...)
	}
	return peer, nil
}

// leave removes connection c from the task. It returns the other side's
// connection to close (an unfinished online transfer cannot go on without
// both), and whether the task is now gone (nobody left, or an offline upload
// that will not complete).
func (t *task) leave(c netloop.ConnID) (closePeer netloop.ConnID, gone bool) {
	switch c {
	case 0:
		return 0, false
	case t.sender:
		t.sender = 0
	case t.receiver:
		t.receiver = 0
	default:
		return 0, false
	}
	if t.offline {
		if t.state != stateFinished {
			t.state = stateInvalid
		}
		return 0, true
	}
	if t.state != stateFinished {
		t.state = stateInvalid
	}
	peer := t.sender | t.receiver // at most one is left
	return peer, peer == 0 && t.pending == nil
}

// expired reports whether the task saw no login or data since cutoff.
func (t *task) expired(cutoff time.Time) bool { return t.touched.Before(cutoff) }
