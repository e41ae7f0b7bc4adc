// Package config is teamtalkd's configuration: one TOML file decoded into a
// typed Config, overridden by -set KEY=VALUE flags, and validated.
//
// With no file every service runs on 127.0.0.1 with TeamTalk's default ports
// and keeps its data in ./var. Unknown keys and bad values are refused with the
// key's dotted name and, when it came from a file, the file and line.
// teamtalkd.example.toml at the repository root documents every key and must
// decode to exactly Default().
//
// A peer list entry (msg.dbproxy, msg.route, httpmsg.route...) is either a
// host:port or a reference to a service in the same process: its name
// ("route") or name and listen key ("login.msgserver_listen"). A reference
// resolves to the address that service actually bound, which is how listen
// addresses with port 0 work.
package config

import (
	"time"
)

// The service names, in the reference's start order.
const (
	DBProxy = "dbproxy"
	Route   = "route"
	File    = "file"
	Msfs    = "msfs"
	Login   = "login"
	Msg     = "msg"
	HTTPMsg = "httpmsg"
	Push    = "push"
)

// ServiceNames returns the eight service names in start order: dbproxy →
// route, file, msfs → login → msg → httpmsg, push.
func ServiceNames() []string {
	return []string{DBProxy, Route, File, Msfs, Login, Msg, HTTPMsg, Push}
}

// Config is the whole configuration. Field tags are the TOML key names.
type Config struct {
	Services   []string   `toml:"services"`
	DataDir    string     `toml:"data_dir"`
	Log        Log        `toml:"log"`
	Supervisor Supervisor `toml:"supervisor"`
	Control    Control    `toml:"control"`
	Netloop    Netloop    `toml:"netloop"`
	Runtime    Runtime    `toml:"runtime"`
	Link       Link       `toml:"link"`
	TLS        TLS        `toml:"tls"`
	Login      LoginCfg   `toml:"login"`
	Msg        MsgCfg     `toml:"msg"`
	Route      RouteCfg   `toml:"route"`
	DBProxy    DBProxyCfg `toml:"dbproxy"`
	File       FileCfg    `toml:"file"`
	Msfs       MsfsCfg    `toml:"msfs"`
	HTTPMsg    HTTPMsgCfg `toml:"httpmsg"`
	Push       PushCfg    `toml:"push"`
	Store      Store      `toml:"store"`
	Metrics    Metrics    `toml:"metrics"`
}

// Log configures logging. Level can change on SIGHUP.
type Log struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // text or json
}

// Supervisor configures start, stop and restart.
type Supervisor struct {
	StopTimeout       Duration `toml:"stop_timeout"`
	StartTimeout      Duration `toml:"start_timeout"`
	RestartBackoffMin Duration `toml:"restart_backoff_min"`
	RestartBackoffMax Duration `toml:"restart_backoff_max"`
	EventsKept        int      `toml:"events_kept"`
	HistoryKept       int      `toml:"history_kept"`
	// TestHooks enables the control API's fault-injection endpoints
	// (ctlapi.PathPanic), which the reliability tests use against the
	// real binary. Never on in production.
	TestHooks bool `toml:"test_hooks"`
}

// Runtime tunes the Go runtime of teamtalkd. The GOGC and GOMEMLIMIT
// environment variables, when set, win over these keys.
type Runtime struct {
	// GCPercent is the garbage collector's target heap growth (GOGC):
	// higher spends memory to save CPU; -1 turns the collector off (only
	// sensible with a memory limit).
	GCPercent int `toml:"gc_percent"`
	// MemoryLimitMB is a soft limit on the process's memory in MiB
	// (GOMEMLIMIT); 0 means none. With it, a higher gc_percent is safe.
	MemoryLimitMB int `toml:"memory_limit_mb"`
}

// Control configures the control API socket.
type Control struct {
	Socket string `toml:"socket"`
}

