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
	mux.HandleFunc("GET "+ctlapi.PathGroups, func(w http.ResponseWriter, r *http.Request) {
		v, err := s.b.Groups(r.Context())
		s.reply(w, v, err)
	})
	mux.HandleFunc("POST "+ctlapi.PathGroups, func(w http.ResponseWriter, r *http.Request) {
		var req ctlapi.GroupAdd
		if !s.body(w, r, &req, maxGroupBody) {
			return
		}
		v, err := s.b.AddGroup(r.Context(), req)
		s.reply(w, v, err)
	})
	mux.HandleFunc("GET "+ctlapi.PathGroup, func(w http.ResponseWriter, r *http.Request) {
		v, err := s.b.Group(r.Context(), r.PathValue("group"))
		s.reply(w, v, err)
	})
	mux.HandleFunc("POST "+ctlapi.PathGroupMembers, func(w http.ResponseWriter, r *http.Request) {
		var req ctlapi.GroupMembersChange
		if !s.body(w, r, &req, maxGroupBody) {
			return
		}
		v, err := s.b.ChangeGroupMembers(r.Context(), r.PathValue("group"), req)
		s.reply(w, v, err)
	})
}
