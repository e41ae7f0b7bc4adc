// Package ctlclient is the Go client of teamtalkd's control API. Its zero
// value talks to the default socket; Socket and Dial can be replaced (tests).
package ctlclient

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"syscall"

	"teamtalk/appliance/ctlapi"
)

// The sockets ttctl tries, in order, when none is given.
const (
	InstalledSocket = "/run/teamtalk/teamtalkd.sock"
	DevSocket       = "./var/teamtalkd.sock"
)

// DefaultSocket returns the installed socket if it exists, else the one
// `make run` uses.
func DefaultSocket() string {
	if _, err := os.Stat(InstalledSocket); err == nil {
		return InstalledSocket
	}
	return DevSocket
}

// ErrNotRunning is wrapped by the errors returned when nothing answers.
var ErrNotRunning = errors.New("teamtalkd is not running")

// Client calls the control API. The zero value is ready to use; do not
// change its fields after the first call.
type Client struct {
	// Socket is the unix socket path; empty means DefaultSocket().
	Socket string
	// Dial, if set, replaces the unix dialer (network is "unix", addr the socket).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)

	once sync.Once
	hc   *http.Client
	path string
}

func (c *Client) init() {
	c.once.Do(func() {
		c.path = c.Socket
		if c.path == "" {
			c.path = DefaultSocket()
		}
		dial := c.Dial
		if dial == nil {
			var d net.Dialer
			dial = d.DialContext
		}
		path := c.path
		c.hc = &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return dial(ctx, "unix", path)
			},
			DisableCompression: true,
		}}
	})
}

// SocketPath returns the socket the client uses.
func (c *Client) SocketPath() string {
	c.init()
	return c.path
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	c.init()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("ctlclient: encode: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://teamtalkd"+path, rd)
	if err != nil {
		return fmt.Errorf("ctlclient: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return c.dialErr(err)
	}
	defer resp.Body.Close()
	return decode(resp, out)
}

func (c *Client) dialErr(err error) error {
	switch {
	case errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOENT):
		return fmt.Errorf("%w: no socket at %s", ErrNotRunning, c.path)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w: nothing answers on %s (stale socket)", ErrNotRunning, c.path)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("ctlclient: permission denied on %s (are you in the teamtalk group?)", c.path)
	}
	return fmt.Errorf("ctlclient: %s: %w", c.path, err)
}

func decode(resp *http.Response, out any) error {
	if resp.StatusCode/100 != 2 {
		ce := &ctlapi.Error{}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		if json.Unmarshal(b, ce) != nil || ce.Message == "" {
			ce.Message = fmt.Sprintf("%s: %s", resp.Status, bytes.TrimSpace(b))
		}
		ce.Status = resp.StatusCode
		return ce
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("ctlclient: decode reply: %w", err)
	}
	return nil
}

func get[T any](ctx context.Context, c *Client, path string) (T, error) {
	var v T
	err := c.do(ctx, http.MethodGet, path, nil, &v)
	return v, err
}

// Status returns GET /v1/status.
func (c *Client) Status(ctx context.Context) (ctlapi.Status, error) {
	return get[ctlapi.Status](ctx, c, ctlapi.PathStatus)
}

// Services returns GET /v1/services.
func (c *Client) Services(ctx context.Context) ([]ctlapi.ServiceStatus, error) {
	return get[[]ctlapi.ServiceStatus](ctx, c, ctlapi.PathServices)
}

// MsgServers returns GET /v1/msgservers.
func (c *Client) MsgServers(ctx context.Context) ([]ctlapi.MsgServer, error) {
	return get[[]ctlapi.MsgServer](ctx, c, ctlapi.PathMsgServers)
}

// Sockets returns GET /v1/sockets.
func (c *Client) Sockets(ctx context.Context) ([]ctlapi.Socket, error) {
	return get[[]ctlapi.Socket](ctx, c, ctlapi.PathSockets)
}

// Timers returns GET /v1/timers.
func (c *Client) Timers(ctx context.Context) ([]ctlapi.Timer, error) {
	return get[[]ctlapi.Timer](ctx, c, ctlapi.PathTimers)
}

// Online returns GET /v1/online.
func (c *Client) Online(ctx context.Context) ([]ctlapi.OnlineUser, error) {
	return get[[]ctlapi.OnlineUser](ctx, c, ctlapi.PathOnline)
}

// Events returns GET /v1/events: events after since, the newest limit.
func (c *Client) Events(ctx context.Context, since uint64, limit int) ([]ctlapi.Event, error) {
	q := url.Values{"since": {strconv.FormatUint(since, 10)}, "limit": {strconv.Itoa(limit)}}
	return get[[]ctlapi.Event](ctx, c, ctlapi.PathEvents+"?"+q.Encode())
}

// History returns GET /v1/history: the newest limit counters samples.
func (c *Client) History(ctx context.Context, limit int) ([]ctlapi.CounterSample, error) {
	return get[[]ctlapi.CounterSample](ctx, c, ctlapi.PathHistory+"?limit="+strconv.Itoa(limit))
}

// Restart asks teamtalkd to restart a service.
func (c *Client) Restart(ctx context.Context, name string) (ctlapi.RestartResult, error) {
	return send[ctlapi.RestartResult](ctx, c, http.MethodPost, ctlapi.RestartPath(url.PathEscape(name)), struct{}{})
}

// Panic makes a service panic, so that the supervisor must restart it; only
// a teamtalkd run with supervisor.test_hooks accepts it (for tests).
func (c *Client) Panic(ctx context.Context, name string) (ctlapi.RestartResult, error) {
	return send[ctlapi.RestartResult](ctx, c, http.MethodPost, ctlapi.PanicPath(url.PathEscape(name)), struct{}{})
}

// Kick disconnects a user.
func (c *Client) Kick(ctx context.Context, req ctlapi.KickRequest) (ctlapi.KickResult, error) {
	return send[ctlapi.KickResult](ctx, c, http.MethodPost, ctlapi.PathKick, req)
}

// Watch streams snapshots (one a second) until ctx is done or the stream
// ends; the channel is closed then. It implements the console's Source.
func (c *Client) Watch(ctx context.Context) (<-chan ctlapi.Snapshot, error) {
	c.init()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://teamtalkd"+ctlapi.PathWatch, nil)
	if err != nil {
		return nil, fmt.Errorf("ctlclient: %w", err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.dialErr(err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, decode(resp, nil)
	}
	ch := make(chan ctlapi.Snapshot)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64*1024), 64<<20)
		for sc.Scan() {
			var s ctlapi.Snapshot
			if json.Unmarshal(sc.Bytes(), &s) != nil {
				return
			}
			select {
			case ch <- s:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}
