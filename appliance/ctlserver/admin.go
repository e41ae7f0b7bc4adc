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
	mux.HandleFunc("GET "+ctlapi.PathUsers, s.answer(func(r *http.Request) (any, error) {
		return s.b.Users(r.Context())
	}))
	mux.HandleFunc("POST "+ctlapi.PathUsers, decoded(s, maxBody, func(r *http.Request, req ctlapi.UserAdd) (any, error) {
		return s.b.AddUser(r.Context(), req)
	}))
	mux.HandleFunc("POST "+ctlapi.PathUserImport, decoded(s, maxImportBody, func(r *http.Request, req ctlapi.UserImport) (any, error) {
		return s.b.ImportUsers(r.Context(), req)
	}))
	mux.HandleFunc("PATCH "+ctlapi.PathUser, decoded(s, maxBody, func(r *http.Request, req ctlapi.UserSet) (any, error) {
		return s.b.SetUser(r.Context(), r.PathValue("name"), req)
	}))
	mux.HandleFunc("POST "+ctlapi.PathUserPasswd, decoded(s, maxBody, func(r *http.Request, req ctlapi.PasswordSet) (any, error) {
		return s.b.SetPassword(r.Context(), r.PathValue("name"), req)
	}))
	mux.HandleFunc("GET "+ctlapi.PathDeparts, s.answer(func(r *http.Request) (any, error) {
		return s.b.Departs(r.Context())
	}))
	mux.HandleFunc("POST "+ctlapi.PathDeparts, decoded(s, maxBody, func(r *http.Request, req ctlapi.DepartAdd) (any, error) {
		return s.b.AddDepart(r.Context(), req)
	}))
	mux.HandleFunc("POST "+ctlapi.PathDBInit, decoded(s, maxBody, func(r *http.Request, _ struct{}) (any, error) {
		return s.b.DBInit(r.Context())
	}))
	s.adminGroups(mux)
}

// answer serves a request without a body with call's result.
func (s *Server) answer(call func(r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := call(r)
		s.reply(w, v, err)
	}
}

// decoded serves a request whose JSON body (see body) decodes into a T with
// call's result.
func decoded[T any](s *Server, limit int64, call func(r *http.Request, req T) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req T
		if !s.body(w, r, &req, limit) {
			return
		}
		v, err := call(r, req)
		s.reply(w, v, err)
	}
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
