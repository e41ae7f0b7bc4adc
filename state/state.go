// Package state defines the IM store: one Store interface for everything the
// db proxy (and the control API's admin commands) reads and writes — users,
// departments, recent sessions, one-to-one and group messages with their
// per-session ids, unread counters, audio, offline files, device tokens, push
// shields and groups — and the domain types it returns.
//
// Backends live in subpackages (state/boltstore, the embedded default; a MySQL
// backend on TeamTalk's schema); state/storetest is the conformance suite every
// backend must pass. The types here are shaped after TeamTalk's MySQL tables
// (PROTOCOL.md §8): ids are uint32, times are unix seconds as uint32, message
// content is the opaque bytes clients send (ciphertext for text), and message
// types are the protocol's MsgType values.
//
// Behaviour that differs from the C++ reference on purpose (PROTOCOL.md §10.2):
//   - a message gets its id in the same transaction that stores it, so an id is
//     returned only for a durable message and ids never repeat;
//   - a read ack honours msg_id: messages newer than the acknowledged id stay
//     unread (msg_id 0, or an id at or past the newest, clears everything, which
//     is what clients send in practice, so this stays client-compatible);
//   - Latest.From of a session or unread entry is the real sender of the newest
//     message (the reference always reported the peer);
//   - a group message touches every member's recent session at once (the
//     reference did it from a 5-second background job);
//   - the user directory watermark is derived from the users themselves, so
//     admin edits are seen by incremental syncs.
package state

import (
	"context"
	"errors"
)

// Sentinel errors that callers branch on. Backends wrap them with context;
// test with errors.Is.
var (
	// ErrNotFound reports that the user, group, session, file or audio asked
	// for does not exist.
	ErrNotFound = errors.New("state: not found")
	// ErrExists reports that a unique value (a user name) is already taken.
	ErrExists = errors.New("state: already exists")
	// ErrInvalid reports an argument the store refuses (empty name, a message
	// to oneself, an unknown message type, a field that is too long...).
	ErrInvalid = errors.New("state: invalid argument")
	// ErrNotMember reports that the user is not a member of the group.
	ErrNotMember = errors.New("state: not a group member")
	// ErrBadCredentials reports a failed login check: no such active user or
	// a wrong password (deliberately not told apart).
	ErrBadCredentials = errors.New("state: bad user name or password")
	// ErrClosed reports a call on a closed store.
	ErrClosed = errors.New("state: store closed")
)

