package appliance

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"teamtalk/appliance/ctlapi"
	"teamtalk/state"
)

// The group endpoints of the control API. They apply the checks dbproxy
// applies to a client's create or change (every member an existing user,
// at least one member, at most dbproxy.max_group_members) and answer each
// refusal with its own status: 400 for a bad request, 404 for unknown users
// or groups, 409 when the group's state forbids the change.
//
// A membership change made here bumps the group's version, so every client
// fetches the group again at its next group sync (login). Online members
// are told at once when a msg service runs in this teamtalkd: it delivers
// IMGroupChangeMemberNotify to its own members and sends it to route, which
// relays it to the other msg servers holding members, exactly as for
// httpmsg's ChangeMembers (see groupNotifier).

// groupNotifier is implemented by msg: tell the online members of a group
// (cur, the members after the change, and changed, the users added or
// removed) about a membership change, on this msg server and through route
// on the others. It returns the connections reached here and whether route
// took the notify.
type groupNotifier interface {
	NotifyGroupChange(groupID uint32, add bool, cur, changed []uint32) (reached int, routed bool)
}

// userTable resolves users given by login name or numeric id.
type userTable struct {
	byName map[string]state.User
	byID   map[uint32]state.User
}

func (s *Supervisor) userTable(ctx context.Context, st state.Store) (userTable, error) {
	us, err := st.ListUsers(ctx)
	if err != nil {
		return userTable{}, storeErr("list users", err)
	}
	t := userTable{byName: make(map[string]state.User, len(us)), byID: make(map[uint32]state.User, len(us))}
	for _, u := range us {
		t.byName[u.Name] = u
		t.byID[u.ID] = u
	}
	return t, nil
}

// lookup finds one user: by login name first, then by numeric id.
func (t userTable) lookup(ref string) (state.User, bool) {
	ref = strings.TrimSpace(ref)
	if u, ok := t.byName[ref]; ok {
		return u, true
	}
	if n, err := strconv.ParseUint(ref, 10, 32); err == nil {
		u, ok := t.byID[uint32(n)]
		return u, ok
	}
	return state.User{}, false
}

// resolve turns refs into distinct user ids in the order given; every
// unknown reference is named in one 404. what names the list ("members").
func (t userTable) resolve(what string, refs []string) ([]uint32, error) {
	var ids []uint32
	var missing []string
	seen := map[uint32]bool{}
	for _, ref := range refs {
		if strings.TrimSpace(ref) == "" {
			continue
		}
		u, ok := t.lookup(ref)
		if !ok {
			missing = append(missing, strconv.Quote(ref))
			continue
		}
		if !seen[u.ID] {
			seen[u.ID] = true
			ids = append(ids, u.ID)
		}
	}
	if len(missing) > 0 {
		return nil, ctlapi.NotFound("%s: no such users: %s", what, strings.Join(missing, ", "))
	}
	return ids, nil
}

// errMessage is a *ctlapi.Error's message, or the error's text.
func errMessage(err error) string {
	var ce *ctlapi.Error
	if errors.As(err, &ce) {
		return ce.Message
	}
	return err.Error()
}

func (t userTable) name(id uint32) string { return t.byID[id].Name }

// refs names ids (never nil, so JSON shows []).
func (t userTable) refs(ids []uint32) []ctlapi.UserRef {
	out := make([]ctlapi.UserRef, 0, len(ids))
	for _, id := range ids {
		out = append(out, ctlapi.UserRef{ID: id, Name: t.name(id)})
	}
	return out
}

func groupTypeName(t state.GroupType) string {
	switch t {
	case state.GroupNormal:
		return ctlapi.GroupNormal
	case state.GroupTemp:
		return ctlapi.GroupTemp
	}
	return fmt.Sprintf("type %d", t)
}

