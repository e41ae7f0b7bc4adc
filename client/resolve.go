package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
)

// MsgServerInfo is login_server's answer to GET /msg_server (PROTOCOL.md
// §5.2): which msg server to connect to, and the msfs and discovery URLs.
type MsgServerInfo struct {
	PriorIP    string `json:"priorIP"`
	BackupIP   string `json:"backupIP"`
	Port       int    `json:"-"` // sent as a JSON string ("8000")
	MsfsPrior  string `json:"msfsPrior"`
	MsfsBackup string `json:"msfsBackup"`
	Discovery  string `json:"discovery"`
	Code       int    `json:"code"`
	Msg        string `json:"msg"`
}

// Addr returns priorIP:port, the address clients connect to.
func (m MsgServerInfo) Addr() string {
	return net.JoinHostPort(m.PriorIP, strconv.Itoa(m.Port))
}

// BackupAddr returns backupIP:port.
func (m MsgServerInfo) BackupAddr() string {
	return net.JoinHostPort(m.BackupIP, strconv.Itoa(m.Port))
}

// ResolveError is an answer of login_server with a non-zero code: 1 "no
// msg_server" (none registered), 2 "load too high" (all full).
type ResolveError struct {
	Code int
	Msg  string
}

// Error describes the refusal.
func (e *ResolveError) Error() string {
	return fmt.Sprintf("client: login server refused: code %d: %s", e.Code, e.Msg)
}

// maxResolveBody bounds the answer read (the reference's is under 1 KiB).
const maxResolveBody = 64 << 10

// Resolve asks the login server which msg server to use, with
// http.DefaultClient. loginURL is the endpoint (http://host:8080/msg_server);
// a URL without a path gets /msg_server.
func Resolve(ctx context.Context, loginURL string) (MsgServerInfo, error) {
	return ResolveWith(ctx, http.DefaultClient, loginURL)
}

// ResolveWith is Resolve with a given HTTP client.
func ResolveWith(ctx context.Context, hc *http.Client, loginURL string) (MsgServerInfo, error) {
	var info MsgServerInfo
	u, err := url.Parse(loginURL)
	if err != nil {
		return info, fmt.Errorf("client: resolve: login URL: %w", err)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/msg_server"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return info, fmt.Errorf("client: resolve %s: %w", u, err)
	}
	rsp, err := hc.Do(req)
	if err != nil {
		return info, fmt.Errorf("client: resolve: %w", err)
	}
	defer rsp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(rsp.Body, maxResolveBody))
	if err != nil {
		return info, fmt.Errorf("client: resolve %s: read: %w", u, err)
	}
	if rsp.StatusCode != http.StatusOK {
		return info, fmt.Errorf("client: resolve %s: HTTP %s", u, rsp.Status)
	}
	info, err = ParseMsgServerInfo(body)
	if err != nil {
		return info, fmt.Errorf("client: resolve %s: %w", u, err)
	}
	return info, nil
}

// ParseMsgServerInfo parses the JSON body of login_server's answer. A code
// other than 0 is a *ResolveError. port may be a string (as the reference
// sends it) or a number.
func ParseMsgServerInfo(body []byte) (MsgServerInfo, error) {
	var raw struct {
		MsgServerInfo
		Port json.RawMessage `json:"port"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raw); err != nil {
		return MsgServerInfo{}, fmt.Errorf("client: msg server info: %w", err)
	}
	info := raw.MsgServerInfo
	if info.Code != 0 {
		return info, &ResolveError{Code: info.Code, Msg: info.Msg}
	}
	var port string
	if err := json.Unmarshal(raw.Port, &port); err != nil {
		port = string(raw.Port) // a number
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return info, fmt.Errorf("client: msg server info: bad port %s", raw.Port)
	}
	info.Port = int(p)
	if info.PriorIP == "" {
		return info, fmt.Errorf("client: msg server info: no priorIP")
	}
	return info, nil
}