// Store is the IM store. All methods are safe for concurrent use. Writes
// return only after they are durable. Lists are returned in the order each
// method documents; a nil slice and an empty slice mean the same.
type Store interface {
	// CreateUser adds a user with TeamTalk's password scheme (the plain
	// password is salted and hashed; see HashPassword). Created and Updated
	// are set to now. ErrExists if the name is taken, ErrInvalid if a field is
	// empty or too long.
	CreateUser(ctx context.Context, u NewUser) (User, error)
	// ImportUsers creates all users in one transaction: any bad row (invalid,
	// duplicate name within the batch or with an existing user) aborts the
	// whole import and nothing is stored. The result is in input order.
	ImportUsers(ctx context.Context, us []NewUser) ([]User, error)
	// UpdateUser changes the fields set in up and sets Updated to now.
	// ErrNotFound if no such user.
	UpdateUser(ctx context.Context, id uint32, up UserUpdate) (User, error)
	// SetPassword stores a new salt and hash for the plain password.
	SetPassword(ctx context.Context, id uint32, plain string) error
	// CheckLogin validates a login: the user must exist with status 0 and
	// md5hex(clientPassword + salt) must equal the stored hash (constant-time
	// compare). clientPassword is what clients send: md5hex(plain).
	// ErrBadCredentials otherwise.
	CheckLogin(ctx context.Context, name, clientPassword string) (User, error)
	// UserByName returns the user with that login name, any status.
	UserByName(ctx context.Context, name string) (User, error)
	// Users returns the listed users (any status) in request order, skipping
	// ids that do not exist.
	Users(ctx context.Context, ids []uint32) ([]User, error)
	// ListUsers returns every user, ascending by id.
	ListUsers(ctx context.Context) ([]User, error)
	// UsersChangedSince is the directory sync (IMAllUserReq): since == 0 gives
	// every user whose status is not 3; since > 0 gives every user (any
	// status) with Updated >= since. latest is the largest Updated returned,
	// or since when nothing is. Ascending by id.
	UsersChangedSince(ctx context.Context, since uint32) (users []User, latest uint32, err error)
	// UserWatermark is the largest Updated of all users (0 when none).
	UserWatermark(ctx context.Context) (uint32, error)
	// SetPushShield sets the user's night-time do-not-disturb flag.
	SetPushShield(ctx context.Context, userID uint32, on bool) error
	// PushShield reports the user's do-not-disturb flag.
	PushShield(ctx context.Context, userID uint32) (bool, error)

	// CreateDepart adds a department (Created and Updated = now).
	CreateDepart(ctx context.Context, d NewDepart) (Depart, error)
	// DepartsChangedSince is the department sync (IMDepartmentReq):
	// since == 0 gives all departments, since > 0 those with Updated >= since.
	// latest is the largest Updated returned, or since. Ascending by id.
	DepartsChangedSince(ctx context.Context, since uint32) (departs []Depart, latest uint32, err error)

	// SaveMessage stores a message, allocates its session's next id (1, 2, …)
	// in the same transaction, and updates unread counters, read markers and
	// recent sessions there too; it returns once that is durable. Created 0
	// means now. Single messages: From != To (ErrInvalid). Group messages:
	// ErrNotFound if the group does not exist, ErrNotMember if From is not a
	// member.
	SaveMessage(ctx context.Context, m NewMessage) (Message, error)
	// Messages is the history (IMGetMsgListReq) of userID's conversation,
	// newest first: at most q.Count messages with ID <= q.BeginID (all when
	// BeginID is 0). Group history requires membership (ErrNotMember) and
	// holds only messages created at or after the user's join time.
	Messages(ctx context.Context, userID uint32, q HistoryQuery) ([]Message, error)
	// MessagesByID returns the conversation's messages with the given ids,
	// newest first, at most 100 (group: membership and join time as
	// Messages).
	MessagesByID(ctx context.Context, userID uint32, st SessionType, sessionID uint32, ids []uint32) ([]Message, error)
	// LatestMsgID returns the newest message id of the conversation, 0 if
	// none (no membership check for groups, as the reference).
	LatestMsgID(ctx context.Context, userID uint32, st SessionType, sessionID uint32) (uint32, error)

	// Unread lists userID's conversations with unread messages, each with its
	// newest message; single sessions first (ascending peer id), then groups
	// (ascending group id).
	Unread(ctx context.Context, userID uint32) ([]Unread, error)
	// UnreadTotal is the sum of userID's unread counts (the push badge).
	UnreadTotal(ctx context.Context, userID uint32) (uint32, error)
	// MarkRead records a read ack up to msgID (see the package doc): messages
	// with a greater id stay unread; 0 marks everything read.
	MarkRead(ctx context.Context, userID uint32, st SessionType, sessionID, msgID uint32) error

	// RecentSessions lists userID's visible sessions with Updated > since,
	// newest first, at most limit (<= 0: no limit), each with its newest
	// message and unread count; sessions without a message are omitted.
	RecentSessions(ctx context.Context, userID, since uint32, limit int) ([]Session, error)
	// RemoveSession hides a session (status 1, Updated = now) and clears its
	// unread count. ErrNotFound if there is no visible session. A new message
	// in the conversation shows it again.
	RemoveSession(ctx context.Context, userID uint32, st SessionType, sessionID uint32) error

	// SetDeviceToken stores userID's push token; a token belongs to one user,
	// so registering it moves it from its previous owner. An empty token
	// clears the user's token (logout).
	SetDeviceToken(ctx context.Context, userID uint32, ct ClientType, token string) error
	// DeviceTokens returns the tokens of the listed users that have one, in
	// request order.
	DeviceTokens(ctx context.Context, userIDs []uint32) ([]DeviceToken, error)

	// CreateGroup creates a group with version 1 and the distinct members
	// (join time = now); the creator is not added unless listed. ErrInvalid if
	// the name or the member list is empty or the type unknown.
	CreateGroup(ctx context.Context, g NewGroup) (Group, error)
	// Group returns the group with its members (ascending id).
	Group(ctx context.Context, groupID uint32) (Group, error)
	// ListGroups returns every group (any type or status) with its members,
	// ascending by id: the admin's view (ttctl group list). It reads all
	// memberships, so it is not for a request path.
	ListGroups(ctx context.Context) ([]Group, error)
	// UserGroups lists the groups userID is a member of, without members,
	// newest Updated first.
	UserGroups(ctx context.Context, userID uint32) ([]Group, error)
	// ChangeMembers adds or removes members. Ids already in (add) or not in
	// (remove) the group are ignored; changed lists the others, ascending. If
	// anything changed the version is incremented, each changed user's read
	// marker is set to the group's newest message, added members get join
	// time now and removed members' sessions of the group are hidden. The
	// result is the group after the change, with members.
	ChangeMembers(ctx context.Context, groupID uint32, op ModifyType, userIDs []uint32) (g Group, changed []uint32, err error)
	// SetGroupShield sets a member's push shield for the group (ErrNotFound,
	// ErrNotMember).
	SetGroupShield(ctx context.Context, groupID, userID uint32, on bool) error

	// AddOfflineFile records an offline file waiting for f.To (Created 0 =
	// now).
	AddOfflineFile(ctx context.Context, f OfflineFile) error
	// OfflineFiles lists the files waiting for userID, oldest first.
	OfflineFiles(ctx context.Context, userID uint32) ([]OfflineFile, error)
	// DeleteOfflineFile removes the file (from, to, taskID); ErrNotFound if
	// there is none.
	DeleteOfflineFile(ctx context.Context, from, to uint32, taskID string) error

	// SaveAudio stores an audio clip (its bytes, or for backends that keep
	// bytes elsewhere, a.Path) and returns its id; message content for an
	// audio message is that id in decimal (PROTOCOL.md §4.3).
	SaveAudio(ctx context.Context, a Audio) (uint32, error)
	// Audio returns the clip stored under id.
	Audio(ctx context.Context, id uint32) (Audio, error)

	// Close drains pending writes and releases the store. It is safe to call
	// more than once; later calls of other methods return ErrClosed.
	Close() error
}
