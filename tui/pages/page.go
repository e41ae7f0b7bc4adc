// Package pages holds the console's views, one per tab: Overview, Msg
// servers, Sockets, Timers and Events. A page renders common.Data in the
// size it is given and moves its own cursor; the root model does the rest.
package pages

import (
	"cmp"
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/x/ansi"

	"teamtalk/tui/common"
	"teamtalk/tui/components"
)

// Page is one view of the console.
type Page interface {
	// Title is the tab's name.
	Title() string
	// SetSize sets the room the page may draw in.
	SetSize(w, h int)
	// SetData hands the page the data to show; it keeps the pointer.
	SetData(d *common.Data)
	// HandleKey applies a navigation key and reports whether it used it.
	HandleKey(k string) bool
	// View renders the page in exactly its height or fewer lines.
	View() string
	// ShortHelp is the page's own key help.
	ShortHelp() []key.Binding
}

// ServicePicker is a page with a service under its cursor (the restart target).
type ServicePicker interface {
	SelectedService() string
}

// section renders a section title with a note on the right.
func section(c *common.Common, title, note string, width int) string {
	s := c.Styles.Section.Render(title)
	if note != "" {
		s += c.Styles.Muted.Render(ansi.Truncate("  "+note, max(width-ansi.StringWidth(title), 0), "…"))
	}
	return s
}

// fit cuts s to at most h lines.
func fit(s string, h int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > h {
		lines = lines[:max(h, 0)]
	}
	return strings.Join(lines, "\n")
}

// loopKey names one loop of one service: a row of the per-loop tables of
// the Sockets and Timers pages.
type loopKey struct {
	svc  string
	loop int
}

// sortLoops orders loops by service, then loop.
func sortLoops(order []loopKey) {
	slices.SortStableFunc(order, func(a, b loopKey) int {
		return cmp.Or(strings.Compare(a.svc, b.svc), cmp.Compare(a.loop, b.loop))
	})
}

// layoutLoops splits height h between a per-loop table on top (its rows,
// at most half) and the list below it, under two section titles and the
// blank line between them.
func layoutLoops(loops, list *components.Table, w, h int) {
	top := max(min(loops.Len()+1, (h-3)/2), 2)
	loops.SetSize(w, top)
	list.SetSize(w, max(h-3-top, 2))
}