// Netloop configures the event loops of every TCP service.
type Netloop struct {
	Loops int `toml:"loops"`
}

// Link configures every server-to-server link.
type Link struct {
	Heartbeat    Duration `toml:"heartbeat"`
	Timeout      Duration `toml:"timeout"`
	ReconnectMin Duration `toml:"reconnect_min"`
	ReconnectMax Duration `toml:"reconnect_max"`
}

// TLS is the certificate of every TLS listener: msg.tls_listen,
// login.http_tls, msfs.tls and httpmsg.tls. Plain TCP stays the default
// (TeamTalk's own clients do not speak TLS); TLS is for our clients and for
// operators who front the appliance. On SIGHUP the files are read again.
type TLS struct {
	// CertFile is the PEM certificate chain (leaf first); KeyFile its
	// PEM private key. Both are required when any listener uses TLS.
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
	// HandshakeTimeout closes a TLS connection whose handshake has not
	// completed in time (a silent or plain-TCP client).
	HandshakeTimeout Duration `toml:"handshake_timeout"`
}

// TLSEnabled reports whether any listener of c uses TLS.
func (c *Config) TLSEnabled() bool {
	return c.Msg.TLSListen != "" || c.Login.HTTPTLS || c.Msfs.TLS || c.HTTPMsg.TLS
}

// LoginCfg configures the login service.
type LoginCfg struct {
	HTTPListen      string   `toml:"http_listen"`
	ClientListen    string   `toml:"client_listen"`
	MsgServerListen string   `toml:"msgserver_listen"`
	MsfsURL         string   `toml:"msfs_url"`
	DiscoveryURL    string   `toml:"discovery_url"`
	HTTPIdleTimeout Duration `toml:"http_idle_timeout"`
	// HTTPTLS serves http_listen as HTTPS with the [tls] certificate.
	HTTPTLS bool `toml:"http_tls"`
}

// MsgCfg configures the msg service.
type MsgCfg struct {
	Listen string `toml:"listen"`
	// TLSListen is a second client port that speaks TLS ([tls]
	// certificate) and is served like listen; empty: none. login keeps
	// handing out listen's port (TeamTalk clients do not speak TLS).
	TLSListen         string   `toml:"tls_listen"`
	AdvertiseIP1      string   `toml:"advertise_ip1"`
	AdvertiseIP2      string   `toml:"advertise_ip2"`
	MaxConns          int      `toml:"max_conns"`
	MaxMsgsPerSecond  int      `toml:"max_msgs_per_second"`
	DBProxy           []string `toml:"dbproxy"`
	DBProxyConns      int      `toml:"dbproxy_conns"`
	Route             []string `toml:"route"`
	Login             []string `toml:"login"`
	File              []string `toml:"file"`
	Push              string   `toml:"push"`
	AESKey            string   `toml:"aes_key"`
	LoginTimeout      Duration `toml:"login_timeout"`
	PCIdleTimeout     Duration `toml:"pc_idle_timeout"`
	MobileIdleTimeout Duration `toml:"mobile_idle_timeout"`
	// LoginFailPerIP is how many failed logins from one source address msg
	// tolerates within LoginFailWindow; past it, logins from that address
	// are refused (result 6) without asking db until the window that began
	// with its first failure ends. 0 disables it. dbproxy limits per name
	// (dbproxy.login_fail_limit).
	LoginFailPerIP int `toml:"login_fail_per_ip"`
	// LoginFailWindow is the window of LoginFailPerIP.
	LoginFailWindow Duration `toml:"login_fail_window"`
	// WriteBound is the most bytes msg queues for one client connection
	// beyond what its socket takes; a client that does not read past it
	// is closed and counted as a slow reader. One whole frame is always
	// admitted to an empty queue.
	WriteBound int `toml:"write_bound"`
}

// RouteCfg configures the route service.
type RouteCfg struct {
	Listen string `toml:"listen"`
}

