package appliance

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"teamtalk/appliance/config"
	"teamtalk/appliance/ctlapi"
	"teamtalk/state"
)

// The methods below are the control API's admin endpoints (users and
// departments) over the IM store the supervisor was given. Passwords pass
// through them in plain text on their way to state.NewPassword; they are
// never logged and never part of an error message.

// imStore returns the IM store, or a 501 that says where to run the command
// when this teamtalkd holds none.
func (s *Supervisor) imStore() (state.Store, error) {
	if s.opts.Store != nil {
		return s.opts.Store, nil
	}
	if !slices.Contains(s.config().Enabled(), config.DBProxy) {
		return nil, ctlapi.NotImplemented("this teamtalkd holds no IM store: dbproxy runs on another host; run this command with ttctl on the host that runs dbproxy")
	}
	return nil, ctlapi.NotImplemented("this teamtalkd runs dbproxy but opened no IM store; users and departments cannot be managed here")
}

// storeErr maps the store's sentinel errors to a fitting HTTP status.
func storeErr(what string, err error) error {
	var ce *ctlapi.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ce):
		return err
	case errors.Is(err, state.ErrExists):
		return ctlapi.Errorf(http.StatusConflict, "%s: %v", what, err)
	case errors.Is(err, state.ErrInvalid):
		return ctlapi.Errorf(http.StatusBadRequest, "%s: %v", what, err)
	case errors.Is(err, state.ErrNotFound):
		return ctlapi.Errorf(http.StatusNotFound, "%s: %v", what, err)
	case errors.Is(err, state.ErrClosed):
		return ctlapi.Errorf(http.StatusServiceUnavailable, "%s: %v", what, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ctlapi.Errorf(http.StatusServiceUnavailable, "%s: %v", what, err)
	}
	return fmt.Errorf("appliance: %s: %w", what, err)
}

func unixTime(sec uint32) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(int64(sec), 0).UTC()
}

// departs is the department table, for resolving names and ids.
type departs []state.Depart

func (s *Supervisor) departs(ctx context.Context, st state.Store) (departs, error) {
	ds, _, err := st.DepartsChangedSince(ctx, 0)
	if err != nil {
		return nil, storeErr("list departments", err)
	}
	return ds, nil
}

// storeDeparts returns the IM store and its department table.
func (s *Supervisor) storeDeparts(ctx context.Context) (state.Store, departs, error) {
	st, err := s.imStore()
	if err != nil {
		return nil, nil, err
	}
	ds, err := s.departs(ctx, st)
	return st, ds, err
}

func (ds departs) name(id uint32) string {
	for _, d := range ds {
		if d.ID == id {
			return d.Name
		}
	}
	return ""
}

// resolve turns a department given by numeric id or name into its id: ""
// and "0" are none. Deleted departments match only by id.
func (ds departs) resolve(ref string) (uint32, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" || ref == "0" {
		return 0, nil
	}
	if n, err := strconv.ParseUint(ref, 10, 32); err == nil {
		for _, d := range ds {
			if d.ID == uint32(n) {
				return d.ID, nil
			}
		}
		return 0, ctlapi.NotFound("no department with id %d (ttctl depart list shows them)", n)
	}
	var ids []string
	var id uint32
	for _, d := range ds {
		if d.Name == ref && d.Status == 0 {
			id = d.ID
			ids = append(ids, strconv.FormatUint(uint64(d.ID), 10))
		}
	}
	switch len(ids) {
	case 0:
		return 0, ctlapi.NotFound("no department named %q (add it with ttctl depart add)", ref)
	case 1:
		return id, nil
	}
	return 0, ctlapi.Errorf(http.StatusConflict, "%d departments are named %q (ids %s): give the id", len(ids), ref, strings.Join(ids, ", "))
}

func adminUser(u state.User, ds departs) ctlapi.User {
	return ctlapi.User{
		ID: u.ID, Name: u.Name, Nick: u.Nick, Sex: u.Sex, Phone: u.Phone, Email: u.Email,
		Avatar: u.Avatar, DepartID: u.DepartID, Depart: ds.name(u.DepartID), Status: u.Status,
		SignInfo: u.SignInfo, Created: unixTime(u.Created), Updated: unixTime(u.Updated),
	}
}

func adminDepart(d state.Depart, ds departs) ctlapi.Depart {
	return ctlapi.Depart{
		ID: d.ID, Name: d.Name, Priority: d.Priority, ParentID: d.ParentID, Parent: ds.name(d.ParentID),
		Status: d.Status, Created: unixTime(d.Created), Updated: unixTime(d.Updated),
	}
}

