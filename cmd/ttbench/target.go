package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"teamtalk/appliance/ctlapi"
	"teamtalk/appliance/ctlclient"
	"teamtalk/client"
	"teamtalk/wire/pb"
)

// errUsage: the flags were wrong; the flag package already said why.
var errUsage = errors.New("usage")

// target says where the server is and how clients log in, shared by the
// scenarios that connect.
type target struct {
	socket   string // control socket of a teamtalkd: addresses and pid from /v1/status
	msgAddr  string // msg server host:port
	loginURL string // login server http://host:port/msg_server
	perLogin bool   // resolve through the login URL before every connection
	prefix   string // user names are prefix1..prefixN
	password string
	ctype    string // client type name
	spread   int    // source addresses 127.0.0.1..; 0: as many as the connections need
	timeout  time.Duration

	clientType pb.ClientType
	pid        int // from the control socket
	hc         *http.Client
}

// scenarioFlags returns the flag set of scenario name (usage to stderr) with
// the target flags registered on it, and the target they fill.
func scenarioFlags(name string, stderr io.Writer) (*flag.FlagSet, *target) {
	fs := flag.NewFlagSet("ttbench "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	t := new(target)
	t.addFlags(fs)
	return fs, t
}

// addFlags registers the target flags on fs.
func (t *target) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&t.socket, "socket", "", "control socket of a teamtalkd: take the msg and login addresses (and pid) from its status")
	fs.StringVar(&t.msgAddr, "msg", "", "msg server address host:port")
	fs.StringVar(&t.loginURL, "login", "", "login server URL (http://host:8080/msg_server): resolve the msg server through it")
	fs.BoolVar(&t.perLogin, "http", false, "do the login server's HTTP step before every connection (needs -login or -socket)")
	fs.StringVar(&t.prefix, "prefix", "bench", "user name prefix: users are PREFIX1..PREFIXN")
	fs.StringVar(&t.password, "password", "bench", "password of every bench user")
	fs.StringVar(&t.ctype, "type", "android", "client type: android, ios, windows or mac")
	fs.IntVar(&t.spread, "spread", 0, "spread connections over this many source addresses 127.0.0.1.. (0: one per 20,000 connections)")
	fs.DurationVar(&t.timeout, "timeout", 10*time.Second, "timeout of one connect, login or message ack")
}

var clientTypes = map[string]pb.ClientType{
	"windows": pb.ClientType_CLIENT_TYPE_WINDOWS,
	"mac":     pb.ClientType_CLIENT_TYPE_MAC,
	"ios":     pb.ClientType_CLIENT_TYPE_IOS,
	"android": pb.ClientType_CLIENT_TYPE_ANDROID,
}

// resolve checks the flags and fills the msg address (and pid) from the
// control socket or the login server.
func (t *target) resolve(ctx context.Context) error {
	ct, ok := clientTypes[strings.ToLower(t.ctype)]
	if !ok {
		return fmt.Errorf("unknown client type %q (android, ios, windows, mac)", t.ctype)
	}
	t.clientType = ct
	t.hc = &http.Client{Timeout: t.timeout, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	if t.socket != "" {
		st, err := statusOf(ctx, t.socket)
		if err != nil {
			return err
		}
		t.pid = st.PID
		if t.msgAddr == "" {
			t.msgAddr = st.Addresses["msg.listen"]
		}
		if t.loginURL == "" && st.Addresses["login.http_listen"] != "" {
			t.loginURL = "http://" + st.Addresses["login.http_listen"] + "/msg_server"
		}
	}
	if t.perLogin && t.loginURL == "" {
		return errors.New("-http needs -login URL or -socket")
	}
	if t.msgAddr == "" && t.loginURL != "" && !t.perLogin {
		info, err := client.ResolveWith(ctx, t.hc, t.loginURL)
		if err != nil {
			return fmt.Errorf("resolve %s: %w", t.loginURL, err)
		}
		t.msgAddr = info.Addr()
	}
	if t.msgAddr == "" && !t.perLogin {
		return errors.New("no server: give -socket, -msg or -login")
	}
	return nil
}

// describe names the target for the report.
func (t *target) describe() string {
	if t.perLogin {
		return t.loginURL + " (HTTP step per login)"
	}
	return t.msgAddr
}

// statusOf reads /v1/status of the teamtalkd on socket.
func statusOf(ctx context.Context, socket string) (ctlapi.Status, error) {
	c := &ctlclient.Client{Socket: socket}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		return st, fmt.Errorf("status of %s: %w", socket, err)
	}
	return st, nil
}

// sourceAddr returns the local IP of connection i among n, spreading over
// 127.0.0.1..127.0.0.k when spread (or the connection count) asks for it:
// each source IP has about 28,000 ephemeral ports towards one server port.
// Empty means "let the kernel choose".
func (t *target) sourceAddr(i, n int) string {
	k := t.spread
	if k == 0 {
		k = (n + 19999) / 20000
	}
	if k <= 1 {
		return ""
	}
	k = min(k, 254)
	return fmt.Sprintf("127.0.0.%d", 1+i%k)
}

// userName returns the name of bench user i (1-based).
func (t *target) userName(i int) string { return fmt.Sprintf("%s%d", t.prefix, i) }

// connect resolves (when asked), dials and logs user i in. It returns the
// client, its login result and the kind of error for the report.
func (t *target) connect(ctx context.Context, i, n int, opt client.Options) (*client.Client, *client.LoginResult, string, error) {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	addr, err := t.addr(ctx)
	if err != nil {
		return nil, nil, "http", err
	}
	opt.ClientType = t.clientType
	opt.LocalAddr = t.sourceAddr(i, n)
	c, err := client.Dial(ctx, addr, opt)
	if err != nil {
		return nil, nil, errKind("dial", err), err
	}
	res, err := c.Login(ctx, t.userName(i), t.password)
	if err != nil {
		c.Close()
		return nil, nil, loginKind(err), err
	}
	return c, res, "", nil
}

// addr returns the msg server's address for the next connection: the
// login server's answer when every login takes the HTTP step, else the
// resolved -msg address.
func (t *target) addr(ctx context.Context) (string, error) {
	if !t.perLogin {
		return t.msgAddr, nil
	}
	info, err := client.ResolveWith(ctx, t.hc, t.loginURL)
	if err != nil {
		return "", err
	}
	return info.Addr(), nil
}

// loginKind names a failed login for the report: a refusal by its reason
// (login_refused_db_validate_failed), anything else as errKind does.
func loginKind(err error) string {
	var le *client.LoginError
	if errors.As(err, &le) {
		return "login_refused_" + strings.ToLower(strings.TrimPrefix(le.Code.String(), "REFUSE_REASON_"))
	}
	return errKind("login", err)
}

// errKind names an error for the "errors by kind" line: the step plus a
// short cause.
func errKind(step string, err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, client.ErrTimeout):
		return step + "_timeout"
	case errors.Is(err, context.Canceled):
		return step + "_canceled"
	case errors.Is(err, client.ErrClosed), errors.Is(err, io.EOF):
		return step + "_closed"
	case strings.Contains(err.Error(), "connection refused"):
		return step + "_refused"
	case strings.Contains(err.Error(), "too many open files"):
		return step + "_emfile"
	case strings.Contains(err.Error(), "cannot assign requested address"):
		return step + "_no_ports"
	case errors.As(err, &ne) && ne.Timeout():
		return step + "_timeout"
	}
	return step + "_error"
}
