package ctlclient

import (
	"context"
	"net/http"
	"net/url"

	"teamtalk/appliance/ctlapi"
)

// Users lists the users of the IM store (GET /v1/users).
func (c *Client) Users(ctx context.Context) ([]ctlapi.User, error) {
	return get[[]ctlapi.User](ctx, c, ctlapi.PathUsers)
}

// AddUser creates a user (POST /v1/users).
func (c *Client) AddUser(ctx context.Context, req ctlapi.UserAdd) (ctlapi.User, error) {
	var u ctlapi.User
	err := c.do(ctx, http.MethodPost, ctlapi.PathUsers, req, &u)
	return u, err
}

// SetUser changes a user's fields (PATCH /v1/users/NAME).
func (c *Client) SetUser(ctx context.Context, name string, req ctlapi.UserSet) (ctlapi.User, error) {
	var u ctlapi.User
	err := c.do(ctx, http.MethodPatch, ctlapi.UserPath(url.PathEscape(name)), req, &u)
	return u, err
}

// SetPassword replaces a user's password (POST /v1/users/NAME/password).
func (c *Client) SetPassword(ctx context.Context, name, plain string) (ctlapi.User, error) {
	var u ctlapi.User
	err := c.do(ctx, http.MethodPost, ctlapi.UserPasswdPath(url.PathEscape(name)), ctlapi.PasswordSet{Password: plain}, &u)
	return u, err
}

// ImportUsers creates many users in one transaction (POST /v1/users/import).
func (c *Client) ImportUsers(ctx context.Context, req ctlapi.UserImport) (ctlapi.ImportResult, error) {
	var r ctlapi.ImportResult
	err := c.do(ctx, http.MethodPost, ctlapi.PathUserImport, req, &r)
	return r, err
}

// Departs lists the departments (GET /v1/departs).
func (c *Client) Departs(ctx context.Context) ([]ctlapi.Depart, error) {
	return get[[]ctlapi.Depart](ctx, c, ctlapi.PathDeparts)
}

// AddDepart creates a department (POST /v1/departs).
func (c *Client) AddDepart(ctx context.Context, req ctlapi.DepartAdd) (ctlapi.Depart, error) {
	var d ctlapi.Depart
	err := c.do(ctx, http.MethodPost, ctlapi.PathDeparts, req, &d)
	return d, err
}

// DBInit creates the missing tables of the IM store (POST /v1/db/init).
func (c *Client) DBInit(ctx context.Context) (ctlapi.DBInitResult, error) {
	var r ctlapi.DBInitResult
	err := c.do(ctx, http.MethodPost, ctlapi.PathDBInit, struct{}{}, &r)
	return r, err
}

// Groups lists the groups (GET /v1/groups).
func (c *Client) Groups(ctx context.Context) ([]ctlapi.Group, error) {
	return get[[]ctlapi.Group](ctx, c, ctlapi.PathGroups)
}

// Group returns a group, by name or numeric id, with its members
// (GET /v1/groups/REF).
func (c *Client) Group(ctx context.Context, ref string) (ctlapi.GroupDetail, error) {
	return get[ctlapi.GroupDetail](ctx, c, ctlapi.GroupPath(url.PathEscape(ref)))
}

// AddGroup creates a group (POST /v1/groups).
func (c *Client) AddGroup(ctx context.Context, req ctlapi.GroupAdd) (ctlapi.GroupDetail, error) {
	var g ctlapi.GroupDetail
	err := c.do(ctx, http.MethodPost, ctlapi.PathGroups, req, &g)
	return g, err
}

// ChangeGroupMembers removes and adds members of a group given by name or
// numeric id (POST /v1/groups/REF/members).
func (c *Client) ChangeGroupMembers(ctx context.Context, ref string, req ctlapi.GroupMembersChange) (ctlapi.GroupChangeResult, error) {
	var r ctlapi.GroupChangeResult
	err := c.do(ctx, http.MethodPost, ctlapi.GroupMembersPath(url.PathEscape(ref)), req, &r)
	return r, err
}
