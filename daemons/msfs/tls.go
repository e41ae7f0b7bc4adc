package msfs

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
// with the [tls] certificate when msfs.tls is on (upload answers then carry
// https:// URLs; set login.msfs_url to match).
func (s *Service) serveTLS(srv *http.Server, ln net.Listener) (net.Listener, error) {
	l, err := s.tls.Wrap(s.d.Config.Msfs.TLS, s.d.Config, srv, ln)
	if err != nil {
		return nil, fmt.Errorf("msfs: %w", err)
	}
	return l, nil
}

// Reload reads the TLS certificate files again when msfs serves HTTPS
// (daemons.Reloader); msfs has no other live settings.
func (s *Service) Reload(*config.Config) error {
	return s.tls.ReloadFor(s.log, "msfs")
}
