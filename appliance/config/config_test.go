package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func TestExampleEqualsDefaults(t *testing.T) {
	path := filepath.Join("..", "..", "teamtalkd.example.toml")
	cfg, err := Load(path, nil)
	if err != nil {
		t.Fatalf("Load example: %v", err)
	}
	if !reflect.DeepEqual(cfg, Default()) {
		a, _ := cfg.Encode()
		b, _ := Default().Encode()
		t.Fatalf("example differs from Default():\nexample:\n%s\ndefault:\n%s", a, b)
	}
	// Every key must be written out (documented) in the example.
	var m map[string]any
	md, err := toml.DecodeFile(path, &m)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, k := range md.Keys() {
		have[k.String()] = true
	}
	for k := range Default().Flatten() {
		if !have[k] {
			t.Errorf("key %s is not documented in teamtalkd.example.toml", k)
		}
	}
}

func TestDefaultsValid(t *testing.T) {
	if ps := Default().Validate(); len(ps) > 0 {
		t.Fatalf("defaults invalid: %v", ps)
	}
	if got := Default().Enabled(); !slices.Equal(got, ServiceNames()) {
		t.Fatalf("Enabled() = %v", got)
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name      string
		file      string // "" = no file
		sets      []string
		check     func(t *testing.T, c *Config)
		wantErr   []string // substrings of the error
		wantProbs int
	}{
		{name: "no file is defaults", check: func(t *testing.T, c *Config) {
			if !reflect.DeepEqual(c, Default()) {
				t.Error("not defaults")
			}
		}},
		{name: "file values", file: "services = [\"msg\", \"route\"]\n[msg]\nlisten = \"127.0.0.1:0\"\nlogin_timeout = \"200ms\"\ndbproxy = [\"dbproxy\"]\n",
			check: func(t *testing.T, c *Config) {
				if !slices.Equal(c.Services, []string{"msg", "route"}) || c.Msg.Listen != "127.0.0.1:0" || c.Msg.LoginTimeout.D().Milliseconds() != 200 {
					t.Errorf("got %+v", c.Msg)
				}
				if !slices.Equal(c.Msg.DBProxy, []string{"dbproxy"}) {
					t.Errorf("dbproxy = %v", c.Msg.DBProxy)
				}
				if c.Enabled()[0] != Route {
					t.Errorf("Enabled not in start order: %v", c.Enabled())
				}
			}},
		{name: "set overrides file", file: "[msg]\nmax_msgs_per_second = 5\n",
			sets: []string{"msg.max_msgs_per_second=0", `services=["msg"]`, "msg.listen=127.0.0.1:18000", "log.level=debug"},
			check: func(t *testing.T, c *Config) {
				if c.Msg.MaxMsgsPerSecond != 0 || c.Msg.Listen != "127.0.0.1:18000" || c.Log.Level != "debug" || !slices.Equal(c.Services, []string{"msg"}) {
					t.Errorf("got %+v %v %v", c.Msg, c.Log, c.Services)
				}
			}},
		{name: "set replaces a list", sets: []string{`msg.route=["route","10.0.0.2:8200"]`},
			check: func(t *testing.T, c *Config) {
				if !slices.Equal(c.Msg.Route, []string{"route", "10.0.0.2:8200"}) {
					t.Errorf("route = %v", c.Msg.Route)
				}
			}},
		{name: "unknown key with line", file: "data_dir = \"/x\"\n\n[msg]\nlisten = \"127.0.0.1:1\"\nmax_msg_per_second = 3\n",
			wantErr: []string{"msg.max_msg_per_second", "cfg.toml:5", "unknown key"}, wantProbs: 1},
		{name: "unknown table", file: "[nosuch]\nx = 1\n", wantErr: []string{"nosuch.x", "cfg.toml:2"}},
		{name: "bad type with line", file: "\n[msg]\nmax_conns = \"many\"\n", wantErr: []string{"msg.max_conns", "cfg.toml:3"}},
		{name: "bad duration", file: "[msg]\nlogin_timeout = \"soon\"\n", wantErr: []string{"msg.login_timeout", "cfg.toml:2", "bad duration"}},
		{name: "bad value with line", file: "[log]\nlevel = \"loud\"\n", wantErr: []string{"log.level", "cfg.toml:2", "loud"}},
		{name: "syntax error", file: "x = 1\n[msg\n", wantErr: []string{"cfg.toml:", "table name"}},
		{name: "unknown set key", sets: []string{"msg.nope=1"}, wantErr: []string{"-set: msg.nope: unknown key"}},
		{name: "bad set value", sets: []string{"msg.max_conns=lots"}, wantErr: []string{"-set: msg.max_conns"}},
		{name: "advertise unspecified", sets: []string{"msg.advertise_ip1=0.0.0.0"}, wantErr: []string{"msg.advertise_ip1"}},
		{name: "bad peer", sets: []string{`msg.route=["nowhere"]`}, wantErr: []string{"msg.route", "nowhere"}},
		{name: "unknown service", sets: []string{`services=["chat"]`}, wantErr: []string{"services", "chat"}},
		{name: "mysql needs dsn", sets: []string{"store.backend=mysql"}, wantErr: []string{"store.mysql.dsn"}},
		{name: "several problems at once", file: "[msg]\nmax_conns = 0\n[route]\nlisten = \"nohost\"\n", wantProbs: 2,
			wantErr: []string{"cfg.toml:2: msg.max_conns", "cfg.toml:4: route.listen"}},
		{name: "group size over the limit", sets: []string{"dbproxy.max_group_members=10001"}, wantErr: []string{"dbproxy.max_group_members", "10000"}},
		{name: "group size zero", sets: []string{"dbproxy.max_group_members=0"}, wantErr: []string{"dbproxy.max_group_members"}},
		{name: "tls listener needs cert and key", sets: []string{"msg.tls_listen=127.0.0.1:0"}, wantProbs: 2,
			wantErr: []string{"tls.cert_file", "tls.key_file", "msg.tls_listen"}},
		{name: "https needs a key", sets: []string{"login.http_tls=true", "tls.cert_file=/c.pem"}, wantProbs: 1, wantErr: []string{"tls.key_file"}},
		{name: "bad tls listen", sets: []string{"msg.tls_listen=nohost"}, wantErr: []string{"msg.tls_listen"}},
		{name: "tls configured", sets: []string{"msfs.tls=true", "httpmsg.tls=true", "tls.cert_file=/c.pem", "tls.key_file=/k.pem"},
			check: func(t *testing.T, c *Config) {
				if !c.TLSEnabled() || c.TLS.HandshakeTimeout.D() != 10*time.Second {
					t.Errorf("TLSEnabled %v, handshake %s", c.TLSEnabled(), c.TLS.HandshakeTimeout)
				}
			}},
		{name: "long socket", sets: []string{"control.socket=/" + strings.Repeat("s", 120)}, wantErr: []string{"control.socket", "108"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.file != "" {
				path = filepath.Join(t.TempDir(), "cfg.toml")
				if err := os.WriteFile(path, []byte(tc.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var ovs []Override
			for _, s := range tc.sets {
				o, err := ParseSet(s)
				if err != nil {
					t.Fatal(err)
				}
				ovs = append(ovs, o)
			}
			cfg, err := Load(path, ovs)
			if len(tc.wantErr) > 0 || tc.wantProbs > 0 {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				var ps Problems
				if tc.wantProbs > 0 && (!errors.As(err, &ps) || len(ps) != tc.wantProbs) {
					t.Errorf("want %d problems, got %v", tc.wantProbs, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			tc.check(t, cfg)
		})
	}
}

func TestParseSet(t *testing.T) {
	tests := []struct {
		name, arg, key, value string
		bad                   bool
	}{
		{name: "int", arg: "msg.max_conns=10", key: "msg.max_conns", value: "10"},
		{name: "bare word", arg: "log.level=debug", key: "log.level", value: `"debug"`},
		{name: "address", arg: "msg.listen=127.0.0.1:0", key: "msg.listen", value: `"127.0.0.1:0"`},
		{name: "list", arg: `services=["msg"]`, key: "services", value: `["msg"]`},
		{name: "quoted", arg: `data_dir="/a b"`, key: "data_dir", value: `"/a b"`},
		{name: "no equals", arg: "msg.listen", bad: true},
		{name: "bad key", arg: "a b=1", bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := ParseSet(tc.arg)
			if tc.bad {
				if err == nil {
					t.Fatalf("ParseSet(%q) accepted", tc.arg)
				}
				return
			}
			if err != nil || o.Key != tc.key || o.Value != tc.value {
				t.Fatalf("ParseSet(%q) = %+v, %v", tc.arg, o, err)
			}
		})
	}
}

func TestDiff(t *testing.T) {
	a, b := Default(), Default()
	b.Log.Level = "debug"
	b.Msg.MaxMsgsPerSecond = 0
	b.Route.Listen = "127.0.0.1:9"
	live, restart := Diff(a, b)
	if !slices.Equal(live, []string{"log.level", "msg.max_msgs_per_second"}) || !slices.Equal(restart, []string{"route.listen"}) {
		t.Fatalf("Diff = %v, %v", live, restart)
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	data, err := Default().Encode()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "x.toml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path, nil)
	if err != nil {
		t.Fatalf("re-load printed config: %v", err)
	}
	if !reflect.DeepEqual(cfg, Default()) {
		t.Fatal("printed config does not round-trip")
	}
}

func TestParseRef(t *testing.T) {
	c := Default()
	tests := []struct{ ref, svc, key string }{
		{"route", "route", "listen"},
		{"login", "login", "msgserver_listen"},
		{"login.http_listen", "login", "http_listen"},
		{"file", "file", "msg_listen"},
		{"bogus", "", ""},
		{"route.nope", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.ref, func(t *testing.T) {
			s, k, ok := c.ParseRef(tc.ref)
			if ok != (tc.svc != "") || s != tc.svc || k != tc.key {
				t.Fatalf("ParseRef(%q) = %q %q %v", tc.ref, s, k, ok)
			}
		})
	}
}
