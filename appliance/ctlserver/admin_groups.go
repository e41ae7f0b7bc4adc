package ctlserver

import (
	"net/http"

	"teamtalk/appliance/ctlapi"
)

// maxGroupBody admits a group of 10,000 members (the largest
// dbproxy.max_group_members) named by 32-byte login names.
const maxGroupBody = 1 << 20

// adminGroups registers the group endpoints (ctlapi.PathGroups and below).
func (s *Server) adminGroups(mux *http.ServeMux) {
	mux.HandleFunc("GET "+ctlapi.PathGroups, s.answer(func(r *http.Request) (any, error) {
		return s.b.Groups(r.Context())
	}))
	mux.HandleFunc("POST "+ctlapi.PathGroups, decoded(s, maxGroupBody, func(r *http.Request, req ctlapi.GroupAdd) (any, error) {
		return s.b.AddGroup(r.Context(), req)
	}))
	mux.HandleFunc("GET "+ctlapi.PathGroup, s.answer(func(r *http.Request) (any, error) {
		return s.b.Group(r.Context(), r.PathValue("group"))
	}))
	mux.HandleFunc("POST "+ctlapi.PathGroupMembers, decoded(s, maxGroupBody, func(r *http.Request, req ctlapi.GroupMembersChange) (any, error) {
		return s.b.ChangeGroupMembers(r.Context(), r.PathValue("group"), req)
	}))
}
