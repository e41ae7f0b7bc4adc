package pages

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"teamtalk/appliance/ctlapi"
	"teamtalk/tui/common"
	"teamtalk/tui/keymap"
	"teamtalk/tui/styles"
)

// TestMsgServersStale: a registration is STALE when login has heard nothing
// on its link for over StaleAfter; an idle server whose heartbeats arrive is
// not, however old its last load report. Without LastHeard (an older
// teamtalkd) the last load report decides.
func TestMsgServersStale(t *testing.T) {
	now := time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)
	tests := []struct {
		name           string
		updated, heard time.Duration // before now; 0 heard: not reported
		wantStale      bool
	}{
		{"idle but heard", 10 * time.Minute, 3 * time.Second, false},
		{"silent", 10 * time.Minute, 10 * time.Minute, true},
		{"just reported", 4 * time.Second, 4 * time.Second, false},
		{"older server, old report", 10 * time.Minute, 0, true},
		{"older server, fresh report", 4 * time.Second, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := lipgloss.NewRenderer(io.Discard)
			r.SetColorProfile(termenv.Ascii)
			c := &common.Common{Width: 120, Height: 20, Styles: styles.New(r, false), Keys: keymap.Default(), Location: time.UTC}
			p := NewMsgServers(c)
			p.SetSize(120, 20)
			m := ctlapi.MsgServer{Addr: "10.0.0.7:8000", IP1: "10.0.0.7", Port: 8000, MaxConns: 100, CurConns: 1,
				Registered: now.Add(-time.Hour), Updated: now.Add(-tc.updated)}
			if tc.heard != 0 {
				m.LastHeard = now.Add(-tc.heard)
			}
			p.SetData(&common.Data{Snap: ctlapi.Snapshot{Time: now, MsgServers: []ctlapi.MsgServer{m}}})
			v := p.View()
			var row string
			for _, l := range strings.Split(v, "\n") {
				if strings.Contains(l, "10.0.0.7:8000") {
					row = l
				}
			}
			if row == "" || !strings.Contains(v, "nothing heard for over 2m") {
				t.Fatalf("no row or legend in view:\n%s", v)
			}
			if stale := strings.Contains(row, "STALE"); stale != tc.wantStale {
				t.Fatalf("row %q: stale %v, want %v", row, stale, tc.wantStale)
			}
		})
	}
}
