package boltstore

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"teamtalk/state"
)

// userRecord is the stored form of a user; its JSON names are the schema and
// must not change without a migration.
type userRecord struct {
	ID         uint32 `json:"id"`
	Sex        uint8  `json:"sex"`
	Name       string `json:"name"`
	Domain     string `json:"domain"`
	Nick       string `json:"nick"`
	Password   string `json:"password"`
	Salt       string `json:"salt"`
	Phone      string `json:"phone"`
	Email      string `json:"email"`
	Avatar     string `json:"avatar"`
	DepartID   uint32 `json:"depart_id"`
	Status     uint32 `json:"status"`
	Created    uint32 `json:"created"`
	Updated    uint32 `json:"updated"`
	PushShield bool   `json:"push_shield"`
	SignInfo   string `json:"sign_info"`
}

func (r userRecord) user() state.User { return state.User(r) }

func recordOf(u state.User) userRecord { return userRecord(u) }

// departRecord is the stored form of a department.
type departRecord struct {
	ID       uint32 `json:"id"`
	Name     string `json:"name"`
	Priority uint32 `json:"priority"`
	ParentID uint32 `json:"parent_id"`
	Status   uint32 `json:"status"`
	Created  uint32 `json:"created"`
	Updated  uint32 `json:"updated"`
}

func (r *rtx) user(id uint32) (state.User, error) {
	k := key(id)
	raw := r.get(bUsers, k)
	if raw == nil {
		return state.User{}, fmt.Errorf("user %d: %w", id, state.ErrNotFound)
	}
	rec, err := decodeUser(bUsers, k, raw)
	if err != nil {
		return state.User{}, err
	}
	return rec.user(), nil
}

func (r *rtx) eachUser(fn func(u state.User) error) error {
	return r.prefix(bUsers, nil, func(k, v []byte) (bool, error) {
		rec, err := decodeUser(bUsers, k, v)
		if err != nil {
			return false, err
		}
		return true, fn(rec.user())
	})
}

// decodeUser decodes a stored user record: by scanRecord when the bytes are
// exactly what json.Marshal writes for a userRecord with no escapes in its
// strings (every record this store writes for ordinary names), else by
// json.Unmarshal. Both give the same result; the scan spares every login
// encoding/json's reflection (about 5 µs and a dozen allocations a record).
func decodeUser(bucket, k, raw []byte) (userRecord, error) {
	if rec, ok := scanRecord(raw); ok {
		return rec, nil
	}
	var rec userRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return userRecord{}, fmt.Errorf("boltstore: decode %s/%x: %w", bucket, k, err)
	}
	return rec, nil
}

// scanRecord parses raw when it is a JSON object with exactly userRecord's
// keys in declaration order, no whitespace, strings without backslashes or
// control characters and valid UTF-8, unsigned integers without sign,
// fraction, exponent or leading zero that fit their field, and true/false.
// It reports false for anything else (json.Unmarshal then decides), so it
// never accepts an input that encoding/json would read differently.
func scanRecord(raw []byte) (userRecord, bool) {
	// One string for the whole record: each string field is a slice of it,
	// one allocation instead of one per field.
	all := string(raw)
	sc := recScanner{s: all}
	var rec userRecord
	ok := sc.lit("{") &&
		sc.key(`"id":`) && sc.u32(&rec.ID) &&
		sc.key(`,"sex":`) && sc.u8(&rec.Sex) &&
		sc.key(`,"name":`) && sc.str(&rec.Name) &&
		sc.key(`,"domain":`) && sc.str(&rec.Domain) &&
		sc.key(`,"nick":`) && sc.str(&rec.Nick) &&
		sc.key(`,"password":`) && sc.str(&rec.Password) &&
		sc.key(`,"salt":`) && sc.str(&rec.Salt) &&
		sc.key(`,"phone":`) && sc.str(&rec.Phone) &&
		sc.key(`,"email":`) && sc.str(&rec.Email) &&
		sc.key(`,"avatar":`) && sc.str(&rec.Avatar) &&
		sc.key(`,"depart_id":`) && sc.u32(&rec.DepartID) &&
		sc.key(`,"status":`) && sc.u32(&rec.Status) &&
		sc.key(`,"created":`) && sc.u32(&rec.Created) &&
		sc.key(`,"updated":`) && sc.u32(&rec.Updated) &&
		sc.key(`,"push_shield":`) && sc.boolean(&rec.PushShield) &&
		sc.key(`,"sign_info":`) && sc.str(&rec.SignInfo) &&
		sc.lit("}") && sc.i == len(sc.s)
	return rec, ok
}

// recScanner is scanRecord's cursor over the record's text.
type recScanner struct {
	s string
	i int
}

func (sc *recScanner) lit(l string) bool {
	if !strings.HasPrefix(sc.s[sc.i:], l) {
		return false
	}
	sc.i += len(l)
	return true
}

