package login

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"teamtalk/appliance/config"
	"teamtalk/daemons/internal/styled"
)

// maxRequest is the largest HTTP request login answers; a longer one closes
// the connection without a reply (PROTOCOL.md §5.2).
const maxRequest = 1024

// Answer is what GET /msg_server returns, before formatting.
type Answer struct {
	Code       int
	Msg        string
	PriorIP    string
	BackupIP   string
	Port       string
	MsfsPrior  string
	MsfsBackup string
	Discovery  string
}

// answerFor picks a msg server for a requester at remote ("host:port") and
// builds the answer (§5.2): priorIP/backupIP are ip1/ip2 for an IPv4
// requester, swapped otherwise.
func answerFor(r *Registry, remote, msfs, discovery string) Answer {
	ms, err := r.Pick()
	switch {
	case errors.Is(err, ErrNoMsgServer):
		return Answer{Code: 1, Msg: "没有msg_server"}
	case err != nil:
		return Answer{Code: 2, Msg: "负载过高"}
	}
	a := Answer{PriorIP: ms.IP1, BackupIP: ms.IP2, Port: strconv.FormatUint(uint64(ms.Port), 10),
		MsfsPrior: msfs, MsfsBackup: msfs, Discovery: discovery}
	if !looksIPv4(remote) {
		a.PriorIP, a.BackupIP = a.BackupIP, a.PriorIP
	}
	return a
}

// looksIPv4 reports whether the host of a "host:port" address has four
// dot-separated parts, the reference's test.
func looksIPv4(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	return len(strings.Split(host, ".")) == 4
}

// JSON returns the answer as jsoncpp's styled writer prints it: keys sorted,
// three-space indent, `"key" : value`, one member per line, final newline.
// An error answer has only code and msg.
func (a Answer) JSON() []byte {
	members := map[string]string{"code": styled.Int(a.Code), "msg": styled.Quote(a.Msg)}
	if a.Code == 0 {
		members["priorIP"] = styled.Quote(a.PriorIP)
		members["backupIP"] = styled.Quote(a.BackupIP)
		members["port"] = styled.Quote(a.Port)
		members["msfsPrior"] = styled.Quote(a.MsfsPrior)
		members["msfsBackup"] = styled.Quote(a.MsfsBackup)
		members["discovery"] = styled.Quote(a.Discovery)
	}
	return styled.Object(members)
}

// Response returns the whole HTTP reply, byte for byte as the reference
// writes it (no space after the header colons).
func (a Answer) Response() []byte {
	body := a.JSON()
	head := fmt.Sprintf("HTTP/1.1 200 OK\r\nConnection:close\r\nContent-Length:%d\r\nContent-Type:text/html;charset=utf-8\r\n\r\n", len(body))
	return append([]byte(head), body...)
}

// httpHandler serves /msg_server: it hijacks the connection to write the
// reference's exact bytes and closes it; any other path is closed unanswered.
type httpHandler struct {
	s *Service
}

func (h httpHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.s.httpRequests.Add(1)
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "no hijack", http.StatusInternalServerError)
		return
	}
	var reply []byte
	if strings.HasPrefix(r.URL.Path, "/msg_server") || strings.HasPrefix(r.RequestURI, "/msg_server") {
		a := answerFor(h.s.reg, r.RemoteAddr, h.s.msfsURL(r), h.s.d.Config.Login.DiscoveryURL)
		reply = a.Response()
		if a.Code == 0 {
			h.s.httpAnswers.Add(1)
		} else {
			h.s.httpErrors.Add(1)
		}
	} else {
		h.s.httpRefused.Add(1)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	if reply != nil {
		_, _ = conn.Write(reply)
	}
}

// limitListener wraps accepted connections so that reading more than
// maxRequest bytes fails: net/http then closes the connection unanswered.
type limitListener struct{ net.Listener }

func (l limitListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &limitConn{Conn: c}, nil
}

type limitConn struct {
	net.Conn
	mu   sync.Mutex
	read int
}

var errRequestTooLarge = errors.New("login: http request over 1024 bytes")

func (c *limitConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.read += n
	over := c.read > maxRequest
	c.mu.Unlock()
	if over {
		_ = c.Conn.Close()
		return 0, errRequestTooLarge
	}
	return n, err
}

// msfsURL is the msfs base URL handed to clients: [login].msfs_url, unless
// it is empty or the default and an msfs runs in this process, whose bound
// address is then used (so port 0 and moved ports work), as https:// when
// msfs.tls is on.
func (s *Service) msfsURL(r *http.Request) string {
	u := s.d.Config.Login.MsfsURL
	if (u != "" && u != s.defaultMsfs) || s.d.Addrs == nil {
		return u
	}
	bound, ok := s.d.Addrs.Lookup(config.Msfs + ".listen")
	if !ok {
		return u
	}
	local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	u = boundURL(bound, local)
	if s.d.Config.Msfs.TLS {
		u = "https://" + strings.TrimPrefix(u, "http://")
	}
	return u
}

// boundURL turns msfs's bound address into a URL clients can reach: an
// unspecified host (0.0.0.0, ::) becomes the address the client reached
// login on (local), else 127.0.0.1.
func boundURL(bound string, local net.Addr) string {
	host, port, err := net.SplitHostPort(bound)
	if err != nil {
		return "http://" + bound + "/"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if local != nil {
			if h, _, err := net.SplitHostPort(local.String()); err == nil {
				if ip := net.ParseIP(h); ip != nil && !ip.IsUnspecified() {
					host = h
				}
			}
		}
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}
