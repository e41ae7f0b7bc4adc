// Package keymap holds the console's key bindings and their help text.
package keymap

import "github.com/charmbracelet/bubbles/key"

// KeyMap is every binding of the console. It implements help.KeyMap.
type KeyMap struct {
	Quit    key.Binding
	Help    key.Binding
	NextTab key.Binding
	PrevTab key.Binding
	Tabs    key.Binding // 1..5
	Up      key.Binding
	Down    key.Binding
	Restart key.Binding
	Kick    key.Binding
	Filter  key.Binding
	Pause   key.Binding
	Yes     key.Binding
	No      key.Binding
	Enter   key.Binding
}

// Default returns the console's bindings.
func Default() KeyMap {
	return KeyMap{
		Quit:    key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
		Help:    key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		NextTab: key.NewBinding(key.WithKeys("tab", "right", "l"), key.WithHelp("tab", "views")),
		PrevTab: key.NewBinding(key.WithKeys("shift+tab", "left", "h"), key.WithHelp("shift+tab", "previous view")),
		Tabs:    key.NewBinding(key.WithKeys("1", "2", "3", "4", "5"), key.WithHelp("1-5", "go to view")),
		Up:      key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:    key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		Restart: key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "restart")),
		Kick:    key.NewBinding(key.WithKeys("K"), key.WithHelp("K", "kick")),
		Filter:  key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Pause:   key.NewBinding(key.WithKeys("p", " "), key.WithHelp("p", "pause")),
		Yes:     key.NewBinding(key.WithKeys("y", "Y"), key.WithHelp("y", "confirm")),
		No:      key.NewBinding(key.WithKeys("n", "N", "esc"), key.WithHelp("n/esc", "cancel")),
		Enter:   key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "accept")),
	}
}

// ShortHelp is the one-line help.
func (k KeyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Help, k.NextTab, k.Tabs, k.Restart, k.Kick, k.Filter, k.Pause, k.Quit}
}

// FullHelp is the help shown by `?`, in columns.
func (k KeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.NextTab, k.PrevTab, k.Tabs, k.Up, k.Down},
		{k.Restart, k.Kick, k.Filter, k.Pause},
		{k.Yes, k.No, k.Enter, k.Help, k.Quit},
	}
}
