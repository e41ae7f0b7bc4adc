// Package tlsfront puts TLS in front of the services' listeners: the [tls]
// certificate (read from its files, read again on Reload), HTTP listeners
// wrapped in TLS, and Front, a TLS listener whose connections are bridged
// into a netloop Group, so a netloop service serves TLS clients unchanged.
//
// Front follows ARCHITECTURE.md: TLS uses the standard crypto/tls path with
// goroutines per connection, netloop serves plain sockets. Each handshaken
// connection gets a unix socketpair; one end is adopted by the Group
// (netloop.Group.Adopt, with the client's real addresses, so per-address
// limits still work), and two goroutines pump bytes between the other end
// and the tls.Conn through fixed buffers. Backpressure is the socketpair's
// kernel buffer plus the Group's write bound; both ends close together.
package tlsfront

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"teamtalk/appliance/config"
)

// ErrNoCert: TLS is enabled but [tls] names no certificate or key file.
var ErrNoCert = errors.New("tlsfront: tls.cert_file and tls.key_file are required")

// Certs is the certificate every TLS listener of a service presents. It is
// safe for concurrent use; Reload swaps it for new handshakes while the
// connections already up keep theirs.
type Certs struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

// Load reads the PEM certificate chain and key.
func Load(certFile, keyFile string) (*Certs, error) {
	if certFile == "" || keyFile == "" {
		return nil, ErrNoCert
	}
	c := &Certs{certFile: certFile, keyFile: keyFile}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// FromConfig loads the certificate cfg's [tls] section names.
func FromConfig(cfg *config.Config) (*Certs, error) {
	return Load(cfg.TLS.CertFile, cfg.TLS.KeyFile)
}

// Reload reads the files again. On error the certificate in use stays.
func (c *Certs) Reload() error {
	kp, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("tlsfront: load %s / %s: %w", c.certFile, c.keyFile, err)
	}
	if kp.Leaf == nil && len(kp.Certificate) > 0 {
		if leaf, err := x509.ParseCertificate(kp.Certificate[0]); err == nil {
			kp.Leaf = leaf
		}
	}
	c.cur.Store(&kp)
	return nil
}

// Leaf is the certificate presented now.
func (c *Certs) Leaf() *x509.Certificate {
	if kp := c.cur.Load(); kp != nil {
		return kp.Leaf
	}
	return nil
}

// Config returns a server tls.Config presenting the current certificate
// (TLS 1.2 and later).
func (c *Certs) Config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.cur.Load(), nil
		},
	}
}

// HTTP makes srv serve TLS on ln: it returns ln wrapped in TLS (HTTP/1.1)
// and, since net/http bounds a handshake by the smallest of the server's
// read, read-header and write timeouts, lowers srv.ReadHeaderTimeout to
// handshake when it is unset or longer. Call it before srv.Serve.
func HTTP(srv *http.Server, ln net.Listener, certs *Certs, handshake time.Duration) net.Listener {
	if handshake > 0 && (srv.ReadHeaderTimeout <= 0 || srv.ReadHeaderTimeout > handshake) {
		srv.ReadHeaderTimeout = handshake
	}
	cfg := certs.Config()
	cfg.NextProtos = []string{"http/1.1"}
	return tls.NewListener(ln, cfg)
}
