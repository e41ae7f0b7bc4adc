package config

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Validate checks every value and returns the problems found (none: valid).
// Problems carry the key; Load adds where it was set.
func (c *Config) Validate() []Problem {
	var ps []Problem
	bad := func(key, format string, args ...any) {
		ps = append(ps, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	names := ServiceNames()
	for _, s := range c.Services {
		if s != "all" && !slices.Contains(names, s) {
			bad("services", "unknown service %q (want \"all\" or some of %s)", s, strings.Join(names, ", "))
		}
	}
	if c.DataDir == "" {
		bad("data_dir", "must not be empty")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q is not one of text, json", c.Log.Format)
	}
	positive := func(key string, d Duration) {
		if d <= 0 {
			bad(key, "must be a positive duration, got %s", d)
		}
	}
	sv := c.Supervisor
	positive("supervisor.stop_timeout", sv.StopTimeout)
	positive("supervisor.start_timeout", sv.StartTimeout)
	positive("supervisor.restart_backoff_min", sv.RestartBackoffMin)
	positive("supervisor.restart_backoff_max", sv.RestartBackoffMax)
	if sv.RestartBackoffMin > sv.RestartBackoffMax {
		bad("supervisor.restart_backoff_min", "%s is above restart_backoff_max %s", sv.RestartBackoffMin, sv.RestartBackoffMax)
	}
	if sv.EventsKept < 10 {
		bad("supervisor.events_kept", "must be at least 10, got %d", sv.EventsKept)
	}
	if sv.HistoryKept < 60 {
		bad("supervisor.history_kept", "must be at least 60 (one minute), got %d", sv.HistoryKept)
	}
	if n := len(c.Control.Socket); n >= 108 {
		bad("control.socket", "path is %d bytes; a unix socket path must stay under 108", n)
	}
	if c.Netloop.Loops < 1 || c.Netloop.Loops > 256 {
		bad("netloop.loops", "must be 1..256, got %d", c.Netloop.Loops)
	}
	if r := c.Runtime; r.GCPercent < -1 || r.GCPercent == 0 || r.GCPercent > 10000 {
		bad("runtime.gc_percent", "must be -1 (off) or 1..10000, got %d", r.GCPercent)
	}
	if r := c.Runtime; r.MemoryLimitMB < 0 {
		bad("runtime.memory_limit_mb", "must be 0 (none) or positive, got %d", r.MemoryLimitMB)
	}
	if r := c.Runtime; r.GCPercent == -1 && r.MemoryLimitMB == 0 {
		bad("runtime.gc_percent", "-1 turns the collector off: set runtime.memory_limit_mb too")
	}
	positive("link.heartbeat", c.Link.Heartbeat)
	positive("link.timeout", c.Link.Timeout)
	positive("link.reconnect_min", c.Link.ReconnectMin)
	positive("link.reconnect_max", c.Link.ReconnectMax)
	if c.Link.Timeout <= c.Link.Heartbeat {
		bad("link.timeout", "%s must exceed link.heartbeat %s", c.Link.Timeout, c.Link.Heartbeat)
	}
	if c.Link.ReconnectMin > c.Link.ReconnectMax {
		bad("link.reconnect_min", "%s is above reconnect_max %s", c.Link.ReconnectMin, c.Link.ReconnectMax)
	}

	listen := func(key, addr string, optional bool) {
		if addr == "" && optional {
			return
		}
		if err := checkHostPort(addr); err != nil {
			bad(key, "%v", err)
		}
	}
	peers := func(key string, list []string, min int) {
		if len(list) < min {
			bad(key, "needs at least %d entry", min)
		}
		for _, p := range list {
			if err := c.checkPeer(p); err != nil {
				bad(key, "%v", err)
			}
		}
	}
	httpURL := func(key, s string, optional bool) {
		if s == "" && optional {
			return
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(key, "%q is not an http(s) URL with a host", s)
		}
	}
	advertise := func(key, ip string) {
		a := net.ParseIP(ip)
		if ip == "" || (a != nil && a.IsUnspecified()) {
			bad(key, "%q cannot be advertised to clients (give an address they can reach)", ip)
		}
	}
	aes := func(key, k string) {
		if len(k) != 32 {
			bad(key, "must be exactly 32 characters (the clients' key), got %d", len(k))
		}
	}

	listen("login.http_listen", c.Login.HTTPListen, false)
	listen("login.client_listen", c.Login.ClientListen, true)
	listen("login.msgserver_listen", c.Login.MsgServerListen, false)
	httpURL("login.msfs_url", c.Login.MsfsURL, true)
	httpURL("login.discovery_url", c.Login.DiscoveryURL, true)
	positive("login.http_idle_timeout", c.Login.HTTPIdleTimeout)

	m := c.Msg
	listen("msg.listen", m.Listen, false)
	advertise("msg.advertise_ip1", m.AdvertiseIP1)
	advertise("msg.advertise_ip2", m.AdvertiseIP2)
	if m.MaxConns < 1 {
		bad("msg.max_conns", "must be positive, got %d", m.MaxConns)
	}
	if m.MaxMsgsPerSecond < 0 {
		bad("msg.max_msgs_per_second", "must be 0 (no limit) or positive, got %d", m.MaxMsgsPerSecond)
	}
	peers("msg.dbproxy", m.DBProxy, 1)
	peers("msg.route", m.Route, 1)
	peers("msg.login", m.Login, 1)
	peers("msg.file", m.File, 0)
	if m.Push != "" {
		peers("msg.push", []string{m.Push}, 1)
	}
	if m.DBProxyConns < 1 {
		bad("msg.dbproxy_conns", "must be positive, got %d", m.DBProxyConns)
	}
	aes("msg.aes_key", m.AESKey)
	positive("msg.login_timeout", m.LoginTimeout)
	positive("msg.pc_idle_timeout", m.PCIdleTimeout)
	positive("msg.mobile_idle_timeout", m.MobileIdleTimeout)
	if m.LoginFailPerIP < 0 {
		bad("msg.login_fail_per_ip", "must not be negative, got %d", m.LoginFailPerIP)
	}
	positive("msg.login_fail_window", m.LoginFailWindow)
	if m.WriteBound < 4096 {
		bad("msg.write_bound", "must be at least 4096 bytes, got %d", m.WriteBound)
	}

	listen("route.listen", c.Route.Listen, false)
	listen("dbproxy.listen", c.DBProxy.Listen, false)
	if c.DBProxy.Workers < 1 {
		bad("dbproxy.workers", "must be positive, got %d", c.DBProxy.Workers)
	}
	httpURL("dbproxy.msfs_url", c.DBProxy.MsfsURL, false)
	aes("dbproxy.aes_key", c.DBProxy.AESKey)
	if c.DBProxy.LoginFailLimit < 1 {
		bad("dbproxy.login_fail_limit", "must be positive, got %d", c.DBProxy.LoginFailLimit)
	}
	positive("dbproxy.login_fail_window", c.DBProxy.LoginFailWindow)
	if n := c.DBProxy.MaxGroupMembers; n < 1 || n > MaxGroupMembersLimit {
		bad("dbproxy.max_group_members", "must be between 1 and %d, got %d", MaxGroupMembersLimit, n)
	}

	listen("file.client_listen", c.File.ClientListen, false)
	listen("file.msg_listen", c.File.MsgListen, false)
	for _, a := range c.File.Advertise {
		host, _, err := net.SplitHostPort(a)
		if err == nil {
			if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
				err = fmt.Errorf("unspecified address")
			}
		}
		if err != nil {
			bad("file.advertise", "%q cannot be advertised to clients: %v", a, err)
		}
	}
	positive("file.task_timeout", c.File.TaskTimeout)
	positive("file.client_idle_timeout", c.File.ClientIdleTimeout)
	if c.File.MaxFileSize < 1 || c.File.MaxFileSize > 1<<32-1 {
		bad("file.max_file_size", "must be between 1 and 4294967295 bytes, got %d", c.File.MaxFileSize)
	}
	positive("file.retention", c.File.Retention)

	listen("msfs.listen", c.Msfs.Listen, false)
	if c.Msfs.FilesPerDir < 1 {
		bad("msfs.files_per_dir", "must be positive, got %d", c.Msfs.FilesPerDir)
	}
	positive("msfs.idle_timeout", c.Msfs.IdleTimeout)
	if c.Msfs.MaxFileSize < 1 {
		bad("msfs.max_file_size", "must be positive, got %d", c.Msfs.MaxFileSize)
	}
	if c.Msfs.MaxRequestSize < c.Msfs.MaxFileSize {
		bad("msfs.max_request_size", "%d is below max_file_size %d (the multipart framing needs room too)", c.Msfs.MaxRequestSize, c.Msfs.MaxFileSize)
	}

	listen("httpmsg.listen", c.HTTPMsg.Listen, false)
	peers("httpmsg.dbproxy", c.HTTPMsg.DBProxy, 1)
	peers("httpmsg.route", c.HTTPMsg.Route, 1)
	if c.HTTPMsg.DBProxyConns < 1 {
		bad("httpmsg.dbproxy_conns", "must be positive, got %d", c.HTTPMsg.DBProxyConns)
	}
	positive("httpmsg.idle_timeout", c.HTTPMsg.IdleTimeout)
	positive("httpmsg.request_timeout", c.HTTPMsg.RequestTimeout)
	for i, k := range c.HTTPMsg.APIKeys {
		if len(k) < 16 {
			bad("httpmsg.api_keys", "key %d is %d characters; use at least 16", i+1, len(k))
		}
	}

	listen("push.listen", c.Push.Listen, false)
	httpURL("push.webhook_url", c.Push.WebhookURL, true)
	httpURL("push.apns_url", c.Push.APNsURL, true)
	if c.Push.APNsKeyFile != "" {
		for _, kv := range [][2]string{{"push.apns_key_id", c.Push.APNsKeyID}, {"push.apns_team_id", c.Push.APNsTeamID}, {"push.apns_topic", c.Push.APNsTopic}} {
			if kv[1] == "" {
				bad(kv[0], "required when push.apns_key_file is set")
			}
		}
	}
	if c.Push.Retries < 0 || c.Push.Retries > 10 {
		bad("push.retries", "must be 0..10, got %d", c.Push.Retries)
	}
	if c.Push.Workers < 1 {
		bad("push.workers", "must be positive, got %d", c.Push.Workers)
	}
	positive("push.request_timeout", c.Push.RequestTimeout)

	switch c.Store.Backend {
	case "bolt":
	case "mysql":
		if c.Store.MySQL.DSN == "" {
			bad("store.mysql.dsn", "required when store.backend is \"mysql\"")
		}
	default:
		bad("store.backend", "%q is not one of bolt, mysql", c.Store.Backend)
	}
	if c.Store.MySQL.MaxConns < 1 {
		bad("store.mysql.max_conns", "must be positive, got %d", c.Store.MySQL.MaxConns)
	}
	if m := c.Store.MySQL; m.Committers < 1 || m.Committers > 64 {
		bad("store.mysql.committers", "must be between 1 and 64, got %d", m.Committers)
	}
	listen("metrics.listen", c.Metrics.Listen, true)

	listen("msg.tls_listen", c.Msg.TLSListen, true)
	positive("tls.handshake_timeout", c.TLS.HandshakeTimeout)
	if c.TLSEnabled() {
		if c.TLS.CertFile == "" {
			bad("tls.cert_file", "required when a listener uses TLS (msg.tls_listen, login.http_tls, msfs.tls, httpmsg.tls)")
		}
		if c.TLS.KeyFile == "" {
			bad("tls.key_file", "required when a listener uses TLS (msg.tls_listen, login.http_tls, msfs.tls, httpmsg.tls)")
		}
	}
	return ps
}

func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	if host != "" && net.ParseIP(host) == nil && strings.ContainsAny(host, " /") {
		return fmt.Errorf("%q has a bad host", addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has a bad port (want 0..65535)", addr)
	}
	return nil
}

// checkPeer accepts host:port or a reference to a service's listen key.
func (c *Config) checkPeer(p string) error {
	if strings.Contains(p, ":") {
		return checkHostPort(p)
	}
	if _, _, ok := c.ParseRef(p); !ok {
		return fmt.Errorf("%q is neither host:port nor a service reference such as \"route\" or \"login.msgserver_listen\"", p)
	}
	return nil
}

// ParseRef parses a peer reference: "route" names route's first listen key,
// "login.http_listen" a given one. It reports whether ref is one.
func (c *Config) ParseRef(ref string) (service, key string, ok bool) {
	service, key, _ = strings.Cut(ref, ".")
	keys := c.ListenKeys(service)
	if len(keys) == 0 {
		return "", "", false
	}
	if key == "" {
		return service, keys[0][0], true
	}
	for _, k := range keys {
		if k[0] == key {
			return service, key, true
		}
	}
	return "", "", false
}
