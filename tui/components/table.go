// Package components holds the console's reusable widgets: a table with a
// cursor, a sparkline, a status bar and a one-line prompt. Each is a small
// model with SetSize and its key help.
package components

import (
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"teamtalk/tui/common"
)

// Column is one table column. Width is its minimum; the Flex column (at
// most one) takes the room left over.
type Column struct {
	Title string
	Width int
	Flex  bool
	Right bool // right-aligned (numbers)
}

// Mark is how a row is emphasised.
type Mark int

// The row marks.
const (
	MarkNone Mark = iota
	MarkWarn
	MarkBad
	MarkMuted
)

// Row is one table row: its cells and its mark.
type Row struct {
	Cells []string
	Mark  Mark
}

// Table renders rows under a header, with a cursor row (when Cursor is
// enabled) that scrolls into view.
type Table struct {
	c       *common.Common
	cols    []Column
	rows    []Row
	cursor  int
	offset  int
	width   int
	height  int // rows of body (excludes the header)
	Cursor  bool
	Empty   string // shown when there are no rows
	keyUp   key.Binding
	keyDown key.Binding
}

// NewTable returns a table with the given columns.
func NewTable(c *common.Common, cols ...Column) *Table {
	return &Table{c: c, cols: cols, keyUp: c.Keys.Up, keyDown: c.Keys.Down, Empty: "(none)"}
}

// SetSize sets the width and the total height (header included).
func (t *Table) SetSize(w, h int) {
	t.width, t.height = w, max(h-1, 1)
	t.clamp()
}

// SetRows replaces the rows, keeping the cursor on the same index.
func (t *Table) SetRows(rows []Row) {
	t.rows = rows
	t.clamp()
}

// Len returns the number of rows.
func (t *Table) Len() int { return len(t.rows) }

// Selected returns the index of the cursor row, or -1 when there are no rows.
func (t *Table) Selected() int {
	if len(t.rows) == 0 {
		return -1
	}
	return t.cursor
}

// ShortHelp is the table's key help.
func (t *Table) ShortHelp() []key.Binding { return []key.Binding{t.keyUp, t.keyDown} }

// HandleKey moves the cursor; it reports whether the key was used.
func (t *Table) HandleKey(k string) bool {
	switch {
	case key.Matches(keyMsg(k), t.keyUp):
		t.cursor--
	case key.Matches(keyMsg(k), t.keyDown):
		t.cursor++
	default:
		return false
	}
	t.clamp()
	return true
}

type keyMsg string

func (k keyMsg) String() string { return string(k) }

func (t *Table) clamp() {
	t.cursor = min(max(t.cursor, 0), max(len(t.rows)-1, 0))
	if t.cursor < t.offset {
		t.offset = t.cursor
	}
	if t.height > 0 && t.cursor >= t.offset+t.height {
		t.offset = t.cursor - t.height + 1
	}
	t.offset = max(min(t.offset, len(t.rows)-t.height), 0)
}

// widths lays the columns out in the width, minus the 2-column cursor gutter.
func (t *Table) widths() []int {
	w := make([]int, len(t.cols))
	used := 2 + max(len(t.cols)-1, 0) // gutter and one space between columns
	flex := -1
	for i, c := range t.cols {
		w[i] = max(c.Width, ansi.StringWidth(c.Title))
		used += w[i]
		if c.Flex {
			flex = i
		}
	}
	if flex >= 0 && used < t.width {
		w[flex] += t.width - used
	}
	return w
}

// View renders the header and the visible rows.
func (t *Table) View() string {
	st := t.c.Styles
	w := t.widths()
	var b strings.Builder
	cells := make([]string, len(t.cols))
	for i, c := range t.cols {
		cells[i] = c.Title
	}
	b.WriteString(st.TableHeader.Render(t.line("  ", cells, w)))
	if len(t.rows) == 0 {
		b.WriteString("\n" + st.Muted.Render(ansi.Truncate("  "+t.Empty, t.width, "…")))
		return b.String()
	}
	end := min(t.offset+t.height, len(t.rows))
	for i := t.offset; i < end; i++ {
		r := t.rows[i]
		gutter := "  "
		style := lipgloss.Style{}
		switch r.Mark {
		case MarkWarn:
			gutter, style = "! ", st.Warn
		case MarkBad:
			gutter, style = "! ", st.Bad
		case MarkMuted:
			style = st.Muted
		}
		if t.Cursor && i == t.cursor {
			gutter, style = "› ", st.Selected
		}
		b.WriteString("\n" + style.Render(t.line(gutter, r.Cells, w)))
	}
	return b.String()
}

// line lays cells out in the widths and truncates to the table width.
func (t *Table) line(gutter string, cells []string, w []int) string {
	var b strings.Builder
	b.WriteString(gutter)
	for i := range t.cols {
		s := ""
		if i < len(cells) {
			s = cells[i]
		}
		s = ansi.Truncate(s, w[i], "…")
		pad := strings.Repeat(" ", max(w[i]-ansi.StringWidth(s), 0))
		if t.cols[i].Right {
			s = pad + s
		} else if i < len(t.cols)-1 {
			s += pad
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s)
	}
	return strings.TrimRight(ansi.Truncate(b.String(), t.width, "…"), " ")
}