// DBProxyCfg configures the dbproxy service.
type DBProxyCfg struct {
	Listen  string `toml:"listen"`
	Workers int    `toml:"workers"`
	MsfsURL string `toml:"msfs_url"`
	AESKey  string `toml:"aes_key"`
	// LoginFailLimit is how many failed logins of one name are tolerated
	// within LoginFailWindow; past it, logins of that name are refused
	// (result 6) until the oldest failures expire (PROTOCOL.md §7.2).
	LoginFailLimit int `toml:"login_fail_limit"`
	// LoginFailWindow is how long a failed login is remembered.
	LoginFailWindow Duration `toml:"login_fail_window"`
	// MaxGroupMembers bounds a group's size: creating a group with more
	// members, or adding members past it, is refused (result 1). Default
	// 500 like the reference's clients; at most MaxGroupMembersLimit.
	MaxGroupMembers int `toml:"max_group_members"`
}

// MaxGroupMembersLimit is the largest dbproxy.max_group_members accepted.
const MaxGroupMembersLimit = 10000

// FileCfg configures the file service.
type FileCfg struct {
	ClientListen      string   `toml:"client_listen"`
	MsgListen         string   `toml:"msg_listen"`
	Advertise         []string `toml:"advertise"`
	Dir               string   `toml:"dir"`
	TaskTimeout       Duration `toml:"task_timeout"`
	ClientIdleTimeout Duration `toml:"client_idle_timeout"`
	// MaxFileSize is the largest transfer accepted, in bytes (the protocol's
	// file_size is a uint32, so at most 4294967295).
	MaxFileSize int64 `toml:"max_file_size"`
	// Retention is how long an offline file is kept on disk after its upload.
	Retention Duration `toml:"retention"`
}

// MsfsCfg configures the msfs service.
type MsfsCfg struct {
	Listen      string   `toml:"listen"`
	Dir         string   `toml:"dir"`
	FilesPerDir int      `toml:"files_per_dir"`
	IdleTimeout Duration `toml:"idle_timeout"`
	// MaxFileSize is the largest file stored, in bytes (the reference: 5 MiB);
	// a larger one is refused with error_code 1.
	MaxFileSize int64 `toml:"max_file_size"`
	// MaxRequestSize is the largest upload request body, in bytes (the
	// reference: 10 MiB); a larger one is refused with error_code 1 unread.
	MaxRequestSize int64 `toml:"max_request_size"`
	// TLS serves listen as HTTPS with the [tls] certificate (set
	// login.msfs_url to the https URL clients should use).
	TLS bool `toml:"tls"`
}

// HTTPMsgCfg configures the httpmsg service.
type HTTPMsgCfg struct {
	Listen       string   `toml:"listen"`
	DBProxy      []string `toml:"dbproxy"`
	DBProxyConns int      `toml:"dbproxy_conns"`
	Route        []string `toml:"route"`
	// APIKeys are the accepted app_key values; with none, every request is
	// refused (error_code 2).
	APIKeys     []string `toml:"api_keys"`
	IdleTimeout Duration `toml:"idle_timeout"`
	// RequestTimeout bounds the wait for db's answer to one request.
	RequestTimeout Duration `toml:"request_timeout"`
	// SystemUserID sends /query/SendMessage notices whose req_user_id is 0;
	// 0 here means such requests are refused.
	SystemUserID uint32 `toml:"system_user_id"`
	// TLS serves listen as HTTPS with the [tls] certificate.
	TLS bool `toml:"tls"`
}

