package httpmsg

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

// serveTLS returns the listener srv serves: ln itself, or ln wrapped in TLS
// with the [tls] certificate when httpmsg.tls is on.
func (s *Service) serveTLS(srv *http.Server, ln net.Listener) (net.Listener, error) {
	if !s.d.Config.HTTPMsg.TLS {
		return ln, nil
	}
	certs, err := tlsfront.FromConfig(s.d.Config)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("httpmsg: tls: %w", err)
	}
	s.certs.Store(certs)
	return tlsfront.HTTP(srv, ln, certs, s.d.Config.TLS.HandshakeTimeout.D()), nil
}

// Reload reads the TLS certificate files again when httpmsg serves HTTPS
// (daemons.Reloader); httpmsg has no other live settings.
func (s *Service) Reload(*config.Config) error {
	certs := s.certs.Load()
	if certs == nil {
		return nil
	}
	if err := certs.Reload(); err != nil {
		return fmt.Errorf("httpmsg: reload: %w", err)
	}
	s.log.Info("httpmsg: tls certificate reloaded", "subject", certs.Leaf().Subject.String())
	return nil
}
