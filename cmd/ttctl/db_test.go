package main

import (
	"path/filepath"
	"strings"
	"testing"

	"teamtalk/appliance/config"
)

func TestDBInit(t *testing.T) {
	boltSock, _, _ := liveStore(t)
	remoteSock, _ := liveWith(t, t.TempDir(), nil, nil, func(c *config.Config) { c.Services = []string{"route", "msg"} })
	tests := []struct {
		name   string
		socket string
		code   int
		want   string
	}{
		{name: "bolt needs nothing", socket: boltSock, want: "the bolt store needs no schema: nothing to do"},
		{name: "dbproxy elsewhere", socket: remoteSock, code: 1, want: "dbproxy runs on another host"},
		{name: "not running", socket: filepath.Join(t.TempDir(), "none.sock"), code: 1, want: "teamtalkd -init-db"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := ttctl(t, "db", "init", "-socket", tc.socket)
			if code != tc.code || !strings.Contains(out+errs, tc.want) {
				t.Fatalf("exit %d (want %d), stdout %q, stderr %q; want %q", code, tc.code, out, errs, tc.want)
			}
		})
	}
}
