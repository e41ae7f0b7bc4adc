package push

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

// Apple's HTTP/2 provider API hosts.
const (
	apnsProduction = "https://api.push.apple.com"
	apnsSandbox    = "https://api.sandbox.push.apple.com"
)

// jwtRefresh is how long a provider token is reused: Apple refuses tokens
// older than an hour and throttles ones refreshed more often than every 20
// minutes.
const jwtRefresh = 50 * time.Minute

// LoadP8 reads an APNs token-auth key: a PEM "PRIVATE KEY" block holding a
// PKCS#8 P-256 ECDSA key, as Apple's developer portal hands it out.
func LoadP8(path string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("push: apns key: %w", err)
	}
	return ParseP8(b)
}

// ParseP8 parses the contents of a .p8 key file (see LoadP8).
func ParseP8(b []byte) (*ecdsa.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("push: apns key: no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("push: apns key: %w", err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve.Params().BitSize != 256 {
		return nil, fmt.Errorf("push: apns key: %T is not a P-256 ECDSA key", k)
	}
	return ek, nil
}

// signer makes and caches the provider token (an ES256 JWT) of token-based
// APNs authentication.
type signer struct {
	key    *ecdsa.PrivateKey
	keyID  string
	teamID string
	now    func() time.Time
	ttl    time.Duration

	mu        sync.Mutex
	tok       string
	issued    time.Time
	refreshes uint64
}

// token returns the cached JWT, signing a new one when it is older than the
// ttl or when force is set (APNs answered ExpiredProviderToken).
func (s *signer) token(force bool) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if !force && s.tok != "" && now.Sub(s.issued) < s.ttl {
		return s.tok, nil
	}
	t, err := signJWT(s.key, s.keyID, s.teamID, now)
	if err != nil {
		return "", err
	}
	s.tok, s.issued = t, now
	s.refreshes++
	return t, nil
}

// signJWT returns header.claims.signature for APNs: alg ES256 with the key
// id, claims iss (team id) and iat; the signature is r||s, 32 bytes each.
func signJWT(key *ecdsa.PrivateKey, keyID, teamID string, now time.Time) (string, error) {
	enc := base64.RawURLEncoding
	h, err := json.Marshal(map[string]string{"alg": "ES256", "kid": keyID})
	if err != nil {
		return "", fmt.Errorf("push: jwt header: %w", err)
	}
	c, err := json.Marshal(map[string]any{"iss": teamID, "iat": now.Unix()})
	if err != nil {
		return "", fmt.Errorf("push: jwt claims: %w", err)
	}
	unsigned := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	sum := sha256.Sum256([]byte(unsigned))
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		return "", fmt.Errorf("push: jwt sign: %w", err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return unsigned + "." + enc.EncodeToString(sig), nil
}

// apnsClient delivers notifications over APNs' HTTP/2 provider API.
type apnsClient struct {
	base  string // scheme://host[:port], no trailing slash
	topic string
	sign  *signer
	hc    *http.Client
}

// newAPNsTransport returns an HTTP/2-only transport trusting the system roots
// plus the PEM certificates in caFile (when given).
func newAPNsTransport(caFile string) (*http.Transport, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("push: apns_ca_file: %w", err)
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("push: apns_ca_file %s: no PEM certificate", caFile)
		}
		tc.RootCAs = pool
	}
	p := new(http.Protocols)
	p.SetHTTP2(true)
	return &http.Transport{
		TLSClientConfig:     tc,
		Protocols:           p,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     5 * time.Minute,
		TLSHandshakeTimeout: 10 * time.Second,
	}, nil
}

// outcome is the result of one HTTP attempt.
type outcome struct {
	status int    // HTTP status; 0 on transport error
	reason string // APNs "reason", or the transport error
	apnsID string
}

// retryable reports whether another attempt may succeed: throttled, server
// trouble, or a transport error.
func (o outcome) retryable() bool {
	return o.status == 0 || o.status == http.StatusTooManyRequests || o.status >= 500
}

// send makes one attempt to deliver payload to a device token.
func (a *apnsClient) send(ctx context.Context, token string, payload []byte, silent bool, forceJWT bool) outcome {
	jwt, err := a.sign.token(forceJWT)
	if err != nil {
		return outcome{reason: err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+"/3/device/"+token, bytes.NewReader(payload))
	if err != nil {
		return outcome{reason: err.Error()}
	}
	req.Header.Set("authorization", "bearer "+jwt)
	req.Header.Set("apns-topic", a.topic)
	req.Header.Set("apns-push-type", "alert") // badge-only updates are alerts too
	req.Header.Set("apns-expiration", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
	prio := "10"
	if silent {
		prio = "5"
	}
	req.Header.Set("apns-priority", prio)
	req.Header.Set("content-type", "application/json")
	rsp, err := a.hc.Do(req)
	if err != nil {
		return outcome{reason: err.Error()}
	}
	defer rsp.Body.Close()
	o := outcome{status: rsp.StatusCode, apnsID: rsp.Header.Get("apns-id")}
	if rsp.StatusCode != http.StatusOK {
		var e struct {
			Reason string `json:"reason"`
		}
		b, _ := io.ReadAll(io.LimitReader(rsp.Body, 4096))
		if json.Unmarshal(b, &e) == nil {
			o.reason = e.Reason
		}
	} else {
		_, _ = io.Copy(io.Discard, io.LimitReader(rsp.Body, 4096))
	}
	return o
}
