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
	return send[ctlapi.User](ctx, c, http.MethodPost, ctlapi.PathUsers, req)
}

// SetUser changes a user's fields (PATCH /v1/users/NAME).
func (c *Client) SetUser(ctx context.Context, name string, req ctlapi.UserSet) (ctlapi.User, error) {
	return send[ctlapi.User](ctx, c, http.MethodPatch, ctlapi.UserPath(url.PathEscape(name)), req)
}

// SetPassword replaces a user's password (POST /v1/users/NAME/password).
func (c *Client) SetPassword(ctx context.Context, name, plain string) (ctlapi.User, error) {
	return send[ctlapi.User](ctx, c, http.MethodPost, ctlapi.UserPasswdPath(url.PathEscape(name)), ctlapi.PasswordSet{Password: plain})
}

// ImportUsers creates many users in one transaction (POST /v1/users/import).
func (c *Client) ImportUsers(ctx context.Context, req ctlapi.UserImport) (ctlapi.ImportResult, error) {
	return send[ctlapi.ImportResult](ctx, c, http.MethodPost, ctlapi.PathUserImport, req)
}

// Departs lists the departments (GET /v1/departs).
func (c *Client) Departs(ctx context.Context) ([]ctlapi.Depart, error) {
	return get[[]ctlapi.Depart](ctx, c, ctlapi.PathDeparts)
}

// AddDepart creates a department (POST /v1/departs).
func (c *Client) AddDepart(ctx context.Context, req ctlapi.DepartAdd) (ctlapi.Depart, error) {
	return send[ctlapi.Depart](ctx, c, http.MethodPost, ctlapi.PathDeparts, req)
}

// DBInit creates the missing tables of the IM store (POST /v1/db/init).
func (c *Client) DBInit(ctx context.Context) (ctlapi.DBInitResult, error) {
	return send[ctlapi.DBInitResult](ctx, c, http.MethodPost, ctlapi.PathDBInit, struct{}{})
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
	return send[ctlapi.GroupDetail](ctx, c, http.MethodPost, ctlapi.PathGroups, req)
}

// ChangeGroupMembers removes and adds members of a group given by name or
// numeric id (POST /v1/groups/REF/members).
func (c *Client) ChangeGroupMembers(ctx context.Context, ref string, req ctlapi.GroupMembersChange) (ctlapi.GroupChangeResult, error) {
	return send[ctlapi.GroupChangeResult](ctx, c, http.MethodPost, ctlapi.GroupMembersPath(url.PathEscape(ref)), req)
}

// send makes a request with a JSON body and decodes the reply into a T.
func send[T any](ctx context.Context, c *Client, method, path string, body any) (T, error) {
	var v T
	err := c.do(ctx, method, path, body, &v)
	return v, err
}