// Users lists every user of the IM store, ascending by id.
func (s *Supervisor) Users(ctx context.Context) ([]ctlapi.User, error) {
	st, ds, err := s.storeDeparts(ctx)
	if err != nil {
		return nil, err
	}
	us, err := st.ListUsers(ctx)
	if err != nil {
		return nil, storeErr("list users", err)
	}
	out := make([]ctlapi.User, 0, len(us))
	for _, u := range us {
		out = append(out, adminUser(u, ds))
	}
	return out, nil
}

// AddUser creates a user whose plain password is stored the way TeamTalk's
// admin stores it, so a client typing that password logs in.
func (s *Supervisor) AddUser(ctx context.Context, req ctlapi.UserAdd) (ctlapi.User, error) {
	st, ds, err := s.storeDeparts(ctx)
	if err != nil {
		return ctlapi.User{}, err
	}
	dep, err := ds.resolve(req.Depart)
	if err != nil {
		return ctlapi.User{}, err
	}
	if req.Sex > 2 {
		return ctlapi.User{}, ctlapi.Errorf(http.StatusBadRequest, "sex %d: want 0 (unknown), 1 (male) or 2 (female)", req.Sex)
	}
	nick := req.Nick
	if nick == "" {
		nick = req.Name
	}
	u, err := st.CreateUser(ctx, state.NewUser{
		Name: req.Name, Password: req.Password, Nick: nick, Sex: req.Sex, Phone: req.Phone,
		Email: req.Email, Avatar: req.Avatar, DepartID: dep,
	})
	if errors.Is(err, state.ErrExists) {
		return ctlapi.User{}, ctlapi.Errorf(http.StatusConflict, "user %q already exists (ttctl user passwd or user set change it)", req.Name)
	}
	if err != nil {
		return ctlapi.User{}, storeErr(fmt.Sprintf("add user %q", req.Name), err)
	}
	s.log.Info("user added", "user", u.Name, "id", u.ID)
	return adminUser(u, ds), nil
}

// userByName finds a user or answers 404.
func userByName(ctx context.Context, st state.Store, name string) (state.User, error) {
	u, err := st.UserByName(ctx, name)
	if errors.Is(err, state.ErrNotFound) {
		return u, ctlapi.NotFound("no user named %q", name)
	}
	return u, storeErr(fmt.Sprintf("user %q", name), err)
}

// SetPassword replaces the named user's password (plain).
func (s *Supervisor) SetPassword(ctx context.Context, name string, req ctlapi.PasswordSet) (ctlapi.User, error) {
	st, err := s.imStore()
	if err != nil {
		return ctlapi.User{}, err
	}
	if req.Password == "" {
		return ctlapi.User{}, ctlapi.Errorf(http.StatusBadRequest, "user %q: empty password", name)
	}
	u, err := userByName(ctx, st, name)
	if err != nil {
		return ctlapi.User{}, err
	}
	if err := st.SetPassword(ctx, u.ID, req.Password); err != nil {
		return ctlapi.User{}, storeErr(fmt.Sprintf("set password of %q", name), err)
	}
	if u, err = userByName(ctx, st, name); err != nil {
		return ctlapi.User{}, err
	}
	ds, err := s.departs(ctx, st)
	if err != nil {
		return ctlapi.User{}, err
	}
	s.log.Info("user password changed", "user", name, "id", u.ID)
	return adminUser(u, ds), nil
}

// SetUser changes the named user's fields that req sets.
func (s *Supervisor) SetUser(ctx context.Context, name string, req ctlapi.UserSet) (ctlapi.User, error) {
	st, err := s.imStore()
	if err != nil {
		return ctlapi.User{}, err
	}
	u, err := userByName(ctx, st, name)
	if err != nil {
		return ctlapi.User{}, err
	}
	ds, err := s.departs(ctx, st)
	if err != nil {
		return ctlapi.User{}, err
	}
	up := state.UserUpdate{
		Nick: req.Nick, Sex: req.Sex, Phone: req.Phone, Email: req.Email,
		Avatar: req.Avatar, Status: req.Status, SignInfo: req.SignInfo,
	}
	if req.Sex != nil && *req.Sex > 2 {
		return ctlapi.User{}, ctlapi.Errorf(http.StatusBadRequest, "sex %d: want 0 (unknown), 1 (male) or 2 (female)", *req.Sex)
	}
	if req.Status != nil && *req.Status > state.UserStatusLeft {
		return ctlapi.User{}, ctlapi.Errorf(http.StatusBadRequest, "status %d: want 0 (active) to %d (left)", *req.Status, state.UserStatusLeft)
	}
	if req.Depart != nil {
		dep, err := ds.resolve(*req.Depart)
		if err != nil {
			return ctlapi.User{}, err
		}
		up.DepartID = &dep
	}
	if up == (state.UserUpdate{}) {
		return ctlapi.User{}, ctlapi.Errorf(http.StatusBadRequest, "user %q: nothing to change", name)
	}
	u, err = st.UpdateUser(ctx, u.ID, up)
	if err != nil {
		return ctlapi.User{}, storeErr(fmt.Sprintf("update user %q", name), err)
	}
	s.log.Info("user updated", "user", name, "id", u.ID)
	return adminUser(u, ds), nil
}

