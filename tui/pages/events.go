package pages

import (
	"strings"

	"github.com/charmbracelet/bubbles/key"

	"teamtalk/appliance/ctlapi"
	"teamtalk/tui/common"
	"teamtalk/tui/components"
)

// Events shows the lifecycle log, newest first.
type Events struct {
	c    *common.Common
	d    *common.Data
	tbl  *components.Table
	w, h int
}

// NewEvents returns the Events page.
func NewEvents(c *common.Common) *Events {
	t := components.NewTable(c,
		components.Column{Title: "TIME", Width: 8},
		components.Column{Title: "AGO", Width: 6, Right: true},
		components.Column{Title: "SERVICE", Width: 9},
		components.Column{Title: "EVENT", Width: 9},
		components.Column{Title: "MESSAGE", Width: 10, Flex: true},
	)
	t.Cursor = true
	t.Empty = "(no events)"
	return &Events{c: c, tbl: t, d: &common.Data{}}
}

// Title implements Page.
func (p *Events) Title() string { return "Events" }

// SetSize implements Page.
func (p *Events) SetSize(w, h int) { p.w, p.h = w, h; p.tbl.SetSize(w, h-1) }

// SetData implements Page.
func (p *Events) SetData(d *common.Data) {
	p.d = d
	var rows []components.Row
	evs := d.Snap.Events
	for i := len(evs) - 1; i >= 0; i-- {
		e := evs[i]
		svc := e.Service
		if svc == "" {
			svc = "teamtalkd"
		}
		cells := []string{e.Time.In(p.c.Location).Format("15:04:05"), common.Since(d.Snap.Time, e.Time), svc, string(e.Kind), e.Message}
		if !d.Match(cells...) {
			continue
		}
		mark := components.MarkNone
		switch e.Kind {
		case ctlapi.EventFailed:
			mark = components.MarkBad
		case ctlapi.EventWarning:
			mark = components.MarkWarn
		}
		rows = append(rows, components.Row{Cells: cells, Mark: mark})
	}
	p.tbl.SetRows(rows)
}

// HandleKey implements Page.
func (p *Events) HandleKey(k string) bool { return p.tbl.HandleKey(k) }

// ShortHelp implements Page.
func (p *Events) ShortHelp() []key.Binding { return []key.Binding{p.c.Keys.Kick} }

// View implements Page.
func (p *Events) View() string {
	var b strings.Builder
	b.WriteString(section(p.c, "Lifecycle events", "newest first", p.w))
	b.WriteString("\n")
	b.WriteString(p.tbl.View())
	return fit(b.String(), p.h)
}
