package boltstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"teamtalk/state"
)

// groupRecord is the stored form of a group (members live in group_members).
type groupRecord struct {
	ID         uint32 `json:"id"`
	Name       string `json:"name"`
	Avatar     string `json:"avatar"`
	Creator    uint32 `json:"creator"`
	Type       uint8  `json:"type"`
	Status     uint32 `json:"status"`
	Version    uint32 `json:"version"`
	LastChated uint32 `json:"last_chated"`
	Created    uint32 `json:"created"`
	Updated    uint32 `json:"updated"`
	LastMsgID  uint32 `json:"last_msg_id"`
}

// memberValue is u32 joined | u8 shield.
func memberValue(joined uint32, shield bool) []byte {
	v := putU32(joined)
	if shield {
		return append(v, 1)
	}
	return append(v, 0)
}

// group returns the group without members.
func (r *rtx) group(gid uint32) (state.Group, error) {
	var rec groupRecord
	ok, err := r.getJSON(bGroups, key(gid), &rec)
	if err != nil {
		return state.Group{}, err
	}
	if !ok {
		return state.Group{}, fmt.Errorf("group %d: %w", gid, state.ErrNotFound)
	}
	return state.Group{
		ID: rec.ID, Name: rec.Name, Avatar: rec.Avatar, Creator: rec.Creator, Type: state.GroupType(rec.Type),
		Status: rec.Status, Version: rec.Version, LastChated: rec.LastChated, Created: rec.Created,
		Updated: rec.Updated, LatestMsgID: rec.LastMsgID,
	}, nil
}

// groupWithMembers returns the group and its members, ascending by id.
func (r *rtx) groupWithMembers(gid uint32) (state.Group, error) {
	g, err := r.group(gid)
	if err != nil {
		return g, err
	}
	g.Members = []state.Member{}
	err = r.prefix(bGroupMembers, key(gid), func(k, v []byte) (bool, error) {
		g.Members = append(g.Members, state.Member{UserID: u32(k[4:]), Joined: u32(v), Shield: len(v) > 4 && v[4] == 1})
		return true, nil
	})
	return g, err
}

func (w *wtx) putGroup(g state.Group) error {
	return w.putJSON(bGroups, key(g.ID), groupRecord{
		ID: g.ID, Name: g.Name, Avatar: g.Avatar, Creator: g.Creator, Type: uint8(g.Type), Status: g.Status,
		Version: g.Version, LastChated: g.LastChated, Created: g.Created, Updated: g.Updated, LastMsgID: g.LatestMsgID,
	})
}

// CreateGroup implements state.Store.
func (s *Store) CreateGroup(ctx context.Context, ng state.NewGroup) (state.Group, error) {
	if err := ng.Validate(); err != nil {
		return state.Group{}, fmt.Errorf("boltstore: create group: %w", err)
	}
	members := state.DistinctIDs(ng.Members)
	if len(members) == 0 {
		return state.Group{}, fmt.Errorf("boltstore: create group: %w: no valid member ids", state.ErrInvalid)
	}
	now := s.now()
	g := state.Group{Name: ng.Name, Avatar: ng.Avatar, Creator: ng.Creator, Type: ng.Type, Version: 1, Created: now, Updated: now}
	err := s.update(ctx, func(w *wtx) error {
		id, err := w.nextID(bGroups)
		if err != nil {
			return err
		}
		g.ID = id
		if err := w.putGroup(g); err != nil {
			return err
		}
		for _, u := range members {
			if err := w.put(bGroupMembers, key(id, u), memberValue(now, false)); err != nil {
				return err
			}
			if err := w.put(bUserGroups, key(u, id), putU32(0)); err != nil {
				return err
			}
			g.Members = append(g.Members, state.Member{UserID: u, Joined: now})
		}
		return nil
	})
	if err != nil {
		return state.Group{}, fmt.Errorf("boltstore: create group: %w", err)
	}
	return g, nil
}

// Group implements state.Store.
func (s *Store) Group(ctx context.Context, gid uint32) (state.Group, error) {
	var g state.Group
	err := s.view(ctx, func(r *rtx) (err error) {
		g, err = r.groupWithMembers(gid)
		return err
	})
	if err != nil {
		return state.Group{}, fmt.Errorf("boltstore: group: %w", err)
	}
	return g, nil
}