func (sc *recScanner) key(k string) bool { return sc.lit(k) }

// uint reads a decimal integer up to max.
func (sc *recScanner) uint(max uint64) (uint64, bool) {
	j := sc.i
	var v uint64
	for j < len(sc.s) && sc.s[j] >= '0' && sc.s[j] <= '9' {
		v = v*10 + uint64(sc.s[j]-'0')
		if v > max {
			return 0, false
		}
		j++
	}
	n := j - sc.i
	if n == 0 || (n > 1 && sc.s[sc.i] == '0') {
		return 0, false
	}
	// A fraction or exponent makes it a number encoding/json refuses for an
	// integer field (or reads differently): leave it to encoding/json.
	if j < len(sc.s) && (sc.s[j] == '.' || sc.s[j] == 'e' || sc.s[j] == 'E') {
		return 0, false
	}
	sc.i = j
	return v, true
}

func (sc *recScanner) u32(dst *uint32) bool {
	v, ok := sc.uint(math.MaxUint32)
	*dst = uint32(v)
	return ok
}

func (sc *recScanner) u8(dst *uint8) bool {
	v, ok := sc.uint(math.MaxUint8)
	*dst = uint8(v)
	return ok
}

func (sc *recScanner) boolean(dst *bool) bool {
	switch {
	case sc.lit("true"):
		*dst = true
	case sc.lit("false"):
		*dst = false
	default:
		return false
	}
	return true
}

// str reads a string with nothing to unescape or replace.
func (sc *recScanner) str(dst *string) bool {
	if !sc.lit(`"`) {
		return false
	}
	j := sc.i
	for j < len(sc.s) && sc.s[j] != '"' {
		if c := sc.s[j]; c == '\\' || c < 0x20 {
			return false
		}
		j++
	}
	if j == len(sc.s) || !utf8.ValidString(sc.s[sc.i:j]) {
		return false
	}
	*dst = sc.s[sc.i:j]
	sc.i = j + 1
	return true
}

// newUser validates nu and builds the user to store, with a fresh salt.
func newUser(nu state.NewUser, now uint32) (state.User, error) {
	if err := nu.Validate(); err != nil {
		return state.User{}, err
	}
	hash, salt, err := state.NewPassword(nu.Password)
	if err != nil {
		return state.User{}, err
	}
	return state.User{
		Sex: nu.Sex, Name: nu.Name, Domain: nu.Domain, Nick: nu.Nick, Password: hash, Salt: salt,
		Phone: nu.Phone, Email: nu.Email, Avatar: nu.Avatar, DepartID: nu.DepartID, Status: nu.Status,
		Created: now, Updated: now, SignInfo: nu.SignInfo,
	}, nil
}

// CreateUser implements state.Store.
func (s *Store) CreateUser(ctx context.Context, nu state.NewUser) (state.User, error) {
	us, err := s.ImportUsers(ctx, []state.NewUser{nu})
	if err != nil {
		return state.User{}, err
	}
	return us[0], nil
}

