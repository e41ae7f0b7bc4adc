package ctlapi

import "time"

// The admin paths: users and departments of the IM store, without SQL. They
// are answered by the teamtalkd that holds the store (the one running
// dbproxy); elsewhere they answer 501 and name the reason.
const (
	PathUsers      = "/v1/users"                 // GET: []User; POST UserAdd: User
	PathUserImport = "/v1/users/import"          // POST UserImport: ImportResult
	PathUser       = "/v1/users/{name}"          // PATCH UserSet: User
	PathUserPasswd = "/v1/users/{name}/password" // POST PasswordSet: User
	PathDeparts    = "/v1/departs"               // GET: []Depart; POST DepartAdd: Depart
)

// UserPath returns the path of the named user.
func UserPath(name string) string { return "/v1/users/" + name }

// UserPasswdPath returns the password path of the named user.
func UserPasswdPath(name string) string { return "/v1/users/" + name + "/password" }

// User is a user of the IM store as the admin sees it: never the password
// hash or salt.
type User struct {
	ID       uint32    `json:"id"`
	Name     string    `json:"name"`
	Nick     string    `json:"nick"`
	Sex      uint8     `json:"sex"` // 1 male, 2 female, 0 unknown
	Phone    string    `json:"phone,omitempty"`
	Email    string    `json:"email,omitempty"`
	Avatar   string    `json:"avatar,omitempty"`
	DepartID uint32    `json:"depart_id"`
	Depart   string    `json:"depart,omitempty"` // the department's name, when it exists
	Status   uint32    `json:"status"`           // 0 may log in; 3 = left
	SignInfo string    `json:"sign_info,omitempty"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
}

// UserAdd creates one user. Password is the plain password (what the user
// types into a TeamTalk client); it is stored salted and hashed as TeamTalk's
// admin stores it. Depart names a department by name or numeric id; empty
// means none (id 0).
type UserAdd struct {
	Name     string `json:"name"`
	Password string `json:"password"`
	Nick     string `json:"nick,omitempty"` // empty: the name
	Depart   string `json:"depart,omitempty"`
	Sex      uint8  `json:"sex,omitempty"`
	Phone    string `json:"phone,omitempty"`
	Email    string `json:"email,omitempty"`
	Avatar   string `json:"avatar,omitempty"`
}

// UserSet changes the fields that are set; nil fields are left alone.
type UserSet struct {
	Nick     *string `json:"nick,omitempty"`
	Sex      *uint8  `json:"sex,omitempty"`
	Phone    *string `json:"phone,omitempty"`
	Email    *string `json:"email,omitempty"`
	Avatar   *string `json:"avatar,omitempty"`
	Depart   *string `json:"depart,omitempty"` // name or numeric id; "0" for none
	Status   *uint32 `json:"status,omitempty"`
	SignInfo *string `json:"sign_info,omitempty"`
}

// PasswordSet replaces a user's password (plain, as typed by the user).
type PasswordSet struct {
	Password string `json:"password"`
}

// ImportRow is one user of an import, with the line of the file it came
// from so an error can name it.
type ImportRow struct {
	Line     int    `json:"line"`
	Name     string `json:"name"`
	Password string `json:"password,omitempty"` // empty: UserImport.Password
	Nick     string `json:"nick,omitempty"`
	Depart   string `json:"depart,omitempty"` // name or numeric id
}

// UserImport creates many users in one transaction: one bad row aborts the
// whole import and nothing is stored.
type UserImport struct {
	// Password is the plain password of the rows that give none.
	Password string      `json:"password,omitempty"`
	Rows     []ImportRow `json:"rows"`
}

// ImportResult says what an import created.
type ImportResult struct {
	Added   int    `json:"added"`
	FirstID uint32 `json:"first_id,omitempty"`
	LastID  uint32 `json:"last_id,omitempty"`
}

// Depart is a department of the IM store.
type Depart struct {
	ID       uint32    `json:"id"`
	Name     string    `json:"name"`
	Priority uint32    `json:"priority"`
	ParentID uint32    `json:"parent_id"`
	Parent   string    `json:"parent,omitempty"` // the parent's name, when it exists
	Status   uint32    `json:"status"`           // 0 ok, 1 deleted
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
}

// DepartAdd creates a department. Parent names the parent by name or
// numeric id; empty means a top-level department.
type DepartAdd struct {
	Name     string `json:"name"`
	Parent   string `json:"parent,omitempty"`
	Priority uint32 `json:"priority,omitempty"`
}

// PathDBInit creates the missing tables of the IM store (POST: DBInitResult).
// Like the other admin paths it is answered by the teamtalkd running dbproxy.
const PathDBInit = "/v1/db/init"

// DBInitResult says what POST PathDBInit did.
type DBInitResult struct {
	Backend  string `json:"backend"`            // bolt or mysql
	Database string `json:"database,omitempty"` // the MySQL DSN without its password
	Message  string `json:"message"`
}

// The group paths. {group} is a group's numeric id or its name (the name of
// exactly one active group); members are given by login name or, when no
// user has that name, numeric id.
const (
	PathGroups       = "/v1/groups"                 // GET: []Group; POST GroupAdd: GroupDetail
	PathGroup        = "/v1/groups/{group}"         // GET: GroupDetail
	PathGroupMembers = "/v1/groups/{group}/members" // POST GroupMembersChange: GroupChangeResult
)

// GroupPath returns the path of a group given by name or id.
func GroupPath(ref string) string { return "/v1/groups/" + ref }

// GroupMembersPath returns the members path of a group given by name or id.
func GroupMembersPath(ref string) string { return "/v1/groups/" + ref + "/members" }

// The group types as the admin names them (IMGroup.type 1 and 2).
const (
	GroupNormal = "normal" // fixed: in every member's group list
	GroupTemp   = "temp"   // temporary: reached through recent sessions
)

// Group is a group of the IM store as ttctl group list shows it.
type Group struct {
	ID        uint32 `json:"id"`
	Name      string `json:"name"`
	Type      string `json:"type"` // GroupNormal or GroupTemp ("type N" for others)
	Avatar    string `json:"avatar,omitempty"`
	CreatorID uint32 `json:"creator_id"`        // 0: created by an administrator
	Creator   string `json:"creator,omitempty"` // the creator's login name, when the user exists
	Members   int    `json:"members"`
	// Version grows with every membership change; clients compare it at
	// their next group sync and fetch the group again when it grew.
	Version     uint32    `json:"version"`
	Status      uint32    `json:"status"` // 0 active, else deleted
	LatestMsgID uint32    `json:"latest_msg_id"`
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
}

// GroupMember is one member of a group.
type GroupMember struct {
	ID     uint32    `json:"id"`
	Name   string    `json:"name,omitempty"` // empty when the user no longer exists
	Nick   string    `json:"nick,omitempty"`
	Joined time.Time `json:"joined"` // history before it is hidden from the member
	Shield bool      `json:"shield"` // the member muted the group's push
}

// GroupDetail is a group with its members, ascending by id.
type GroupDetail struct {
	Group
	MemberList []GroupMember `json:"member_list"`
}

// GroupAdd creates a group. Type is GroupNormal (the default) or GroupTemp;
// Creator is a user by name or id, empty for none (an administrator's
// group); the creator is a member only when listed in Members.
type GroupAdd struct {
	Name    string   `json:"name"`
	Type    string   `json:"type,omitempty"`
	Avatar  string   `json:"avatar,omitempty"`
	Creator string   `json:"creator,omitempty"`
	Members []string `json:"members"`
}

// GroupMembersChange adds and removes members in one request: the removals
// are applied first, then the additions (each bumps the version). Adding a
// member or removing a non-member changes nothing and is reported.
type GroupMembersChange struct {
	Add    []string `json:"add,omitempty"`
	Remove []string `json:"remove,omitempty"`
}

// GroupChangeResult is the group after a change and what changed.
type GroupChangeResult struct {
	Group      GroupDetail `json:"group"`
	Added      []UserRef   `json:"added"`       // users who joined
	Removed    []UserRef   `json:"removed"`     // users who left
	AlreadyIn  []UserRef   `json:"already_in"`  // asked to add, already members
	NotMembers []UserRef   `json:"not_members"` // asked to remove, not members
	// Notified says whether online members were told at once (a group
	// change notify through a msg service here); otherwise they see the
	// change at their next group sync.
	Notified bool `json:"notified"`
}

// UserRef names a user by id and login name.
type UserRef struct {
	ID   uint32 `json:"id"`
	Name string `json:"name"`
}
