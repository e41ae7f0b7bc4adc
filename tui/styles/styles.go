// Package styles holds the console's lipgloss styles in one struct, built
// for a renderer and a colour choice (NO_COLOR gives styles without colour).
package styles

import "github.com/charmbracelet/lipgloss"

// Styles are every style the console uses. Without colour, emphasis comes
// from text markers (›, STALE, !) that the views add themselves, so nothing
// depends on colour to be readable.
type Styles struct {
	Header      lipgloss.Style // the top line
	TabActive   lipgloss.Style
	TabInactive lipgloss.Style
	Section     lipgloss.Style // a section title inside a page
	TableHeader lipgloss.Style
	Selected    lipgloss.Style // the table row under the cursor
	Muted       lipgloss.Style
	Good        lipgloss.Style // running, connected
	Warn        lipgloss.Style // backoff, stale, overdue
	Bad         lipgloss.Style // failed, disconnected
	Spark       lipgloss.Style
	StatusBar   lipgloss.Style // the line above the help
	Help        lipgloss.Style
	Dialog      lipgloss.Style // confirmation and prompt line
}

// New returns the styles rendered by r, coloured unless color is false.
func New(r *lipgloss.Renderer, color bool) Styles {
	s := Styles{
		Header:      r.NewStyle().Bold(true),
		TabActive:   r.NewStyle().Bold(true).Underline(true),
		TabInactive: r.NewStyle(),
		Section:     r.NewStyle().Bold(true),
		TableHeader: r.NewStyle().Bold(true),
		Selected:    r.NewStyle().Bold(true),
		Muted:       r.NewStyle(),
		Good:        r.NewStyle(),
		Warn:        r.NewStyle().Bold(true),
		Bad:         r.NewStyle().Bold(true),
		Spark:       r.NewStyle(),
		StatusBar:   r.NewStyle(),
		Help:        r.NewStyle(),
		Dialog:      r.NewStyle().Bold(true),
	}
	if !color {
		return s
	}
	s.Header = s.Header.Foreground(lipgloss.Color("15")).Background(lipgloss.Color("25"))
	s.TabActive = s.TabActive.Foreground(lipgloss.Color("39"))
	s.TabInactive = s.TabInactive.Foreground(lipgloss.Color("245"))
	s.Section = s.Section.Foreground(lipgloss.Color("39"))
	s.TableHeader = s.TableHeader.Foreground(lipgloss.Color("250"))
	s.Selected = s.Selected.Background(lipgloss.Color("237"))
	s.Muted = s.Muted.Foreground(lipgloss.Color("245"))
	s.Good = s.Good.Foreground(lipgloss.Color("42"))
	s.Warn = s.Warn.Foreground(lipgloss.Color("214"))
	s.Bad = s.Bad.Foreground(lipgloss.Color("196"))
	s.Spark = s.Spark.Foreground(lipgloss.Color("42"))
	s.StatusBar = s.StatusBar.Foreground(lipgloss.Color("250"))
	s.Help = s.Help.Foreground(lipgloss.Color("241"))
	s.Dialog = s.Dialog.Foreground(lipgloss.Color("214"))
	return s
}
