package login

import (
	"net"
	"strings"
	"testing"

	"teamtalk/appliance/config"
	"teamtalk/daemons"
	"teamtalk/daemons/internal/servicetest"
)

func TestMsfsURLHandedOut(t *testing.T) {
	tests := []struct {
		name       string
		configured string
		published  string // msfs.listen in the address book; "" none
		want       string
	}{
		{"default with msfs here", "http://127.0.0.1:8700/", "127.0.0.1:41234", "http://127.0.0.1:41234/"},
		{"empty with msfs here", "", "127.0.0.1:41235", "http://127.0.0.1:41235/"},
		{"msfs on all addresses: the address login was reached on", "", "0.0.0.0:41236", "http://127.0.0.1:41236/"},
		{"explicit URL wins", "http://img.example.com:8700/", "127.0.0.1:41237", "http://img.example.com:8700/"},
		{"default without msfs here", "http://127.0.0.1:8700/", "", "http://127.0.0.1:8700/"},
		{"empty without msfs here", "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			book := &daemons.AddressBook{}
			if tc.published != "" {
				book.Publish("msfs.listen", tc.published)
			}
			r := startLoginWith(t, func(c *config.Config) { c.Login.MsfsURL = tc.configured }, book)
			m := dialMsg(t, r.msg)
			m.register("10.0.0.1", "10.0.0.2", 8000, 0, 100)
			want := `"msfsPrior" : "` + tc.want + `"`
			servicetest.Eventually(t, "msg server registered", func() bool { return r.svc.reg.Len() == 1 })
			got := string(getMsgServer(t, r.http))
			if !strings.Contains(got, want) || !strings.Contains(got, `"msfsBackup" : "`+tc.want+`"`) {
				t.Fatalf("answer\n%s\nwant %s", got, want)
			}
		})
	}
}

func TestBoundURL(t *testing.T) {
	tests := []struct {
		name, bound string
		local       net.Addr
		want        string
	}{
		{"loopback", "127.0.0.1:8700", nil, "http://127.0.0.1:8700/"},
		{"unspecified, reached on a LAN address", "0.0.0.0:8700", &net.TCPAddr{IP: net.ParseIP("192.168.1.5"), Port: 8080}, "http://192.168.1.5:8700/"},
		{"unspecified v6, reached on v6", "[::]:8700", &net.TCPAddr{IP: net.ParseIP("fd00::1"), Port: 8080}, "http://[fd00::1]:8700/"},
		{"unspecified, no local address", "0.0.0.0:8700", nil, "http://127.0.0.1:8700/"},
		{"a name", "img.local:8700", nil, "http://img.local:8700/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := boundURL(tc.bound, tc.local); got != tc.want {
				t.Fatalf("boundURL(%s) = %s, want %s", tc.bound, got, tc.want)
			}
		})
	}
}
