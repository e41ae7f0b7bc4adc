package state

import (
	"fmt"
	"slices"
	"unicode/utf8"
)

// MsgType is the protocol's message type (PROTOCOL.md §3.1).
type MsgType uint8

// The message types. The high nibble tells group (0x1_) from single (0x0_).
const (
	MsgSingleText  MsgType = 0x01
	MsgSingleAudio MsgType = 0x02
	MsgGroupText   MsgType = 0x11
	MsgGroupAudio  MsgType = 0x12
)

// Valid reports whether t is one of the four protocol message types.
func (t MsgType) Valid() bool {
	switch t {
	case MsgSingleText, MsgSingleAudio, MsgGroupText, MsgGroupAudio:
		return true
	}
	return false
}

// IsGroup reports whether t is a group message type.
func (t MsgType) IsGroup() bool { return t&0x10 != 0 }

// IsAudio reports whether t is an audio message type.
func (t MsgType) IsAudio() bool { return t == MsgSingleAudio || t == MsgGroupAudio }

// Session returns the session type messages of type t belong to.
func (t MsgType) Session() SessionType {
	if t.IsGroup() {
		return SessionGroup
	}
	return SessionSingle
}

// SessionType tells one-to-one from group conversations (PROTOCOL.md §3.1).
type SessionType uint8

// The session types.
const (
	SessionSingle SessionType = 1
	SessionGroup  SessionType = 2
)

// Valid reports whether t is SessionSingle or SessionGroup.
func (t SessionType) Valid() bool { return t == SessionSingle || t == SessionGroup }

// ClientType is the protocol's client type (PROTOCOL.md §3.1).
type ClientType uint8

// The client types.
const (
	ClientWindows ClientType = 0x01
	ClientMac     ClientType = 0x02
	ClientIOS     ClientType = 0x11
	ClientAndroid ClientType = 0x12
)

// GroupType tells fixed groups from temporary ones.
type GroupType uint8

// The group types.
const (
	GroupNormal GroupType = 1
	GroupTemp   GroupType = 2
)

// Valid reports whether t is GroupNormal or GroupTemp.
func (t GroupType) Valid() bool { return t == GroupNormal || t == GroupTemp }

// ModifyType is a membership change: add or remove.
type ModifyType uint8

// The membership changes.
const (
	ModifyAdd ModifyType = 1
	ModifyDel ModifyType = 2
)

// UserStatusLeft is the IMUser.status the admin panel's "delete" sets; such
// users are hidden from full directory syncs. Only status 0 may log in.
const UserStatusLeft = 3

// Column limits of TeamTalk's schema (PROTOCOL.md §8.1), enforced by every
// backend so data moves between them.
const (
	MaxNameLen     = 32
	MaxNickLen     = 32
	MaxPhoneLen    = 11
	MaxEmailLen    = 64
	MaxAvatarLen   = 255
	MaxSignInfoLen = 128
	MaxDepartName  = 64
	MaxGroupName   = 256
	MaxContentLen  = 4096
	MaxTaskIDLen   = 128
)

// User is a row of IMUser.
type User struct {
	ID       uint32
	Sex      uint8 // 1 male, 2 female, 0 unknown
	Name     string
	Domain   string
	Nick     string
	Password string // md5hex(md5hex(plain) + Salt)
	Salt     string // 0–9999 as decimal text
	Phone    string
	Email    string
	Avatar   string
	DepartID uint32
	Status   uint32 // 0 may log in; 3 = left
	Created  uint32
	Updated  uint32
	// PushShield is the night-time do-not-disturb flag.
	PushShield bool
	SignInfo   string
}

// NewUser is what an admin supplies to create a user. Password is the plain
// password.
type NewUser struct {
	Name     string
	Password string
	Nick     string
	Domain   string
	Sex      uint8
	Phone    string
	Email    string
	Avatar   string
	DepartID uint32
	Status   uint32
	SignInfo string
}

// Validate reports what is wrong with u, wrapping ErrInvalid.
func (u NewUser) Validate() error {
	if u.Name == "" {
		return fmt.Errorf("%w: empty user name", ErrInvalid)
	}
	if u.Password == "" {
		return fmt.Errorf("%w: user %q: empty password", ErrInvalid, u.Name)
	}
	return checkUserFields(u.Name, u.Nick, u.Phone, u.Email, u.Avatar, u.SignInfo)
}

