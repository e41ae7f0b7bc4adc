package ctlserver

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"teamtalk/appliance/ctlapi"
)

// admin registers the user, department and group endpoints. Request bodies carry
// plain passwords: they are decoded, handed to the backend and never logged.
func (s *Server) admin(mux *http.ServeMux) {
	mux.HandleFunc("GET "+ctlapi.PathUsers, func(w http.ResponseWriter, r *http.Request) {
		v, err := s.b.Users(r.Context())
		s.reply(w, v, err)
	})
	mux.HandleFunc("POST "+ctlapi.PathUsers, func(w http.ResponseWriter, r *http.Request) {
		var req ctlapi.UserAdd
		if !s.body(w, r, &req, maxBody) {
			return
		}
		v, err := s.b.AddUser(r.Context(), req)
		s.reply(w, v, err)
	})
	mux.HandleFunc("POST "+ctlapi.PathUserImport, func(w http.ResponseWriter, r *http.Request) {
		var req ctlapi.UserImport
		if !s.body(w, r, &req, maxImportBody) {
			return
		}
		v, err := s.b.ImportUsers(r.Context(), req)
		s.reply(w, v, err)
	})
	mux.HandleFunc("PATCH "+ctlapi.PathUser, func(w http.ResponseWriter, r *http.Request) {
		var req ctlapi.UserSet
		if !s.body(w, r, &req, maxBody) {
			return
		}
		v, err := s.b.SetUser(r.Context(), r.PathValue("name"), req)
		s.reply(w, v, err)
	})
	mux.HandleFunc("POST "+ctlapi.PathUserPasswd, func(w http.ResponseWriter, r *http.Request) {
		var req ctlapi.PasswordSet
		if !s.body(w, r, &req, maxBody) {
			return
		}
		v, err := s.b.SetPassword(r.Context(), r.PathValue("name"), req)
		s.reply(w, v, err)
	})
	mux.HandleFunc("GET "+ctlapi.PathDeparts, func(w http.ResponseWriter, r *http.Request) {
		v, err := s.b.Departs(r.Context())
		s.reply(w, v, err)
	})
	mux.HandleFunc("POST "+ctlapi.PathDeparts, func(w http.ResponseWriter, r *http.Request) {
		var req ctlapi.DepartAdd
		if !s.body(w, r, &req, maxBody) {
			return
		}
		v, err := s.b.AddDepart(r.Context(), req)
		s.reply(w, v, err)
	})
	mux.HandleFunc("POST "+ctlapi.PathDBInit, func(w http.ResponseWriter, r *http.Request) {
		var req struct{}
		if !s.body(w, r, &req, maxBody) {
			return
		}
		v, err := s.b.DBInit(r.Context())
		s.reply(w, v, err)
	})
	s.adminGroups(mux)
}

// body decodes one JSON object of at most limit bytes into v (unknown fields
// refused), or answers 400 / 413 and reports false. The error names the
// problem, never the body's content.
func (s *Server) body(w http.ResponseWriter, r *http.Request, v any, limit int64) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.fail(w, ctlapi.Errorf(http.StatusRequestEntityTooLarge, "%s %s: request body over %d bytes", r.Method, r.URL.Path, limit))
			return false
		}
		s.fail(w, ctlapi.Errorf(http.StatusBadRequest, "%s %s: bad request body: %v", r.Method, r.URL.Path, err))
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		s.fail(w, ctlapi.Errorf(http.StatusBadRequest, "%s %s: bad request body: data after the JSON object", r.Method, r.URL.Path))
		return false
	}
	return true
}