func parseGroupType(s string) (state.GroupType, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", ctlapi.GroupNormal, "1":
		return state.GroupNormal, nil
	case ctlapi.GroupTemp, "temporary", "2":
		return state.GroupTemp, nil
	}
	return 0, ctlapi.Errorf(http.StatusBadRequest, "group type %q: want %s or %s", s, ctlapi.GroupNormal, ctlapi.GroupTemp)
}

func adminGroup(g state.Group, ut userTable) ctlapi.Group {
	return ctlapi.Group{
		ID: g.ID, Name: g.Name, Type: groupTypeName(g.Type), Avatar: g.Avatar, CreatorID: g.Creator,
		Creator: ut.name(g.Creator), Members: len(g.Members), Version: g.Version, Status: g.Status,
		LatestMsgID: g.LatestMsgID, Created: unixTime(g.Created), Updated: unixTime(g.Updated),
	}
}

func adminGroupDetail(g state.Group, ut userTable) ctlapi.GroupDetail {
	d := ctlapi.GroupDetail{Group: adminGroup(g, ut), MemberList: make([]ctlapi.GroupMember, 0, len(g.Members))}
	for _, m := range g.Members {
		u := ut.byID[m.UserID]
		d.MemberList = append(d.MemberList, ctlapi.GroupMember{ID: m.UserID, Name: u.Name, Nick: u.Nick, Joined: unixTime(m.Joined), Shield: m.Shield})
	}
	return d
}

// maxGroupMembers is dbproxy.max_group_members.
func (s *Supervisor) maxGroupMembers() int { return s.config().DBProxy.MaxGroupMembers }

// groupByRef finds a group by numeric id, or by the name of exactly one
// active group.
func (s *Supervisor) groupByRef(ctx context.Context, st state.Store, ref string) (state.Group, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return state.Group{}, ctlapi.Errorf(http.StatusBadRequest, "give a group by name or numeric id")
	}
	if n, err := strconv.ParseUint(ref, 10, 32); err == nil {
		g, err := st.Group(ctx, uint32(n))
		if err == nil {
			return g, nil
		}
		if !errors.Is(err, state.ErrNotFound) {
			return g, storeErr(fmt.Sprintf("group %d", n), err)
		}
	}
	gs, err := st.ListGroups(ctx)
	if err != nil {
		return state.Group{}, storeErr("list groups", err)
	}
	var found []state.Group
	for _, g := range gs {
		if g.Name == ref && g.Status == 0 {
			found = append(found, g)
		}
	}
	switch len(found) {
	case 0:
		return state.Group{}, ctlapi.NotFound("no group named or numbered %q (ttctl group list shows them)", ref)
	case 1:
		return found[0], nil
	}
	ids := make([]string, len(found))
	for i, g := range found {
		ids[i] = strconv.FormatUint(uint64(g.ID), 10)
	}
	return state.Group{}, ctlapi.Errorf(http.StatusConflict, "%d groups are named %q (ids %s): give the id", len(found), ref, strings.Join(ids, ", "))
}

// Groups lists every group of the IM store, ascending by id.
func (s *Supervisor) Groups(ctx context.Context) ([]ctlapi.Group, error) {
	st, err := s.imStore()
	if err != nil {
		return nil, err
	}
	ut, err := s.userTable(ctx, st)
	if err != nil {
		return nil, err
	}
	gs, err := st.ListGroups(ctx)
	if err != nil {
		return nil, storeErr("list groups", err)
	}
	out := make([]ctlapi.Group, 0, len(gs))
	for _, g := range gs {
		out = append(out, adminGroup(g, ut))
	}
	return out, nil
}

// Group returns one group, by name or id, with its members.
func (s *Supervisor) Group(ctx context.Context, ref string) (ctlapi.GroupDetail, error) {
	st, err := s.imStore()
	if err != nil {
		return ctlapi.GroupDetail{}, err
	}
	g, err := s.groupByRef(ctx, st, ref)
	if err != nil {
		return ctlapi.GroupDetail{}, err
	}
	ut, err := s.userTable(ctx, st)
	if err != nil {
		return ctlapi.GroupDetail{}, err
	}
	return adminGroupDetail(g, ut), nil
}