func checkUserFields(name, nick, phone, email, avatar, sign string) error {
	for _, f := range []struct {
		what, v string
		max     int
	}{
		{"name", name, MaxNameLen}, {"nick", nick, MaxNickLen}, {"phone", phone, MaxPhoneLen},
		{"email", email, MaxEmailLen}, {"avatar", avatar, MaxAvatarLen}, {"sign_info", sign, MaxSignInfoLen},
	} {
		if utf8.RuneCountInString(f.v) > f.max || !utf8.ValidString(f.v) {
			return fmt.Errorf("%w: %s longer than %d characters or not UTF-8", ErrInvalid, f.what, f.max)
		}
	}
	return nil
}

// UserUpdate holds the fields to change; nil fields are left alone.
type UserUpdate struct {
	Nick     *string
	Domain   *string
	Sex      *uint8
	Phone    *string
	Email    *string
	Avatar   *string
	DepartID *uint32
	Status   *uint32
	SignInfo *string
}

// Apply validates up and applies it to u.
func (up UserUpdate) Apply(u *User) error {
	n := *u
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&n.Nick, up.Nick)
	set(&n.Domain, up.Domain)
	set(&n.Phone, up.Phone)
	set(&n.Email, up.Email)
	set(&n.Avatar, up.Avatar)
	set(&n.SignInfo, up.SignInfo)
	if up.Sex != nil {
		n.Sex = *up.Sex
	}
	if up.DepartID != nil {
		n.DepartID = *up.DepartID
	}
	if up.Status != nil {
		n.Status = *up.Status
	}
	// sign_info is limited in bytes by the protocol (§4.11), in characters by
	// the column; check both.
	if len(n.SignInfo) > MaxSignInfoLen*4 {
		return fmt.Errorf("%w: sign_info too long", ErrInvalid)
	}
	if err := checkUserFields(n.Name, n.Nick, n.Phone, n.Email, n.Avatar, n.SignInfo); err != nil {
		return err
	}
	*u = n
	return nil
}

// Depart is a row of IMDepart.
type Depart struct {
	ID       uint32
	Name     string
	Priority uint32
	ParentID uint32
	Status   uint32 // 0 ok, 1 deleted
	Created  uint32
	Updated  uint32
}

// NewDepart is what an admin supplies to create a department.
type NewDepart struct {
	Name     string
	Priority uint32
	ParentID uint32
	Status   uint32
}

// Validate reports what is wrong with d, wrapping ErrInvalid.
func (d NewDepart) Validate() error {
	if d.Name == "" || utf8.RuneCountInString(d.Name) > MaxDepartName {
		return fmt.Errorf("%w: department name empty or longer than %d", ErrInvalid, MaxDepartName)
	}
	if d.Status > 1 {
		return fmt.Errorf("%w: department status %d", ErrInvalid, d.Status)
	}
	return nil
}

// NewMessage is a message to store. To is the peer user (single types) or
// the group (group types). Content is stored as given (ciphertext for text,
// the decimal audio id for audio).
type NewMessage struct {
	From    uint32
	To      uint32
	Type    MsgType
	Content []byte
	Created uint32
}

// Validate reports what is wrong with m, wrapping ErrInvalid.
func (m NewMessage) Validate() error {
	switch {
	case !m.Type.Valid():
		return fmt.Errorf("%w: message type %#x", ErrInvalid, uint8(m.Type))
	case len(m.Content) == 0:
		return fmt.Errorf("%w: empty message", ErrInvalid)
	case len(m.Content) > MaxContentLen*4:
		return fmt.Errorf("%w: message of %d bytes", ErrInvalid, len(m.Content))
	case !m.Type.IsGroup() && m.From == m.To:
		return fmt.Errorf("%w: message to oneself", ErrInvalid)
	case m.From == 0 || m.To == 0:
		return fmt.Errorf("%w: message from %d to %d", ErrInvalid, m.From, m.To)
	}
	return nil
}

// Message is a stored message. To is the peer user or the group.
type Message struct {
	ID      uint32
	From    uint32
	To      uint32
	Type    MsgType
	Content []byte
	Created uint32
}

