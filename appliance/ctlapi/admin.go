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
