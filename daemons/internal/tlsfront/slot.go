package tlsfront

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"

	"teamtalk/appliance/config"
)

// Slot is where an HTTP service keeps the certificate of its HTTPS listener,
// so a SIGHUP can reload it. The zero value is ready to use and holds
// nothing (plain HTTP).
type Slot struct {
	certs atomic.Pointer[Certs]
}

// Wrap returns the listener srv should serve: ln itself when on is false,
// else ln wrapped in TLS with cfg's [tls] certificate, which the slot then
// holds. When the certificate cannot be loaded it closes ln and fails.
func (s *Slot) Wrap(on bool, cfg *config.Config, srv *http.Server, ln net.Listener) (net.Listener, error) {
	if !on {
		return ln, nil
	}
	certs, err := FromConfig(cfg)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("tls: %w", err)
	}
	s.certs.Store(certs)
	return HTTP(srv, ln, certs, cfg.TLS.HandshakeTimeout.D()), nil
}

// Reload reads the held certificate's files again and returns the new
// certificate's subject; with nothing held (plain HTTP) it does nothing and
// returns "". A bad new file keeps the old certificate and is an error.
func (s *Slot) Reload() (subject string, err error) {
	certs := s.certs.Load()
	if certs == nil {
		return "", nil
	}
	if err := certs.Reload(); err != nil {
		return "", err
	}
	return certs.Leaf().Subject.String(), nil
}

// ReloadFor is Reload for service svc's daemons.Reloader: it logs the new
// certificate's subject on log and returns the error prefixed with
// "<svc>: reload".
func (s *Slot) ReloadFor(log *slog.Logger, svc string) error {
	subject, err := s.Reload()
	if err != nil {
		return fmt.Errorf("%s: reload: %w", svc, err)
	}
	if subject != "" {
		log.Info(svc+": tls certificate reloaded", "subject", subject)
	}
	return nil
}