// PushCfg configures the push service.
type PushCfg struct {
	Listen string `toml:"listen"`
	// APNsKeyFile is the token-auth key (.p8, PKCS#8 PEM) from Apple's
	// developer account; empty: no APNs (iOS tokens fail).
	APNsKeyFile string `toml:"apns_key_file"`
	APNsKeyID   string `toml:"apns_key_id"`
	APNsTeamID  string `toml:"apns_team_id"`
	APNsTopic   string `toml:"apns_topic"`
	APNsSandbox bool   `toml:"apns_sandbox"`
	// APNsURL overrides the APNs endpoint (default Apple's production or
	// sandbox host by apns_sandbox).
	APNsURL string `toml:"apns_url"`
	// APNsCAFile adds PEM roots trusted for the APNs endpoint (tests,
	// proxies); empty: the system roots.
	APNsCAFile string `toml:"apns_ca_file"`
	// Retries is how many times a delivery answered 429 or 5xx (or failed
	// in transport) is retried, with exponential backoff.
	Retries int `toml:"retries"`
	// Workers is how many deliveries run at once.
	Workers int `toml:"workers"`
	// RequestTimeout bounds one HTTP request to APNs or the webhook.
	RequestTimeout Duration `toml:"request_timeout"`
	WebhookURL     string   `toml:"webhook_url"`
}

// Store chooses the IM store.
type Store struct {
	Backend string `toml:"backend"` // bolt or mysql
	MySQL   MySQL  `toml:"mysql"`
}

// MySQL configures the MySQL store.
type MySQL struct {
	DSN      string `toml:"dsn"`
	MaxConns int    `toml:"max_conns"`
	// Committers is how many message committers write batches at once
	// (mysqlstore.Options.Committers); each has a connection of its own,
	// besides the max_conns of the main pool.
	Committers int `toml:"committers"`
	// CreateSchema lets teamtalkd create TeamTalk's tables when the
	// database has none (mysqlstore.Options.CreateSchema); off, such a
	// database is refused until `teamtalkd -init-db` ran.
	CreateSchema bool `toml:"create_schema"`
}

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	Listen string `toml:"listen"` // empty: no endpoint
	// Pprof serves net/http/pprof under /debug/pprof/ on the same address.
	// Off by default: profiles expose internals and cost CPU while taken.
	Pprof bool `toml:"pprof"`
}

