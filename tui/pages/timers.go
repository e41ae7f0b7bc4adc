package pages

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"

	"teamtalk/appliance/ctlapi"
	"teamtalk/tui/common"
	"teamtalk/tui/components"
)

// OverdueGrace is how far past its due time a timer must be, at the
// snapshot's time, to count as overdue (a loop falling behind).
const OverdueGrace = time.Second

// Timers shows, per service and loop, how many timers there are, the next
// due and how many are overdue, then every timer by due time.
type Timers struct {
	c     *common.Common
	d     *common.Data
	loops *components.Table
	list  *components.Table
	w, h  int
}

// NewTimers returns the Timers page.
func NewTimers(c *common.Common) *Timers {
	loops := components.NewTable(c,
		components.Column{Title: "SERVICE", Width: 8},
		components.Column{Title: "LOOP", Width: 4, Right: true},
		components.Column{Title: "TIMERS", Width: 6, Right: true},
		components.Column{Title: "NEXT DUE", Width: 10, Right: true},
		components.Column{Title: "OVERDUE", Width: 7, Right: true},
		components.Column{Title: "", Width: 0, Flex: true},
	)
	loops.Empty = "(no timers)"
	list := components.NewTable(c,
		components.Column{Title: "SERVICE", Width: 8},
		components.Column{Title: "LOOP", Width: 4, Right: true},
		components.Column{Title: "NAME", Width: 12, Flex: true},
		components.Column{Title: "EVERY", Width: 7, Right: true},
		components.Column{Title: "DUE IN", Width: 8, Right: true},
		components.Column{Title: "FIRED", Width: 8, Right: true},
	)
	list.Cursor = true
	list.Empty = "(no timers)"
	return &Timers{c: c, d: &common.Data{}, loops: loops, list: list}
}

// Title implements Page.
func (p *Timers) Title() string { return "Timers" }

// SetSize implements Page.
func (p *Timers) SetSize(w, h int) { p.w, p.h = w, h; p.layout() }

func (p *Timers) layout() { layoutLoops(p.loops, p.list, p.w, p.h) }

// due renders how long until t from now: "in 1.2s", or "-3s" when past.
func due(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := t.Sub(now)
	if d < 0 {
		return "-" + common.Age(-d)
	}
	if d < 10*time.Second {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return common.Age(d)
}

// SetData implements Page.
func (p *Timers) SetData(d *common.Data) {
	p.d = d
	now := d.Snap.Time
	type agg struct {
		n, overdue int
		next       time.Time
	}
	loops := map[loopKey]*agg{}
	var order []loopKey
	ts := append(d.Snap.Timers[:0:0], d.Snap.Timers...)
	overdue := func(t ctlapi.Timer) bool { return !t.Next.IsZero() && now.Sub(t.Next) > OverdueGrace }
	for _, t := range ts {
		k := loopKey{t.Service, t.Loop}
		a := loops[k]
		if a == nil {
			a = &agg{}
			loops[k] = a
			order = append(order, k)
		}
		a.n++
		if overdue(t) {
			a.overdue++
		}
		if !t.Next.IsZero() && (a.next.IsZero() || t.Next.Before(a.next)) {
			a.next = t.Next
		}
	}
	sortLoops(order)
	var rows []components.Row
	for _, k := range order {
		a := loops[k]
		cells := []string{k.svc, strconv.Itoa(k.loop), strconv.Itoa(a.n), due(now, a.next), strconv.Itoa(a.overdue), ""}
		if !d.Match(cells...) {
			continue
		}
		mark := components.MarkNone
		if a.overdue > 0 {
			mark = components.MarkWarn
		}
		rows = append(rows, components.Row{Cells: cells, Mark: mark})
	}
	p.loops.SetRows(rows)

	sort.SliceStable(ts, func(i, j int) bool {
		if !ts[i].Next.Equal(ts[j].Next) {
			return ts[i].Next.Before(ts[j].Next)
		}
		if ts[i].Service != ts[j].Service {
			return ts[i].Service < ts[j].Service
		}
		return ts[i].Name < ts[j].Name
	})
	rows = nil
	for _, t := range ts {
		every := "once"
		if t.Interval > 0 {
			every = t.Interval.String()
		}
		cells := []string{t.Service, strconv.Itoa(t.Loop), t.Name, every, due(now, t.Next), strconv.FormatUint(t.Fired, 10)}
		if !d.Match(cells...) {
			continue
		}
		mark := components.MarkNone
		if overdue(t) {
			mark = components.MarkWarn
		}
		rows = append(rows, components.Row{Cells: cells, Mark: mark})
	}
	p.list.SetRows(rows)
	p.layout()
}

// HandleKey implements Page.
func (p *Timers) HandleKey(k string) bool { return p.list.HandleKey(k) }

// ShortHelp implements Page.
func (p *Timers) ShortHelp() []key.Binding { return []key.Binding{p.c.Keys.Kick} }

// View implements Page.
func (p *Timers) View() string {
	var b strings.Builder
	b.WriteString(section(p.c, fmt.Sprintf("Timers (%d)", len(p.d.Snap.Timers)), "! = overdue by more than "+OverdueGrace.String(), p.w))
	b.WriteString("\n" + p.loops.View() + "\n")
	b.WriteString(section(p.c, "By due time", "", p.w))
	b.WriteString("\n" + p.list.View())
	return fit(b.String(), p.h)
}