// ListGroups implements state.Store: one pass over groups and one over
// group_members, both in key order (group id, then user id).
func (s *Store) ListGroups(ctx context.Context) ([]state.Group, error) {
	var out []state.Group
	err := s.view(ctx, func(r *rtx) error {
		if err := r.prefix(bGroups, nil, func(k, _ []byte) (bool, error) {
			g, err := r.group(u32(k))
			if err != nil {
				return false, err
			}
			g.Members = []state.Member{}
			out = append(out, g)
			return true, nil
		}); err != nil {
			return err
		}
		i := 0
		return r.prefix(bGroupMembers, nil, func(k, v []byte) (bool, error) {
			gid := u32(k)
			for i < len(out) && out[i].ID < gid {
				i++
			}
			if i < len(out) && out[i].ID == gid {
				out[i].Members = append(out[i].Members, state.Member{UserID: u32(k[4:]), Joined: u32(v), Shield: len(v) > 4 && v[4] == 1})
			}
			return true, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: list groups: %w", err)
	}
	return out, nil
}

// UserGroups implements state.Store.
func (s *Store) UserGroups(ctx context.Context, userID uint32) ([]state.Group, error) {
	var out []state.Group
	err := s.view(ctx, func(r *rtx) error {
		return r.prefix(bUserGroups, key(userID), func(k, _ []byte) (bool, error) {
			g, err := r.group(u32(k[4:]))
			if err != nil {
				return false, err
			}
			out = append(out, g)
			return true, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: groups of %d: %w", userID, err)
	}
	slices.SortStableFunc(out, func(a, b state.Group) int {
		return cmp.Or(cmp.Compare(b.Updated, a.Updated), cmp.Compare(b.ID, a.ID))
	})
	return out, nil
}

// ChangeMembers implements state.Store.
func (s *Store) ChangeMembers(ctx context.Context, gid uint32, op state.ModifyType, userIDs []uint32) (state.Group, []uint32, error) {
	if op != state.ModifyAdd && op != state.ModifyDel {
		return state.Group{}, nil, fmt.Errorf("boltstore: change members: %w: change type %d", state.ErrInvalid, op)
	}
	ids := state.DistinctIDs(userIDs)
	now := s.now()
	var (
		out     state.Group
		changed []uint32
	)
	err := s.update(ctx, func(w *wtx) error {
		g, err := w.group(gid)
		if err != nil {
			return err
		}
		changed = changed[:0]
		for _, u := range ids {
			in := w.get(bGroupMembers, key(gid, u)) != nil
			if in != (op == state.ModifyAdd) {
				changed = append(changed, u)
			}
		}
		if len(changed) > 0 {
			for _, u := range changed {
				if err := w.changeMember(g, op, u, now); err != nil {
					return err
				}
			}
			g.Version++
			g.Updated = max(g.Updated, now)
			if err := w.putGroup(g); err != nil {
				return err
			}
		}
		out, err = w.groupWithMembers(gid)
		return err
	})
	if err != nil {
		return state.Group{}, nil, fmt.Errorf("boltstore: change members of %d: %w", gid, err)
	}
	return out, slices.Clone(changed), nil
}

// changeMember adds or removes one member. A new member has read everything
// so far; a removed member's session of the group is hidden.
func (w *wtx) changeMember(g state.Group, op state.ModifyType, u, now uint32) error {
	if op == state.ModifyAdd {
		if err := w.put(bGroupMembers, key(g.ID, u), memberValue(now, false)); err != nil {
			return err
		}
		return w.put(bUserGroups, key(u, g.ID), putU32(g.LatestMsgID))
	}
	if err := w.del(bGroupMembers, key(g.ID, u)); err != nil {
		return err
	}
	if err := w.del(bUserGroups, key(u, g.ID)); err != nil {
		return err
	}
	sk := sessionKey(u, state.SessionGroup, g.ID)
	if v := w.get(bSessions, sk); v != nil {
		rec := decodeSession(v)
		rec.status, rec.updated = 1, max(rec.updated, now)
		return w.put(bSessions, sk, rec.encode())
	}
	return nil
}

// SetGroupShield implements state.Store.
func (s *Store) SetGroupShield(ctx context.Context, gid, userID uint32, on bool) error {
	err := s.update(ctx, func(w *wtx) error {
		joined, err := w.joined(gid, userID)
		if err != nil {
			return err
		}
		return w.put(bGroupMembers, key(gid, userID), memberValue(joined, on))
	})
	if err != nil {
		return fmt.Errorf("boltstore: group shield of %d in %d: %w", userID, gid, err)
	}
	return nil
}
