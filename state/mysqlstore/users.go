package mysqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"teamtalk/state"
)

// userCols are IMUser's columns in the order scanUser reads them.
const userCols = `id, sex, name, domain, nick, password, salt, phone, email, COALESCE(avatar, ''),
departId, COALESCE(status, 0), created, updated, push_shield_status, sign_info`

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanUser(sc scanner) (state.User, error) {
	var u state.User
	var shield uint8
	err := sc.Scan(&u.ID, &u.Sex, &u.Name, &u.Domain, &u.Nick, &u.Password, &u.Salt, &u.Phone, &u.Email,
		&u.Avatar, &u.DepartID, &u.Status, &u.Created, &u.Updated, &shield, &u.SignInfo)
	u.PushShield = shield != 0
	return u, err
}

// queryUsers runs a query selecting userCols and collects the users.
func (s *Store) queryUsers(ctx context.Context, query string, args ...any) ([]state.User, error) {
	if err := s.guard(); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, closedErr(err)
	}
	defer rows.Close()
	var out []state.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// userTx reads a user inside a transaction, locking its row.
func userTx(q *txq, id uint32) (state.User, error) {
	u, err := scanUser(q.queryRow(`SELECT `+userCols+` FROM IMUser WHERE id = ? FOR UPDATE`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("user %d: %w", id, state.ErrNotFound)
	}
	return u, err
}

// CreateUser implements state.Store.
func (s *Store) CreateUser(ctx context.Context, nu state.NewUser) (state.User, error) {
	us, err := s.ImportUsers(ctx, []state.NewUser{nu})
	if err != nil {
		return state.User{}, err
	}
	return us[0], nil
}

// ImportUsers implements state.Store. IMUser has no unique index on name, so
// the names are checked under locks (FOR UPDATE on idx_name) inside the
// transaction that inserts them.
func (s *Store) ImportUsers(ctx context.Context, nus []state.NewUser) ([]state.User, error) {
	now := s.now()
	users := make([]state.User, len(nus))
	seen := make(map[string]int, len(nus))
	for i, nu := range nus {
		if err := nu.Validate(); err != nil {
			return nil, fmt.Errorf("mysqlstore: import row %d: %w", i+1, err)
		}
		if j, dup := seen[nu.Name]; dup {
			return nil, fmt.Errorf("mysqlstore: import row %d: name %q repeats row %d: %w", i+1, nu.Name, j+1, state.ErrExists)
		}
		seen[nu.Name] = i
		hash, salt, err := state.NewPassword(nu.Password)
		if err != nil {
			return nil, err
		}
		users[i] = state.User{
			Sex: nu.Sex, Name: nu.Name, Domain: nu.Domain, Nick: nu.Nick, Password: hash, Salt: salt,
			Phone: nu.Phone, Email: nu.Email, Avatar: nu.Avatar, DepartID: nu.DepartID, Status: nu.Status,
			Created: now, Updated: now, SignInfo: nu.SignInfo,
		}
	}
	const chunk = 500
	s.userMu.Lock()
	defer s.userMu.Unlock()
	err := s.txnIso(ctx, repeatableRead, func(q *txq) error {
		for lo := 0; lo < len(users); lo += chunk {
			part := users[lo:min(lo+chunk, len(users))]
			args := make([]any, len(part))
			for i, u := range part {
				args[i] = u.Name
			}
			var name string
			err := q.queryRow(`SELECT name FROM IMUser WHERE name IN (`+placeholders(len(part))+`) LIMIT 1 FOR UPDATE`, args...).Scan(&name)
			if err == nil {
				return fmt.Errorf("mysqlstore: import row %d: user %q: %w", seen[name]+1, name, state.ErrExists)
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		for i := range users {
			u := &users[i]
			res, err := q.exec(`INSERT INTO IMUser (sex, name, domain, nick, password, salt, phone, email, avatar,
departId, status, created, updated, push_shield_status, sign_info) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)`,
				u.Sex, u.Name, u.Domain, u.Nick, u.Password, u.Salt, u.Phone, u.Email, u.Avatar,
				u.DepartID, u.Status, u.Created, u.Updated, u.SignInfo)
			if err != nil {
				return fmt.Errorf("insert user %q: %w", u.Name, err)
			}
			id, err := res.LastInsertId()
			if err != nil {
				return err
			}
			u.ID = uint32(id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: import users: %w", err)
	}
	return users, nil
}

// placeholders returns "?, ?, …" with n marks.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// modifyUser runs fn on the locked user row and stores every field fn may
// change, with updated = now.
func (s *Store) modifyUser(ctx context.Context, id uint32, fn func(u *state.User) error) (state.User, error) {
	now := s.now()
	var out state.User
	err := s.txn(ctx, func(q *txq) error {
		u, err := userTx(q, id)
		if err != nil {
			return err
		}
		if err := fn(&u); err != nil {
			return err
		}
		u.Updated = max(now, u.Updated)
		shield := 0
		if u.PushShield {
			shield = 1
		}
		_, err = q.exec(`UPDATE IMUser SET sex = ?, domain = ?, nick = ?, password = ?, salt = ?, phone = ?, email = ?,
avatar = ?, departId = ?, status = ?, updated = ?, push_shield_status = ?, sign_info = ? WHERE id = ?`,
			u.Sex, u.Domain, u.Nick, u.Password, u.Salt, u.Phone, u.Email, u.Avatar, u.DepartID, u.Status,
			u.Updated, shield, u.SignInfo, id)
		out = u
		return err
	})
	if err != nil {
		return state.User{}, fmt.Errorf("mysqlstore: update user %d: %w", id, err)
	}
	return out, nil
}

// UpdateUser implements state.Store.
func (s *Store) UpdateUser(ctx context.Context, id uint32, up state.UserUpdate) (state.User, error) {
	return s.modifyUser(ctx, id, up.Apply)
}

// SetPassword implements state.Store.
func (s *Store) SetPassword(ctx context.Context, id uint32, plain string) error {
	if plain == "" {
		return fmt.Errorf("mysqlstore: set password: %w: empty password", state.ErrInvalid)
	}
	hash, salt, err := state.NewPassword(plain)
	if err != nil {
		return err
	}
	_, err = s.modifyUser(ctx, id, func(u *state.User) error {
		u.Password, u.Salt = hash, salt
		return nil
	})
	return err
}

// SetPushShield implements state.Store.
func (s *Store) SetPushShield(ctx context.Context, userID uint32, on bool) error {
	_, err := s.modifyUser(ctx, userID, func(u *state.User) error {
		u.PushShield = on
		return nil
	})
	return err
}

// PushShield implements state.Store.
func (s *Store) PushShield(ctx context.Context, userID uint32) (bool, error) {
	us, err := s.Users(ctx, []uint32{userID})
	if err != nil {
		return false, err
	}
	if len(us) == 0 {
		return false, fmt.Errorf("mysqlstore: push shield: user %d: %w", userID, state.ErrNotFound)
	}
	return us[0].PushShield, nil
}

// CheckLogin implements state.Store: the row with that name and status 0,
// as the reference selects it, with the salted hash compared in constant
// time.
func (s *Store) CheckLogin(ctx context.Context, name, clientPassword string) (state.User, error) {
	us, err := s.queryUsers(ctx, `SELECT `+userCols+` FROM IMUser WHERE name = ? AND status = 0 ORDER BY id LIMIT 1`, name)
	if err != nil {
		return state.User{}, fmt.Errorf("mysqlstore: login %q: %w", name, err)
	}
	if len(us) == 0 || !state.CheckPassword(us[0], clientPassword) {
		return state.User{}, fmt.Errorf("mysqlstore: login %q: %w", name, state.ErrBadCredentials)
	}
	return us[0], nil
}

// UserByName implements state.Store (the oldest row when a database made
// by other tools holds the name twice).
func (s *Store) UserByName(ctx context.Context, name string) (state.User, error) {
	us, err := s.queryUsers(ctx, `SELECT `+userCols+` FROM IMUser WHERE name = ? ORDER BY id LIMIT 1`, name)
	if err != nil {
		return state.User{}, fmt.Errorf("mysqlstore: user by name: %w", err)
	}
	if len(us) == 0 {
		return state.User{}, fmt.Errorf("mysqlstore: user %q: %w", name, state.ErrNotFound)
	}
	return us[0], nil
}

// Users implements state.Store.
func (s *Store) Users(ctx context.Context, ids []uint32) ([]state.User, error) {
	if err := s.guard(); err != nil {
		return nil, err
	}
	byID := make(map[uint32]state.User, len(ids))
	const chunk = 500
	for lo := 0; lo < len(ids); lo += chunk {
		part := ids[lo:min(lo+chunk, len(ids))]
		us, err := s.queryUsers(ctx, `SELECT `+userCols+` FROM IMUser WHERE id IN (`+placeholders(len(part))+`)`, u32Args(part)...)
		if err != nil {
			return nil, fmt.Errorf("mysqlstore: users: %w", err)
		}
		for _, u := range us {
			byID[u.ID] = u
		}
	}
	var out []state.User
	for _, id := range ids {
		if u, ok := byID[id]; ok {
			out = append(out, u)
		}
	}
	return out, nil
}

func u32Args(ids []uint32) []any {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return args
}

// ListUsers implements state.Store.
func (s *Store) ListUsers(ctx context.Context) ([]state.User, error) {
	us, err := s.queryUsers(ctx, `SELECT `+userCols+` FROM IMUser ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: list users: %w", err)
	}
	return us, nil
}

// UsersChangedSince implements state.Store.
func (s *Store) UsersChangedSince(ctx context.Context, since uint32) ([]state.User, uint32, error) {
	var (
		us  []state.User
		err error
	)
	if since == 0 {
		us, err = s.queryUsers(ctx, `SELECT `+userCols+` FROM IMUser WHERE COALESCE(status, 0) <> ? ORDER BY id`, state.UserStatusLeft)
	} else {
		us, err = s.queryUsers(ctx, `SELECT `+userCols+` FROM IMUser WHERE updated >= ? ORDER BY id`, since)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("mysqlstore: users changed since %d: %w", since, err)
	}
	latest := since
	for _, u := range us {
		latest = max(latest, u.Updated)
	}
	return us, latest, nil
}

// UserWatermark implements state.Store.
func (s *Store) UserWatermark(ctx context.Context) (uint32, error) {
	if err := s.guard(); err != nil {
		return 0, err
	}
	var w uint32
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(updated), 0) FROM IMUser`).Scan(&w); err != nil {
		return 0, fmt.Errorf("mysqlstore: user watermark: %w", closedErr(err))
	}
	return w, nil
}

// CreateDepart implements state.Store.
func (s *Store) CreateDepart(ctx context.Context, nd state.NewDepart) (state.Depart, error) {
	if err := nd.Validate(); err != nil {
		return state.Depart{}, fmt.Errorf("mysqlstore: create depart: %w", err)
	}
	now := s.now()
	d := state.Depart{Name: nd.Name, Priority: nd.Priority, ParentID: nd.ParentID, Status: nd.Status, Created: now, Updated: now}
	err := s.txn(ctx, func(q *txq) error {
		res, err := q.exec(`INSERT INTO IMDepart (departName, priority, parentId, status, created, updated) VALUES (?, ?, ?, ?, ?, ?)`,
			d.Name, d.Priority, d.ParentID, d.Status, d.Created, d.Updated)
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		d.ID = uint32(id)
		return err
	})
	if err != nil {
		return state.Depart{}, fmt.Errorf("mysqlstore: create depart: %w", err)
	}
	return d, nil
}

// DepartsChangedSince implements state.Store.
func (s *Store) DepartsChangedSince(ctx context.Context, since uint32) ([]state.Depart, uint32, error) {
	if err := s.guard(); err != nil {
		return nil, 0, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, departName, priority, parentId, status, created, updated
FROM IMDepart WHERE ? = 0 OR updated >= ? ORDER BY id`, since, since)
	if err != nil {
		return nil, 0, fmt.Errorf("mysqlstore: departs changed since %d: %w", since, closedErr(err))
	}
	defer rows.Close()
	var out []state.Depart
	latest := since
	for rows.Next() {
		var d state.Depart
		if err := rows.Scan(&d.ID, &d.Name, &d.Priority, &d.ParentID, &d.Status, &d.Created, &d.Updated); err != nil {
			return nil, 0, fmt.Errorf("mysqlstore: departs: %w", err)
		}
		out = append(out, d)
		latest = max(latest, d.Updated)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("mysqlstore: departs: %w", err)
	}
	return out, latest, nil
}