// ImportUsers implements state.Store.
func (s *Store) ImportUsers(ctx context.Context, nus []state.NewUser) ([]state.User, error) {
	now := s.now()
	// Validate and hash outside the committer: hashing is the slow part.
	users := make([]state.User, len(nus))
	seen := make(map[string]int, len(nus))
	for i, nu := range nus {
		u, err := newUser(nu, now)
		if err != nil {
			return nil, fmt.Errorf("boltstore: import row %d: %w", i+1, err)
		}
		if j, dup := seen[nu.Name]; dup {
			return nil, fmt.Errorf("boltstore: import row %d: name %q repeats row %d: %w", i+1, nu.Name, j+1, state.ErrExists)
		}
		seen[nu.Name] = i
		users[i] = u
	}
	err := s.update(ctx, func(w *wtx) error {
		for i, u := range users {
			if w.get(bUserNames, []byte(u.Name)) != nil {
				return fmt.Errorf("boltstore: import row %d: user %q: %w", i+1, u.Name, state.ErrExists)
			}
		}
		for i := range users {
			id, err := w.nextID(bUsers)
			if err != nil {
				return err
			}
			users[i].ID = id
			if err := w.putJSON(bUsers, key(id), recordOf(users[i])); err != nil {
				return err
			}
			if err := w.put(bUserNames, []byte(users[i].Name), putU32(id)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return users, nil
}

// modifyUser runs fn on the stored user and saves the result with Updated =
// now.
func (s *Store) modifyUser(ctx context.Context, id uint32, fn func(u *state.User) error) (state.User, error) {
	now := s.now()
	var out state.User
	err := s.update(ctx, func(w *wtx) error {
		u, err := w.user(id)
		if err != nil {
			return err
		}
		if err := fn(&u); err != nil {
			return err
		}
		u.Updated = max(now, u.Updated)
		if err := w.putJSON(bUsers, key(id), recordOf(u)); err != nil {
			return err
		}
		out = u
		return nil
	})
	if err != nil {
		return state.User{}, fmt.Errorf("boltstore: update user %d: %w", id, err)
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
		return fmt.Errorf("boltstore: set password: %w: empty password", state.ErrInvalid)
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
	var on bool
	err := s.view(ctx, func(r *rtx) error {
		u, err := r.user(userID)
		on = u.PushShield
		return err
	})
	if err != nil {
		return false, fmt.Errorf("boltstore: push shield: %w", err)
	}
	return on, nil
}

// CheckLogin implements state.Store.
func (s *Store) CheckLogin(ctx context.Context, name, clientPassword string) (state.User, error) {
	u, err := s.UserByName(ctx, name)
	if err != nil && !errorsIsNotFound(err) {
		return state.User{}, err
	}
	if err != nil || u.Status != 0 || !state.CheckPassword(u, clientPassword) {
		return state.User{}, fmt.Errorf("boltstore: login %q: %w", name, state.ErrBadCredentials)
	}
	return u, nil
}

// UserByName implements state.Store.
func (s *Store) UserByName(ctx context.Context, name string) (state.User, error) {
	var u state.User
	err := s.view(ctx, func(r *rtx) error {
		id := r.get(bUserNames, []byte(name))
		if id == nil {
			return fmt.Errorf("user %q: %w", name, state.ErrNotFound)
		}
		var err error
		u, err = r.user(u32(id))
		return err
	})
	if err != nil {
		return state.User{}, fmt.Errorf("boltstore: user by name: %w", err)
	}
	return u, nil
}

// Users implements state.Store.
func (s *Store) Users(ctx context.Context, ids []uint32) ([]state.User, error) {
	var out []state.User
	err := s.view(ctx, func(r *rtx) error {
		for _, id := range ids {
			u, err := r.user(id)
			if errorsIsNotFound(err) {
				continue
			}
			if err != nil {
				return err
			}
			out = append(out, u)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: users: %w", err)
	}
	return out, nil
}

// ListUsers implements state.Store.
func (s *Store) ListUsers(ctx context.Context) ([]state.User, error) {
	var out []state.User
	err := s.view(ctx, func(r *rtx) error {
		return r.eachUser(func(u state.User) error {
			out = append(out, u)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: list users: %w", err)
	}
	return out, nil
}

// UsersChangedSince implements state.Store.
func (s *Store) UsersChangedSince(ctx context.Context, since uint32) ([]state.User, uint32, error) {
	var out []state.User
	latest := since
	err := s.view(ctx, func(r *rtx) error {
		return r.eachUser(func(u state.User) error {
			if (since == 0 && u.Status != state.UserStatusLeft) || (since > 0 && u.Updated >= since) {
				out = append(out, u)
				latest = max(latest, u.Updated)
			}
			return nil
		})
	})
	if err != nil {
		return nil, 0, fmt.Errorf("boltstore: users changed since %d: %w", since, err)
	}
	return out, latest, nil
}

// UserWatermark implements state.Store.
func (s *Store) UserWatermark(ctx context.Context) (uint32, error) {
	var w uint32
	err := s.view(ctx, func(r *rtx) error {
		return r.eachUser(func(u state.User) error {
			w = max(w, u.Updated)
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("boltstore: user watermark: %w", err)
	}
	return w, nil
}

// CreateDepart implements state.Store.
func (s *Store) CreateDepart(ctx context.Context, nd state.NewDepart) (state.Depart, error) {
	if err := nd.Validate(); err != nil {
		return state.Depart{}, fmt.Errorf("boltstore: create depart: %w", err)
	}
	now := s.now()
	d := state.Depart{Name: nd.Name, Priority: nd.Priority, ParentID: nd.ParentID, Status: nd.Status, Created: now, Updated: now}
	err := s.update(ctx, func(w *wtx) error {
		id, err := w.nextID(bDeparts)
		if err != nil {
			return err
		}
		d.ID = id
		return w.putJSON(bDeparts, key(id), departRecord(d))
	})
	if err != nil {
		return state.Depart{}, fmt.Errorf("boltstore: create depart: %w", err)
	}
	return d, nil
}

// DepartsChangedSince implements state.Store.
func (s *Store) DepartsChangedSince(ctx context.Context, since uint32) ([]state.Depart, uint32, error) {
	var out []state.Depart
	latest := since
	err := s.view(ctx, func(r *rtx) error {
		return r.prefix(bDeparts, nil, func(k, v []byte) (bool, error) {
			var rec departRecord
			if _, err := r.getJSON(bDeparts, k, &rec); err != nil {
				return false, err
			}
			if since == 0 || rec.Updated >= since {
				out = append(out, state.Depart(rec))
				latest = max(latest, rec.Updated)
			}
			return true, nil
		})
	})
	if err != nil {
		return nil, 0, fmt.Errorf("boltstore: departs changed since %d: %w", since, err)
	}
	return out, latest, nil
}