// AddGroup creates a group with the checks dbproxy applies to a client's
// create. A group with the same name and type that is active already is
// refused (409), so names keep naming one group for ttctl.
func (s *Supervisor) AddGroup(ctx context.Context, req ctlapi.GroupAdd) (ctlapi.GroupDetail, error) {
	st, err := s.imStore()
	if err != nil {
		return ctlapi.GroupDetail{}, err
	}
	typ, err := parseGroupType(req.Type)
	if err != nil {
		return ctlapi.GroupDetail{}, err
	}
	ng := state.NewGroup{Name: req.Name, Avatar: req.Avatar, Type: typ, Members: []uint32{0}}
	if err := ng.Validate(); err != nil {
		return ctlapi.GroupDetail{}, storeErr(fmt.Sprintf("add group %q", req.Name), err)
	}
	if _, err := strconv.ParseUint(req.Name, 10, 32); err == nil {
		return ctlapi.GroupDetail{}, ctlapi.Errorf(http.StatusBadRequest, "group name %q: a number would read as a group id; give a name with a letter", req.Name)
	}
	ut, err := s.userTable(ctx, st)
	if err != nil {
		return ctlapi.GroupDetail{}, err
	}
	if req.Creator != "" {
		u, ok := ut.lookup(req.Creator)
		if !ok {
			return ctlapi.GroupDetail{}, ctlapi.NotFound("creator: no user named or numbered %q", req.Creator)
		}
		ng.Creator = u.ID
	}
	members, err := ut.resolve("members", req.Members)
	if err != nil {
		return ctlapi.GroupDetail{}, err
	}
	if len(members) == 0 {
		return ctlapi.GroupDetail{}, ctlapi.Errorf(http.StatusBadRequest, "group %q: give at least one member", req.Name)
	}
	if limit := s.maxGroupMembers(); limit > 0 && len(members) > limit {
		return ctlapi.GroupDetail{}, ctlapi.Errorf(http.StatusBadRequest, "group %q: %d members, over dbproxy.max_group_members (%d)", req.Name, len(members), limit)
	}
	gs, err := st.ListGroups(ctx)
	if err != nil {
		return ctlapi.GroupDetail{}, storeErr("list groups", err)
	}
	for _, g := range gs {
		if g.Name == req.Name && g.Type == typ && g.Status == 0 {
			return ctlapi.GroupDetail{}, ctlapi.Errorf(http.StatusConflict, "a %s group named %q exists already (id %d)", groupTypeName(typ), req.Name, g.ID)
		}
	}
	ng.Members = members
	g, err := st.CreateGroup(ctx, ng)
	if err != nil {
		return ctlapi.GroupDetail{}, storeErr(fmt.Sprintf("add group %q", req.Name), err)
	}
	s.log.Info("group added", "group", g.Name, "id", g.ID, "type", groupTypeName(g.Type), "members", len(g.Members))
	return adminGroupDetail(g, ut), nil
}

