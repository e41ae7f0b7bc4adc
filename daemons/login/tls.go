package login

import (
	"fmt"
	"net"
	"net/http"

	"teamtalk/appliance/config"
	"teamtalk/daemons"
)

// Service reloads its TLS certificate on SIGHUP.
var _ daemons.Reloader = (*Service)(nil)

// listenHTTP binds the HTTP port for srv: plain TCP, or TLS with the [tls]
// certificate when login.http_tls is on. The /msg_server answer is the same
// either way (it hands out msg.listen's plain port: TeamTalk clients do not
// speak TLS). The 1 KiB request limit counts plaintext.
func (s *Service) listenHTTP(addr string, srv *http.Server) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("login: listen http %s: %w", addr, err)
	}
	l, err := s.tls.Wrap(s.d.Config.Login.HTTPTLS, s.d.Config, srv, ln)
	if err != nil {
		return nil, fmt.Errorf("login: http %w", err)
	}
	return l, nil
}

// Reload reads the TLS certificate files again when login serves HTTPS
// (daemons.Reloader); login has no other live settings.
func (s *Service) Reload(*config.Config) error {
	return s.tls.ReloadFor(s.log, "login")
}
