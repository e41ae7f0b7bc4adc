package pages

import (
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"

	"teamtalk/appliance/ctlapi"
	"teamtalk/tui/common"
	"teamtalk/tui/components"
)

// DefaultStaleAfter is how long login may hear nothing on a registration's
// link (no frame at all: a heartbeat counts, as an idle msg server's load does
// not change) before the Msg servers page marks it.
const DefaultStaleAfter = 2 * time.Minute

// MsgServers lists the msg servers registered with login, marking those gone
// silent and local msg services that have no registration.
type MsgServers struct {
	c          *common.Common
	d          *common.Data
	tbl        *components.Table
	missing    []string
	StaleAfter time.Duration
	w, h       int
}

// NewMsgServers returns the Msg servers page.
func NewMsgServers(c *common.Common) *MsgServers {
	t := components.NewTable(c,
		components.Column{Title: "ADDRESS", Width: 21},
		components.Column{Title: "CONNS", Width: 11, Right: true},
		components.Column{Title: "REPORTED", Width: 8, Right: true},
		components.Column{Title: "REGISTERED", Width: 10, Right: true},
		components.Column{Title: "STATUS", Width: 5},
		components.Column{Title: "HOST / LOGIN", Width: 8, Flex: true},
	)
	t.Cursor = true
	t.Empty = "(no msg server registered)"
	return &MsgServers{c: c, tbl: t, d: &common.Data{}, StaleAfter: DefaultStaleAfter}
}

// Title implements Page.
func (p *MsgServers) Title() string { return "Msg servers" }

// SetSize implements Page.
func (p *MsgServers) SetSize(w, h int) { p.w, p.h = w, h; p.layout() }

func (p *MsgServers) layout() { p.tbl.SetSize(p.w, max(p.h-2-len(p.missing), 2)) }

// SetData implements Page.
func (p *MsgServers) SetData(d *common.Data) {
	p.d = d
	now := d.Snap.Time
	ms := append(d.Snap.MsgServers[:0:0], d.Snap.MsgServers...)
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].Addr < ms[j].Addr })
	ports := map[string]bool{}
	var rows []components.Row
	for _, m := range ms {
		ports[fmt.Sprint(m.Port)] = true
		status, mark := "ok", components.MarkNone
		if heard := lastHeard(m); !heard.IsZero() && now.Sub(heard) > p.StaleAfter {
			status, mark = "STALE", components.MarkWarn
		}
		if m.MaxConns > 0 && m.CurConns >= m.MaxConns {
			status, mark = "FULL", components.MarkBad
		}
		host := m.Hostname
		if m.Login != "" {
			host += " @" + m.Login
		}
		cells := []string{m.Addr, fmt.Sprintf("%d/%d", m.CurConns, m.MaxConns), common.Since(now, m.Updated),
			common.Since(now, m.Registered), status, strings.TrimSpace(host)}
		if d.Match(cells...) {
			rows = append(rows, components.Row{Cells: cells, Mark: mark})
		}
	}
	p.tbl.SetRows(rows)
	// A running local msg service whose port no registration carries has not registered.
	p.missing = p.missing[:0]
	for _, s := range d.Snap.Services {
		if s.Kind != "msg" || s.State != "running" {
			continue
		}
		_, port, err := net.SplitHostPort(s.Listen["listen"])
		if err == nil && !ports[port] {
			p.missing = append(p.missing, fmt.Sprintf("! %s (port %s) is running but not registered with any login", s.Name, port))
		}
	}
	p.layout()
}

// HandleKey implements Page.
func (p *MsgServers) HandleKey(k string) bool { return p.tbl.HandleKey(k) }

// ShortHelp implements Page.
func (p *MsgServers) ShortHelp() []key.Binding { return []key.Binding{p.c.Keys.Kick} }

// View implements Page.
func (p *MsgServers) View() string {
	var b strings.Builder
	b.WriteString(section(p.c, fmt.Sprintf("Registrations (%d)", len(p.d.Snap.MsgServers)),
		"STALE: nothing heard for over "+common.Age(p.StaleAfter), p.w))
	b.WriteString("\n")
	b.WriteString(p.tbl.View())
	for _, m := range p.missing {
		b.WriteString("\n" + p.c.Styles.Warn.Render(m))
	}
	return fit(b.String(), p.h)
}

// lastHeard is when login last heard from m: its LastHeard, or, from a
// teamtalkd that predates it, its last load report.
func lastHeard(m ctlapi.MsgServer) time.Time {
	if !m.LastHeard.IsZero() {
		return m.LastHeard
	}
	return m.Updated
}
