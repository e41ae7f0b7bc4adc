package components

import (
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"teamtalk/tui/common"
)

// Prompt is a one-line text entry (filter, user id) without a blinking
// cursor, so it renders the same every time.
type Prompt struct {
	c      *common.Common
	Label  string
	Value  string
	Active bool
	width  int
}

// NewPrompt returns an inactive prompt.
func NewPrompt(c *common.Common) *Prompt { return &Prompt{c: c} }

// SetSize sets the width it may draw in.
func (p *Prompt) SetSize(w, _ int) { p.width = w }

// Open activates the prompt with a label and initial value.
func (p *Prompt) Open(label, value string) {
	p.Label, p.Value, p.Active = label, value, true
}

// PromptResult says how a key ended the prompt.
type PromptResult int

// The ways a key can leave the prompt.
const (
	PromptEditing PromptResult = iota
	PromptAccepted
	PromptCancelled
)

// Update applies a key and reports whether the prompt was accepted or cancelled.
func (p *Prompt) Update(msg tea.KeyMsg) PromptResult {
	switch msg.Type {
	case tea.KeyEnter:
		p.Active = false
		return PromptAccepted
	case tea.KeyEsc, tea.KeyCtrlC:
		p.Active = false
		return PromptCancelled
	case tea.KeyBackspace:
		if r := []rune(p.Value); len(r) > 0 {
			p.Value = string(r[:len(r)-1])
		}
	case tea.KeyCtrlU:
		p.Value = ""
	case tea.KeyRunes, tea.KeySpace:
		p.Value += string(msg.Runes)
	}
	return PromptEditing
}

// ShortHelp is the prompt's key help.
func (p *Prompt) ShortHelp() []key.Binding { return []key.Binding{p.c.Keys.Enter, p.c.Keys.No} }

// View renders the label, the value and a block cursor.
func (p *Prompt) View() string {
	return p.c.Styles.Dialog.Render(ansi.Truncate(p.Label+" "+p.Value+"█", p.width, "…"))
}
