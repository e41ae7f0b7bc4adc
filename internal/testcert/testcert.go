// Package testcert makes throwaway TLS certificates for tests: a self-signed
// ECDSA P-256 certificate valid for 127.0.0.1, ::1 and localhost, written as
// the PEM files teamtalkd's [tls] section names, with the pool and client
// config that trust it.
package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Cert is one generated certificate and where it was written.
type Cert struct {
	// CertFile and KeyFile are the PEM files (in the directory given to New).
	CertFile, KeyFile string
	// Leaf is the parsed certificate; its serial number tells two apart.
	Leaf *x509.Certificate
	// Pool trusts exactly this certificate.
	Pool *x509.CertPool
}

// New generates a certificate named name (its common name and file prefix)
// and writes name.crt and name.key into dir.
func New(dir, name string) (*Cert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("testcert: key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, fmt.Errorf("testcert: serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"teamtalk tests"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("testcert: create: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("testcert: parse: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("testcert: marshal key: %w", err)
	}
	c := &Cert{
		CertFile: filepath.Join(dir, name+".crt"),
		KeyFile:  filepath.Join(dir, name+".key"),
		Leaf:     leaf,
		Pool:     x509.NewCertPool(),
	}
	c.Pool.AddCert(leaf)
	if err := os.WriteFile(c.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, fmt.Errorf("testcert: %w", err)
	}
	if err := os.WriteFile(c.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return nil, fmt.Errorf("testcert: %w", err)
	}
	return c, nil
}

// ClientConfig is a client tls.Config that trusts only this certificate.
func (c *Cert) ClientConfig() *tls.Config {
	return &tls.Config{RootCAs: c.Pool, MinVersion: tls.VersionTLS12}
}

// Install copies this certificate's files over certFile and keyFile (to
// test a reload: the server's configured paths stay, their content changes).
func (c *Cert) Install(certFile, keyFile string) error {
	for _, p := range [][2]string{{c.CertFile, certFile}, {c.KeyFile, keyFile}} {
		b, err := os.ReadFile(p[0])
		if err != nil {
			return fmt.Errorf("testcert: %w", err)
		}
		if err := os.WriteFile(p[1], b, 0o600); err != nil {
			return fmt.Errorf("testcert: %w", err)
		}
	}
	return nil
}