// ImportUsers creates every row's user in one transaction. A bad row aborts
// all of them; the error names its line.
func (s *Supervisor) ImportUsers(ctx context.Context, req ctlapi.UserImport) (ctlapi.ImportResult, error) {
	st, err := s.imStore()
	if err != nil {
		return ctlapi.ImportResult{}, err
	}
	if len(req.Rows) == 0 {
		return ctlapi.ImportResult{}, ctlapi.Errorf(http.StatusBadRequest, "import: no users given")
	}
	ds, err := s.departs(ctx, st)
	if err != nil {
		return ctlapi.ImportResult{}, err
	}
	existing, err := st.ListUsers(ctx)
	if err != nil {
		return ctlapi.ImportResult{}, storeErr("list users", err)
	}
	taken := make(map[string]int, len(existing)+len(req.Rows)) // name → line (0: in the store)
	for _, u := range existing {
		taken[u.Name] = 0
	}
	bad := func(status int, r ctlapi.ImportRow, format string, args ...any) error {
		return ctlapi.Errorf(status, "import: line %d: %s; nothing was imported", r.Line, fmt.Sprintf(format, args...))
	}
	nus := make([]state.NewUser, 0, len(req.Rows))
	for _, r := range req.Rows {
		pw := r.Password
		if pw == "" {
			pw = req.Password
		}
		if pw == "" {
			return ctlapi.ImportResult{}, bad(http.StatusBadRequest, r, "user %q has no password (give -password or a password column)", r.Name)
		}
		dep, err := ds.resolve(r.Depart)
		if err != nil {
			var ce *ctlapi.Error
			errors.As(err, &ce)
			return ctlapi.ImportResult{}, bad(ce.Status, r, "%s", ce.Message)
		}
		nick := r.Nick
		if nick == "" {
			nick = r.Name
		}
		nu := state.NewUser{Name: r.Name, Password: pw, Nick: nick, DepartID: dep}
		if err := nu.Validate(); err != nil {
			return ctlapi.ImportResult{}, bad(http.StatusBadRequest, r, "%v", err)
		}
		if line, ok := taken[r.Name]; ok {
			if line == 0 {
				return ctlapi.ImportResult{}, bad(http.StatusConflict, r, "user %q already exists", r.Name)
			}
			return ctlapi.ImportResult{}, bad(http.StatusConflict, r, "user %q repeats line %d", r.Name, line)
		}
		taken[r.Name] = r.Line
		nus = append(nus, nu)
	}
	us, err := st.ImportUsers(ctx, nus)
	if err != nil {
		return ctlapi.ImportResult{}, storeErr(fmt.Sprintf("import %d users (nothing was imported)", len(nus)), err)
	}
	res := ctlapi.ImportResult{Added: len(us)}
	if len(us) > 0 {
		res.FirstID, res.LastID = us[0].ID, us[len(us)-1].ID
	}
	s.log.Info("users imported", "count", res.Added, "first_id", res.FirstID, "last_id", res.LastID)
	return res, nil
}

// Departs lists every department, ascending by id.
func (s *Supervisor) Departs(ctx context.Context) ([]ctlapi.Depart, error) {
	_, ds, err := s.storeDeparts(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ctlapi.Depart, 0, len(ds))
	for _, d := range ds {
		out = append(out, adminDepart(d, ds))
	}
	return out, nil
}

// AddDepart creates a department under an existing parent (or at the top).
func (s *Supervisor) AddDepart(ctx context.Context, req ctlapi.DepartAdd) (ctlapi.Depart, error) {
	st, ds, err := s.storeDeparts(ctx)
	if err != nil {
		return ctlapi.Depart{}, err
	}
	parent, err := ds.resolve(req.Parent)
	if err != nil {
		return ctlapi.Depart{}, err
	}
	for _, d := range ds {
		if d.Name == req.Name && d.ParentID == parent && d.Status == 0 {
			return ctlapi.Depart{}, ctlapi.Errorf(http.StatusConflict, "department %q already exists there (id %d)", req.Name, d.ID)
		}
	}
	d, err := st.CreateDepart(ctx, state.NewDepart{Name: req.Name, ParentID: parent, Priority: req.Priority})
	if err != nil {
		return ctlapi.Depart{}, storeErr(fmt.Sprintf("add department %q", req.Name), err)
	}
	s.log.Info("department added", "depart", d.Name, "id", d.ID)
	return adminDepart(d, append(ds, d)), nil
}
