package daemons

import (
	"testing"

	"teamtalk/appliance/config"
)

func TestResolve(t *testing.T) {
	cfg := config.Default()
	cfg.Route.Listen = "127.0.0.1:0"
	var b AddressBook
	b.Publish("login.msgserver_listen", "127.0.0.1:40001")
	tests := []struct {
		name, entry, want string
		bad               bool
	}{
		{name: "host port unchanged", entry: "10.0.0.1:8200", want: "10.0.0.1:8200"},
		{name: "published ref", entry: "login", want: "127.0.0.1:40001"},
		{name: "explicit key falls back to configured", entry: "login.http_listen", want: "127.0.0.1:8080"},
		{name: "port 0 unpublished", entry: "route", bad: true},
		{name: "not a ref", entry: "nowhere", bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := b.Resolve(cfg, tc.entry)
			if tc.bad != (err != nil) || got != tc.want {
				t.Fatalf("Resolve(%q) = %q, %v", tc.entry, got, err)
			}
		})
	}
}

func TestListenAddrReuse(t *testing.T) {
	d := Deps{Name: "route", Kind: config.Route, Config: config.Default(), Addrs: &AddressBook{}}
	if got := d.ListenAddr("listen", "127.0.0.1:0"); got != "127.0.0.1:0" {
		t.Fatalf("first run: %q", got)
	}
	d.Publish("listen", "127.0.0.1:41234")
	tests := []struct{ configured, want string }{
		{"127.0.0.1:0", "127.0.0.1:41234"},
		{"127.0.0.1:8200", "127.0.0.1:8200"},
	}
	for _, tc := range tests {
		if got := d.ListenAddr("listen", tc.configured); got != tc.want {
			t.Errorf("ListenAddr(%q) = %q, want %q", tc.configured, got, tc.want)
		}
	}
	if got, _ := d.Resolve("route"); got != "127.0.0.1:41234" {
		t.Errorf("Resolve(route) = %q", got)
	}
}
