// Package msfs is the reference's msfs: image and audio storage over HTTP
// ([msfs].listen, PROTOCOL.md §4.14). Clients upload with a multipart POST
// to any path and get the reference's JSON answer (error codes 1–11, the
// "path" and the "url" built from their Host header); they download with
// GET /<group>/<NNN>/<MMM>/<name>. Files live under [msfs].dir (default
// <data_dir>/msfs) in the reference's layout.
//
// Fixes over the reference (§10.2): a file above max_file_size is refused
// with error_code 1 instead of "success" with an empty path; every request
// gets an answer (no silent drops, no NUL in place of a reply's last byte);
// stored names are not truncated and carry 64 random bits, so they cannot
// be guessed; the file count lives in BaseDir/filecnt, rewritten at every
// upload, not in a rewritten config file; the 65,536 leaf directories are
// created when first used, not all at start.
//
// Other differences, all deliberate: a path that tries to leave the storage
// root (a "..", also percent-encoded, an empty segment as in "//etc/passwd",
// a backslash or a NUL) is answered 400 instead of a silent close; a
// download path that cannot name a stored file is 404 (the reference said
// 500 for a path without '/'); query strings are ignored; HEAD works like
// GET. Downloads go through http.ServeContent: Range, If-Modified-Since,
// If-None-Match (the ETag is the file's immutable name) and a long
// Cache-Control. The Content-Type comes from the content
// (http.DetectContentType); when that is an image and the extension is one
// of the reference's (jpg, jpeg, png, gif in either case) it is the
// reference's image/<ext>; content sniffed as text or HTML is served as
// application/octet-stream with nosniff, so an upload cannot become a page.
//
// Uploads are read whole into memory, as the reference does (its error
// codes depend on searching the whole body); at most maxUploads bodies are
// held at once, and a connection silent for idle_timeout is closed.
package msfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"teamtalk/appliance/config"
	"teamtalk/appliance/ctlapi"
	"teamtalk/daemons"
	"teamtalk/daemons/internal/ratelog"
	"teamtalk/daemons/internal/tlsfront"
	"teamtalk/internal/httpguard"
)

// maxUploads bounds the upload bodies held in memory at once.
const maxUploads = 8

// group is the reference's only "group", the first segment of every path.
const group = "g0"

// Service is a running msfs. Create it with New.
type Service struct {
	d   daemons.Deps
	log *slog.Logger
	cfg config.MsfsCfg
	dir string
	sem chan struct{}

	listens atomic.Pointer[map[string]string]
	tls     tlsfront.Slot // the HTTPS certificate (msfs.tls)
	files   atomic.Pointer[Files]

	uploads, uploadRefused, tooBig, aborted    atomic.Uint64
	downloads, notModified, notFound, badPaths atomic.Uint64
	forbidden, serverErrors, bytesIn, bytesOut atomic.Uint64
	openConns                                  atomic.Int64
	countErrLog                                ratelog.Gate
}

// New builds the msfs service from its dependencies; it starts nothing.
func New(d daemons.Deps) (daemons.Service, error) {
	if d.Config == nil {
		return nil, fmt.Errorf("msfs: %s: no config", d.Name)
	}
	lg := d.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	c := d.Config.Msfs
	if c.FilesPerDir < 1 || c.MaxFileSize < 1 || c.MaxRequestSize < c.MaxFileSize || c.IdleTimeout <= 0 {
		return nil, fmt.Errorf("msfs: %s: invalid [msfs] settings (files_per_dir %d, max_file_size %d, max_request_size %d, idle_timeout %s)",
			d.Name, c.FilesPerDir, c.MaxFileSize, c.MaxRequestSize, c.IdleTimeout)
	}
	dir := c.Dir
	if dir == "" {
		dir = filepath.Join(d.Config.DataDir, "msfs")
	}
	return &Service{d: d, log: lg, cfg: c, dir: dir, sem: make(chan struct{}, maxUploads)}, nil
}

// Name returns the instance name.
func (s *Service) Name() string { return s.d.Name }