// HistoryQuery selects a page of history (IMGetMsgListReq).
type HistoryQuery struct {
	Type      SessionType
	SessionID uint32 // peer user or group
	BeginID   uint32 // newest id wanted; 0 = from the newest
	Count     uint32
}

// Session is a recent session (IMRecentSession) with its newest message and
// unread count.
type Session struct {
	Type    SessionType
	PeerID  uint32
	Status  uint32 // 0 visible; listed sessions are always 0
	Updated uint32
	Unread  uint32
	Latest  Message
}

// Unread is one conversation with unread messages.
type Unread struct {
	Type      SessionType
	SessionID uint32
	Count     uint32
	Latest    Message
}

// Preview returns the preview content of a session or unread entry's newest
// message (PROTOCOL.md Q13): audio messages show audioPreview (the encrypted
// "[语音]"), others their own content.
func Preview(m Message, audioPreview []byte) []byte {
	if m.Type.IsAudio() {
		return audioPreview
	}
	return m.Content
}

// DeviceToken is a user's push token.
type DeviceToken struct {
	UserID     uint32
	ClientType ClientType
	Token      string
	// PushShield is the user's night-time do-not-disturb flag.
	PushShield bool
}

// Group is a row of IMGroup with its members.
type Group struct {
	ID         uint32
	Name       string
	Avatar     string
	Creator    uint32
	Type       GroupType
	Status     uint32
	Version    uint32
	LastChated uint32
	Created    uint32
	Updated    uint32
	// LatestMsgID is the newest message id of the group (0 if none).
	LatestMsgID uint32
	// Members is ascending by user id; nil where a method says "without
	// members".
	Members []Member
}

// IsMember reports whether userID is in g.Members.
func (g Group) IsMember(userID uint32) bool {
	for _, m := range g.Members {
		if m.UserID == userID {
			return true
		}
	}
	return false
}

// MemberIDs returns the ids of g.Members.
func (g Group) MemberIDs() []uint32 {
	ids := make([]uint32, len(g.Members))
	for i, m := range g.Members {
		ids[i] = m.UserID
	}
	return ids
}

// Member is a group member.
type Member struct {
	UserID uint32
	Joined uint32 // join time; history before it is hidden
	Shield bool   // push shield for this group
}

// NewGroup is what a creator supplies.
type NewGroup struct {
	Name    string
	Avatar  string
	Creator uint32
	Type    GroupType
	Members []uint32
}

// Validate reports what is wrong with g, wrapping ErrInvalid.
func (g NewGroup) Validate() error {
	switch {
	case g.Name == "" || utf8.RuneCountInString(g.Name) > MaxGroupName:
		return fmt.Errorf("%w: group name empty or longer than %d", ErrInvalid, MaxGroupName)
	case len(g.Members) == 0:
		return fmt.Errorf("%w: group without members", ErrInvalid)
	case !g.Type.Valid():
		return fmt.Errorf("%w: group type %d", ErrInvalid, g.Type)
	case utf8.RuneCountInString(g.Avatar) > MaxGroupName:
		return fmt.Errorf("%w: group avatar too long", ErrInvalid)
	}
	return nil
}

// DistinctIDs returns ids sorted ascending without repeats or zeros, in a
// new slice (the stores' member and user id lists).
func DistinctIDs(ids []uint32) []uint32 {
	out := slices.Clone(ids)
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > 0 && out[0] == 0 {
		out = out[1:]
	}
	return out
}

// OfflineFile is a file stored on the file server for a receiver
// (IMTransmitFile).
type OfflineFile struct {
	From    uint32
	To      uint32
	TaskID  string
	Name    string
	Size    uint32
	Created uint32
}

// Validate reports what is wrong with f, wrapping ErrInvalid.
func (f OfflineFile) Validate() error {
	if f.TaskID == "" || len(f.TaskID) > MaxTaskIDLen || f.To == 0 {
		return fmt.Errorf("%w: offline file task %q to %d", ErrInvalid, f.TaskID, f.To)
	}
	return nil
}

// Audio is an audio clip (IMAudio plus, for the embedded store, its bytes).
type Audio struct {
	ID       uint32
	From     uint32
	To       uint32
	Duration uint32 // seconds
	Size     uint32 // bytes, without the 4-byte duration
	Path     string // where the bytes live when not in Data (msfs URL)
	Data     []byte
	Created  uint32
}
