package msg

import (
	"fmt"
	"sync/atomic"

	"teamtalk/appliance/ctlapi"
	"teamtalk/daemons/internal/tlsfront"
	"teamtalk/netloop"
)

// tlsPort is msg.tls_listen: a TLS listener whose connections are served by
// the same client handler as the plain port (tlsfront bridges each into the
// Group with the client's real address, so sessions, limits and idle
// timeouts are the same). login keeps handing out the plain port: TeamTalk
// clients do not speak TLS.
type tlsPort struct {
	certs *tlsfront.Certs
	front atomic.Pointer[tlsfront.Front]
}

// listenTLS starts the TLS client port when msg.tls_listen is set; it
// returns nil when it is not. Close the Front before stopping g.
func (s *Service) listenTLS(g *netloop.Group, lo netloop.ListenOptions) (*tlsfront.Front, error) {
	if s.cfg.TLSListen == "" {
		return nil, nil
	}
	certs, err := tlsfront.FromConfig(s.d.Config)
	if err != nil {
		return nil, fmt.Errorf("msg: tls: %w", err)
	}
	addr := s.d.ListenAddr("tls_listen", s.cfg.TLSListen)
	f, err := tlsfront.Listen(addr, certs, g, clientHandler{s}, tlsfront.Options{
		Listen:           lo,
		HandshakeTimeout: s.d.Config.TLS.HandshakeTimeout.D(),
		Logger:           s.log,
	})
	if err != nil {
		return nil, fmt.Errorf("msg: tls: %w", err)
	}
	s.tls.certs = certs
	s.tls.front.Store(f)
	s.d.Publish("tls_listen", f.Addr().String())
	s.log.Info("listening (tls)", "addr", f.Addr().String())
	return f, nil
}

// reloadTLS reads the certificate files again (on SIGHUP).
func (s *Service) reloadTLS() error {
	if f := s.tls.front.Load(); f == nil || s.tls.certs == nil {
		return nil
	}
	if err := s.tls.certs.Reload(); err != nil {
		return fmt.Errorf("msg: reload: %w", err)
	}
	s.log.Info("tls certificate reloaded", "subject", s.tls.certs.Leaf().Subject.String(),
		"not_after", s.tls.certs.Leaf().NotAfter)
	return nil
}

// tlsStatus adds the TLS port's address and counters to a status.
func (s *Service) tlsStatus(st *ctlapi.ServiceStatus) {
	f := s.tls.front.Load()
	if f == nil {
		return
	}
	if st.Listen == nil {
		st.Listen = map[string]string{}
	}
	st.Listen["tls_listen"] = f.Addr().String()
	ts := f.Stats()
	st.Counters["tls_accepted"] = ts.Accepted
	st.Counters["tls_handshakes"] = ts.Handshakes
	st.Counters["tls_handshake_failures"] = ts.HandshakeFailures
	st.Counters["tls_conns"] = uint64(ts.Active)
}

// tlsSocket is the TLS listener for the socket list, if any.
func (s *Service) tlsSocket() []ctlapi.Socket {
	if f := s.tls.front.Load(); f != nil {
		return []ctlapi.Socket{{Service: s.d.Name, Kind: "listen-tls", Local: f.Addr().String()}}
	}
	return nil
}