// Run opens the storage, binds [msfs].listen (published as "listen"), serves
// until ctx is done, then drains the requests in flight and returns.
func (s *Service) Run(ctx context.Context, ready func()) error {
	files, err := OpenFiles(s.dir, s.cfg.FilesPerDir)
	if err != nil {
		return err
	}
	defer func() {
		if err := files.Close(); err != nil {
			s.log.Warn("msfs: close storage", "err", err)
		}
	}()
	s.files.Store(files)

	addr := s.d.ListenAddr("listen", s.cfg.Listen)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("msfs: listen %s: %w", addr, err)
	}
	bound := ln.Addr().String()
	idle := time.Duration(s.cfg.IdleTimeout)
	srv := &http.Server{
		Handler:           httpguard.Handler(&handler{s: s, files: files, idle: idle, bound: bound}),
		ReadHeaderTimeout: idle,
		IdleTimeout:       idle,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		ConnState: func(_ net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				s.openConns.Add(1)
			case http.StateClosed, http.StateHijacked:
				s.openConns.Add(-1)
			}
		},
	}
	sln, err := s.serveTLS(srv, ln)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sln) }()

	listens := map[string]string{"listen": bound}
	s.listens.Store(&listens)
	s.d.Publish("listen", bound)
	s.log.Info("msfs: listening", "http", bound, "dir", files.Dir(), "files", files.Count())
	ready()

	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close()
		}
		<-served
		return nil
	case err := <-served:
		return fmt.Errorf("msfs: http: %w", err)
	}
}

// Status reports the listener and the counters.
func (s *Service) Status() ctlapi.ServiceStatus {
	st := ctlapi.ServiceStatus{Name: s.d.Name, Kind: s.d.Kind}
	if l := s.listens.Load(); l != nil {
		st.Listen = *l
	}
	var files uint64
	if f := s.files.Load(); f != nil {
		files = f.Count()
	}
	refused, ab := s.uploadRefused.Load(), s.aborted.Load()
	nf, bad, forb, se := s.notFound.Load(), s.badPaths.Load(), s.forbidden.Load(), s.serverErrors.Load()
	st.Counters = map[string]uint64{
		"uploads":        s.uploads.Load(),     // files stored
		"downloads":      s.downloads.Load(),   // files served (200, 206, HEAD)
		"not_modified":   s.notModified.Load(), // 304s
		"bytes_stored":   s.bytesIn.Load(),     // bytes of the files stored
		"bytes_served":   s.bytesOut.Load(),    // body bytes written by downloads
		"errors":         refused + nf + bad + forb + se + ab,
		"upload_aborted": ab,              // bodies that broke off or timed out
		"upload_refused": refused,         // JSON answers with error_code ≠ 0
		"upload_too_big": s.tooBig.Load(), // of which error_code 1
		"not_found":      nf,              // 404
		"bad_paths":      bad,             // 400: traversal attempts
		"forbidden":      forb,            // 403: other methods
		"server_errors":  se,              // 500: disk errors
		"files":          files,           // running file count
		"open_conns":     uint64(max(s.openConns.Load(), 0)),
	}
	return st
}