// Default returns the built-in configuration: every service on 127.0.0.1 with
// TeamTalk's default ports, data in ./var.
func Default() *Config {
	return &Config{
		Services: []string{"all"},
		DataDir:  "./var",
		Log:      Log{Level: "info", Format: "text"},
		Supervisor: Supervisor{
			StopTimeout:       Duration(10 * time.Second),
			StartTimeout:      Duration(60 * time.Second),
			RestartBackoffMin: Duration(100 * time.Millisecond),
			RestartBackoffMax: Duration(30 * time.Second),
			EventsKept:        10000,
			HistoryKept:       86400,
		},
		Netloop: Netloop{Loops: 1},
		Runtime: Runtime{GCPercent: 100},
		Link: Link{
			Heartbeat:    Duration(5 * time.Second),
			Timeout:      Duration(30 * time.Second),
			ReconnectMin: Duration(2 * time.Second),
			ReconnectMax: Duration(64 * time.Second),
		},
		TLS: TLS{HandshakeTimeout: Duration(10 * time.Second)},
		Login: LoginCfg{
			HTTPListen:      "127.0.0.1:8080",
			ClientListen:    "127.0.0.1:8008",
			MsgServerListen: "127.0.0.1:8100",
			MsfsURL:         "http://127.0.0.1:8700/",
			DiscoveryURL:    "",
			HTTPIdleTimeout: Duration(60 * time.Second),
		},
		Msg: MsgCfg{
			Listen:            "127.0.0.1:8000",
			AdvertiseIP1:      "127.0.0.1",
			AdvertiseIP2:      "127.0.0.1",
			MaxConns:          100000,
			MaxMsgsPerSecond:  20,
			DBProxy:           []string{"127.0.0.1:10600"},
			DBProxyConns:      1,
			Route:             []string{"127.0.0.1:8200"},
			Login:             []string{"127.0.0.1:8100"},
			File:              []string{"127.0.0.1:8601"},
			Push:              "127.0.0.1:8500",
			AESKey:            "12345678901234567890123456789012",
			LoginTimeout:      Duration(15 * time.Second),
			PCIdleTimeout:     Duration(120 * time.Second),
			MobileIdleTimeout: Duration(300 * time.Second),
			LoginFailPerIP:    50,
			LoginFailWindow:   Duration(10 * time.Minute),
			WriteBound:        4 << 20,
		},
		Route: RouteCfg{Listen: "127.0.0.1:8200"},
		DBProxy: DBProxyCfg{
			Listen:          "127.0.0.1:10600",
			Workers:         16,
			MsfsURL:         "http://127.0.0.1:8700",
			LoginFailLimit:  10,
			LoginFailWindow: Duration(30 * time.Minute),
			MaxGroupMembers: 500,
			AESKey:          "12345678901234567890123456789012",
		},
		File: FileCfg{
			ClientListen:      "127.0.0.1:8600",
			MsgListen:         "127.0.0.1:8601",
			Advertise:         []string{"127.0.0.1:8600"},
			Dir:               "",
			TaskTimeout:       Duration(60 * time.Second),
			ClientIdleTimeout: Duration(120 * time.Second),
			MaxFileSize:       1 << 30,
			Retention:         Duration(7 * 24 * time.Hour),
		},
		Msfs: MsfsCfg{
			Listen:         "127.0.0.1:8700",
			Dir:            "",
			FilesPerDir:    30000,
			IdleTimeout:    Duration(30 * time.Second),
			MaxFileSize:    5 << 20,
			MaxRequestSize: 10 << 20,
		},
		HTTPMsg: HTTPMsgCfg{
			Listen:         "127.0.0.1:8400",
			DBProxy:        []string{"127.0.0.1:10600"},
			DBProxyConns:   1,
			Route:          []string{"127.0.0.1:8200"},
			APIKeys:        []string{},
			IdleTimeout:    Duration(60 * time.Second),
			RequestTimeout: Duration(5 * time.Second),
		},
		Push: PushCfg{
			Listen:         "127.0.0.1:8500",
			APNsSandbox:    true,
			Retries:        3,
			Workers:        8,
			RequestTimeout: Duration(10 * time.Second),
		},
		Store: Store{
			Backend: "bolt",
			MySQL:   MySQL{DSN: "", MaxConns: 16, Committers: 4},
		},
		Metrics: Metrics{Listen: "127.0.0.1:9100"},
	}
}

// Enabled returns the services to run here, in start order.
func (c *Config) Enabled() []string {
	var out []string
	for _, name := range ServiceNames() {
		for _, s := range c.Services {
			if s == "all" || s == name {
				out = append(out, name)
				break
			}
		}
	}
	return out
}

// ListenKeys returns, for a service, its listen keys (the "role" names its
// bound addresses are published under) with their configured addresses; the
// first is the one a bare peer reference ("route") resolves to.
func (c *Config) ListenKeys(service string) [][2]string {
	switch service {
	case Login:
		return [][2]string{{"msgserver_listen", c.Login.MsgServerListen}, {"http_listen", c.Login.HTTPListen}, {"client_listen", c.Login.ClientListen}}
	case Msg:
		return [][2]string{{"listen", c.Msg.Listen}, {"tls_listen", c.Msg.TLSListen}}
	case Route:
		return [][2]string{{"listen", c.Route.Listen}}
	case DBProxy:
		return [][2]string{{"listen", c.DBProxy.Listen}}
	case File:
		return [][2]string{{"msg_listen", c.File.MsgListen}, {"client_listen", c.File.ClientListen}}
	case Msfs:
		return [][2]string{{"listen", c.Msfs.Listen}}
	case HTTPMsg:
		return [][2]string{{"listen", c.HTTPMsg.Listen}}
	case Push:
		return [][2]string{{"listen", c.Push.Listen}}
	}
	return nil
}
