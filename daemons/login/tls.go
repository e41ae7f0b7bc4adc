package login

import (
	"fmt"
	"net"
	"net/http"

	"teamtalk/appliance/config"
	"teamtalk/daemons"
	"teamtalk/daemons/internal/tlsfront"
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
	if !s.d.Config.Login.HTTPTLS {
		return ln, nil
	}
	certs, err := tlsfront.FromConfig(s.d.Config)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("login: http tls: %w", err)
	}
	s.certs.Store(certs)
	return tlsfront.HTTP(srv, ln, certs, s.d.Config.TLS.HandshakeTimeout.D()), nil
}

// Reload reads the TLS certificate files again when login serves HTTPS
// (daemons.Reloader); login has no other live settings.
func (s *Service) Reload(*config.Config) error {
	certs := s.certs.Load()
	if certs == nil {
		return nil
	}
	if err := certs.Reload(); err != nil {
		return fmt.Errorf("login: reload: %w", err)
	}
	s.log.Info("login: tls certificate reloaded", "subject", certs.Leaf().Subject.String())
	return nil
}
