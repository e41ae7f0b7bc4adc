package pages

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/x/ansi"

	"teamtalk/appliance/ctlapi"
	"teamtalk/tui/common"
	"teamtalk/tui/components"
)

// Overview shows every service with its state, uptime and restarts, the
// load with sparklines, and where the appliance runs from.
type Overview struct {
	c     *common.Common
	d     *common.Data
	tbl   *components.Table
	names []string // service name of each table row
	w, h  int
}

// NewOverview returns the Overview page.
func NewOverview(c *common.Common) *Overview {
	t := components.NewTable(c,
		components.Column{Title: "SERVICE", Width: 8},
		components.Column{Title: "KIND", Width: 7},
		components.Column{Title: "STATE", Width: 11},
		components.Column{Title: "UPTIME", Width: 6, Right: true},
		components.Column{Title: "RESTARTS", Width: 8, Right: true},
		components.Column{Title: "LAST ERROR", Width: 10, Flex: true},
	)
	t.Cursor = true
	t.Empty = "(no services configured)"
	return &Overview{c: c, tbl: t, d: &common.Data{}}
}

// Title implements Page.
func (p *Overview) Title() string { return "Overview" }

// SetSize implements Page.
func (p *Overview) SetSize(w, h int) { p.w, p.h = w, h; p.layout() }

// SetData implements Page.
func (p *Overview) SetData(d *common.Data) {
	p.d = d
	var rows []components.Row
	p.names = p.names[:0]
	for _, s := range d.Snap.Status.Services {
		uptime := "-"
		if s.State == ctlapi.StateRunning {
			uptime = common.Since(d.Snap.Time, s.Since)
		}
		state := string(s.State)
		if s.State == ctlapi.StateBackoff {
			state = "restarting"
		}
		cells := []string{s.Name, s.Kind, state, uptime, strconv.Itoa(s.Restarts), s.LastError}
		if !d.Match(cells...) {
			continue
		}
		mark := components.MarkNone
		switch s.State {
		case ctlapi.StateBackoff:
			mark = components.MarkBad
		case ctlapi.StateStarting, ctlapi.StateStopping:
			mark = components.MarkWarn
		case ctlapi.StateStopped, ctlapi.StateUnavailable:
			mark = components.MarkMuted
		}
		rows = append(rows, components.Row{Cells: cells, Mark: mark})
		p.names = append(p.names, s.Name)
	}
	p.tbl.SetRows(rows)
	p.layout()
}

func (p *Overview) layout() {
	// services table, then 1 blank + 5 load lines + 1 blank + 2 about lines.
	p.tbl.SetSize(p.w, max(min(p.tbl.Len()+1, p.h-9), 2))
}

// SelectedService implements ServicePicker.
func (p *Overview) SelectedService() string {
	if i := p.tbl.Selected(); i >= 0 && i < len(p.names) {
		return p.names[i]
	}
	return ""
}

// HandleKey implements Page.
func (p *Overview) HandleKey(k string) bool { return p.tbl.HandleKey(k) }

// ShortHelp implements Page.
func (p *Overview) ShortHelp() []key.Binding {
	return []key.Binding{p.c.Keys.Restart, p.c.Keys.Kick}
}

// View implements Page.
func (p *Overview) View() string {
	d, st := p.d, p.c.Styles
	var b strings.Builder
	b.WriteString(p.tbl.View())
	b.WriteString("\n\n")

	var online, logins, msgs []float64
	for _, h := range d.Snap.History {
		online = append(online, float64(h.Online))
		logins = append(logins, h.LoginsPerSec)
		msgs = append(msgs, h.MsgsPerSec)
	}
	cur := d.Snap.Status.Counters
	nOnline := max(cur.Online, uint64(len(d.Snap.Online)))
	conns := 0
	for _, u := range d.Snap.Online {
		conns += len(u.Clients)
	}
	delivered := -1.0
	if n := len(d.Delivered); n > 0 {
		delivered = d.Delivered[n-1]
	}
	lines := []struct {
		label, value string
		series       []float64
	}{
		{"Online users", fmt.Sprintf("%d (%d conns)", nOnline, conns), online},
		{"Logins/s", common.Rate(cur.LoginsPerSec), logins},
		{"Msgs/s in", common.Rate(cur.MsgsPerSec), msgs},
		{"Msgs/s delivered", common.Rate(delivered), d.Delivered},
	}
	sw := max(p.w-2-16-1-16-1, 0)
	for _, l := range lines {
		row := fmt.Sprintf("  %-16s %-16s ", l.label, l.value)
		b.WriteString(ansi.Truncate(row+st.Spark.Render(components.Sparkline(l.series, sw)), p.w, ""))
		b.WriteString("\n")
	}
	b.WriteString(st.Muted.Render(ansi.Truncate(fmt.Sprintf("  %-16s %s", "", "sparklines: one point a second, newest right"), p.w, "…")))
	b.WriteString("\n\n")
	s := d.Snap.Status
	up := common.Since(d.Snap.Time, s.Started)
	cfg := s.ConfigFile
	if cfg == "" {
		cfg = "(none: built-in defaults)"
	}
	b.WriteString(ansi.Truncate(fmt.Sprintf("  teamtalkd %s  pid %d  up %s  ready %t", s.Version, s.PID, up, s.Ready), p.w, "…"))
	b.WriteString("\n")
	b.WriteString(ansi.Truncate(fmt.Sprintf("  config %s  data %s", cfg, s.DataDir), p.w, "…"))
	return fit(b.String(), p.h)
}