// ChangeGroupMembers removes, then adds members of a group given by name or
// id, with dbproxy's checks on the result (existing users, at least one
// member left, at most dbproxy.max_group_members). Everything is checked
// before anything is stored. Online members are notified (see
// groupNotifier); the result says whether they were.
func (s *Supervisor) ChangeGroupMembers(ctx context.Context, ref string, req ctlapi.GroupMembersChange) (ctlapi.GroupChangeResult, error) {
	var res ctlapi.GroupChangeResult
	st, err := s.imStore()
	if err != nil {
		return res, err
	}
	g, err := s.groupByRef(ctx, st, ref)
	if err != nil {
		return res, err
	}
	if g.Status != 0 {
		return res, ctlapi.Errorf(http.StatusConflict, "group %q (id %d) is deleted (status %d): its members cannot change", g.Name, g.ID, g.Status)
	}
	ut, err := s.userTable(ctx, st)
	if err != nil {
		return res, err
	}
	add, errAdd := ut.resolve("add", req.Add)
	remove, errRemove := ut.resolve("remove", req.Remove)
	if errAdd != nil && errRemove != nil {
		return res, ctlapi.NotFound("%s; %s", errMessage(errAdd), errMessage(errRemove))
	} else if err := cmp.Or(errAdd, errRemove); err != nil {
		return res, err
	}
	if len(add) == 0 && len(remove) == 0 {
		return res, ctlapi.Errorf(http.StatusBadRequest, "group %q: nothing to change: give members to add or remove", g.Name)
	}
	removing := make(map[uint32]bool, len(remove))
	for _, id := range remove {
		removing[id] = true
	}
	for _, id := range add {
		if removing[id] {
			return res, ctlapi.Errorf(http.StatusBadRequest, "user %q is both added and removed", ut.name(id))
		}
	}
	after := make(map[uint32]bool, len(g.Members)+len(add))
	for _, id := range g.MemberIDs() {
		after[id] = true
	}
	// add and remove hold distinct ids and share none (checked above).
	var toAdd, toRemove, notAdded, notRemoved []uint32
	for _, id := range remove {
		if after[id] {
			delete(after, id)
			toRemove = append(toRemove, id)
		} else {
			notRemoved = append(notRemoved, id)
		}
	}
	for _, id := range add {
		if !after[id] {
			after[id] = true
			toAdd = append(toAdd, id)
		} else {
			notAdded = append(notAdded, id)
		}
	}
	if len(after) == 0 {
		return res, ctlapi.Errorf(http.StatusConflict, "group %q (id %d): the change would leave no member; a group keeps at least one", g.Name, g.ID)
	}
	if limit := s.maxGroupMembers(); limit > 0 && len(toAdd) > 0 && len(after) > limit {
		return res, ctlapi.Errorf(http.StatusConflict, "group %q (id %d): %d members after the change, over dbproxy.max_group_members (%d)", g.Name, g.ID, len(after), limit)
	}
	var added, removed []uint32
	notified := true
	for _, step := range []struct {
		op  state.ModifyType
		ids []uint32
		out *[]uint32
	}{{state.ModifyDel, toRemove, &removed}, {state.ModifyAdd, toAdd, &added}} {
		if len(step.ids) == 0 {
			continue
		}
		ng, changed, err := st.ChangeMembers(ctx, g.ID, step.op, step.ids)
		if err != nil {
			return res, storeErr(fmt.Sprintf("change members of group %q (id %d)", g.Name, g.ID), err)
		}
		g = ng
		*step.out = changed
		if len(changed) > 0 {
			notified = s.notifyGroupChange(g.ID, step.op == state.ModifyAdd, g.MemberIDs(), changed) && notified
		}
	}
	res.Group = adminGroupDetail(g, ut)
	res.Added, res.Removed, res.AlreadyIn, res.NotMembers = ut.refs(added), ut.refs(removed), ut.refs(notAdded), ut.refs(notRemoved)
	res.Notified = notified && (len(added) > 0 || len(removed) > 0)
	s.log.Info("group members changed", "group", g.Name, "id", g.ID, "added", len(res.Added), "removed", len(res.Removed),
		"members", len(g.Members), "version", g.Version, "notified", res.Notified)
	return res, nil
}

// notifyGroupChange tells online members through the msg services running
// here: the first one that reaches route is enough (route relays to the
// other msg servers that hold members); without route each local msg
// service tells its own. It reports whether the notify went out.
func (s *Supervisor) notifyGroupChange(gid uint32, add bool, cur, changed []uint32) bool {
	ns := runningAs[groupNotifier](s)
	for _, n := range ns {
		if _, routed := n.NotifyGroupChange(gid, add, cur, changed); routed {
			return true
		}
	}
	if len(ns) == 0 {
		s.log.Info("group change not notified: no msg service runs here; members see it at their next group sync", "group", gid)
		return false
	}
	return true
}
