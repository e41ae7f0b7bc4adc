package httpmsg

import (
	"fmt"
	"net"
	"net/http"

	"teamtalk/appliance/config"
	"teamtalk/daemons"
)

// Service reloads its TLS certificate on SIGHUP.
var _ daemons.Reloader = (*Service)(nil)

// serveTLS returns the listener srv serves: ln itself, or ln wrapped in TLS
// with the [tls] certificate when httpmsg.tls is on.
func (s *Service) serveTLS(srv *http.Server, ln net.Listener) (net.Listener, error) {
	l, err := s.tls.Wrap(s.d.Config.HTTPMsg.TLS, s.d.Config, srv, ln)
	if err != nil {
		return nil, fmt.Errorf("httpmsg: %w", err)
	}
	return l, nil
}

// Reload reads the TLS certificate files again when httpmsg serves HTTPS
// (daemons.Reloader); httpmsg has no other live settings.
func (s *Service) Reload(*config.Config) error {
	return s.tls.ReloadFor(s.log, "httpmsg")
}