// handler serves uploads and downloads.
type handler struct {
	s     *Service
	files *Files
	idle  time.Duration
	bound string
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := h.s
	w = &deadlineWriter{ResponseWriter: w, rc: http.NewResponseController(w), idle: h.idle}
	// The reference closes any request whose URL holds "..": answer 400.
	if strings.Contains(r.RequestURI, "..") || strings.Contains(r.URL.Path, "..") {
		s.badPaths.Add(1)
		w.Header().Set("Connection", "close")
		http.Error(w, "bad path", http.StatusBadRequest)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		h.download(w, r)
	case http.MethodPost:
		h.upload(w, r)
	default:
		s.forbidden.Add(1)
		w.Header().Set("Connection", "close")
		w.Header().Set("Content-Type", "text/html;charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
	}
}

// download serves a stored file.
func (h *handler) download(w http.ResponseWriter, r *http.Request) {
	s := h.s
	rel, err := ParsePath(r.URL.Path)
	if errors.Is(err, ErrUnsafePath) {
		s.badPaths.Add(1)
		http.Error(w, "bad path", http.StatusBadRequest)
		return
	}
	if err != nil {
		s.notFound.Add(1)
		w.WriteHeader(http.StatusNotFound)
		return
	}
	f, fi, err := h.files.Open(rel)
	if errors.Is(err, os.ErrNotExist) {
		s.notFound.Add(1)
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if err != nil {
		s.serverErrors.Add(1)
		s.log.Warn("msfs: open", "path", rel, "err", err)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	defer f.Close()
	var head [512]byte
	n, err := f.ReadAt(head[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		s.serverErrors.Add(1)
		s.log.Warn("msfs: read", "path", rel, "err", err)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", ContentType(rel, head[:n]))
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	hd.Set("ETag", `"`+fi.Name()+`"`)
	sw := &statusWriter{ResponseWriter: w, n: &s.bytesOut}
	http.ServeContent(sw, r, fi.Name(), fi.ModTime(), f)
	switch {
	case sw.status == http.StatusNotModified:
		s.notModified.Add(1)
	case sw.status < 300:
		s.downloads.Add(1)
	}
}

// ContentType returns the Content-Type of a stored file from its name and
// first bytes: the reference's image/<ext> for its image extensions when
// the content is an image, the sniffed type for other binary content, and
// application/octet-stream for anything sniffed as text (HTML included).
func ContentType(name string, head []byte) string {
	sniffed := http.DetectContentType(head)
	ext := ""
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		ext = name[i+1:]
	}
	image := strings.HasPrefix(sniffed, "image/")
	switch ext {
	case "jpg", "JPG", "jpeg", "JPEG", "png", "PNG", "gif", "GIF":
		if image {
			return "image/" + ext
		}
	}
	if strings.HasPrefix(sniffed, "text/") || strings.Contains(sniffed, "xml") || sniffed == "image/svg+xml" {
		return "application/octet-stream"
	}
	return sniffed
}

// upload stores the file of a multipart POST and answers as the reference.
func (h *handler) upload(w http.ResponseWriter, r *http.Request) {
	s := h.s
	max := s.cfg.MaxRequestSize
	if r.ContentLength > max {
		h.refuse(w, CodeTooBig, true)
		return
	}
	select {
	case h.s.sem <- struct{}{}:
		defer func() { <-h.s.sem }()
	case <-r.Context().Done():
		return
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	body := &deadlineReader{r: r.Body, rc: http.NewResponseController(w), idle: h.idle}
	if _, err := buf.ReadFrom(io.LimitReader(body, max+1)); err != nil {
		s.log.Debug("msfs: upload body", "remote", r.RemoteAddr, "err", err)
		s.aborted.Add(1)
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if int64(buf.Len()) > max {
		h.refuse(w, CodeTooBig, true)
		return
	}
	part, code := ParseUpload(r.Header.Get("Content-Type"), buf.Bytes())
	if code == CodeOK && int64(len(part.Data)) > s.cfg.MaxFileSize {
		code = CodeTooBig
	}
	if code != CodeOK {
		h.refuse(w, code, false)
		return
	}
	rel, err := h.files.Save(part.Ext, part.Dims, part.Data)
	if err != nil {
		s.serverErrors.Add(1)
		s.log.Error("msfs: store upload", "name", part.Name, "size", len(part.Data), "err", err)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	if err := h.files.CountErr(); err != nil {
		if s.countErrLog.Allow(time.Minute) {
			s.log.Warn("msfs: file count not persisted (new files may share directories after a restart)", "err", err)
		}
	}
	s.uploads.Add(1)
	s.bytesIn.Add(uint64(len(part.Data)))
	host := r.Host
	if host == "" {
		host = h.bound
	}
	p := group + "/" + rel
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	writeAnswer(w, Answer(CodeOK, p, scheme+host+"/"+p))
	s.log.Debug("msfs: stored", "name", part.Name, "path", p, "size", len(part.Data), "remote", r.RemoteAddr)
}

// refuse answers an upload with an error code; unread, the connection is
// closed after the answer (its body is left in the socket).
func (h *handler) refuse(w http.ResponseWriter, code int, unread bool) {
	h.s.uploadRefused.Add(1)
	if code == CodeTooBig {
		h.s.tooBig.Add(1)
	}
	if unread {
		w.Header().Set("Connection", "close")
	}
	writeAnswer(w, Answer(code, "", ""))
}

func writeAnswer(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "text/html;charset=utf-8")
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
