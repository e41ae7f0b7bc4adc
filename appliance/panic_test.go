package appliance

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"teamtalk/appliance/appliancetest"
	"teamtalk/appliance/ctlapi"
)

func TestInjectedPanic(t *testing.T) {
	tests := []struct {
		name   string
		hooks  bool
		svc    string
		status int // 0: accepted
	}{
		{name: "hooks off", hooks: false, svc: "route", status: http.StatusForbidden},
		{name: "unknown service", hooks: true, svc: "nope", status: http.StatusNotFound},
		{name: "running service", hooks: true, svc: "route"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fakes := &appliancetest.Fakes{}
			h := newHarness(t, fakes, func(o *Options) { o.Config.Supervisor.TestHooks = tc.hooks })
			h.waitReady(t)
			msgAddr := fakes.Live("msg").Addr()
			_, err := h.sup.Panic(tc.svc)
			if tc.status != 0 {
				var ce *ctlapi.Error
				if !errors.As(err, &ce) || ce.Status != tc.status {
					t.Fatalf("err = %v, want status %d", err, tc.status)
				}
				if fakes.Runs("route") != 1 {
					t.Fatalf("route ran %d times after a refused panic", fakes.Runs("route"))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, "route restarted", func() bool {
				return fakes.Runs(tc.svc) == 2 && h.sup.unitState(tc.svc) == ctlapi.StateRunning
			})
			echo(t, fakes.Live(tc.svc).Addr()) // the old run released its port
			echo(t, msgAddr)
			if fakes.Runs("msg") != 1 {
				t.Errorf("msg ran %d times", fakes.Runs("msg"))
			}
			for _, s := range h.sup.Services() {
				if s.Name == tc.svc && (s.Restarts != 1 || !strings.Contains(s.LastError, "panic: injected")) {
					t.Errorf("status after the panic: %+v", s)
				}
			}
		})
	}
}
