// Package tui is the live operations console of teamtalkd (`ttctl tui`): a
// Bubble Tea program that reads a stream of control API snapshots from a
// Source, shows them in five views (Overview, Msg servers, Sockets, Timers,
// Events), and restarts services and kicks users through Actions.
//
// It knows only appliance/ctlapi; appliance/ctlclient satisfies both Source
// and Actions. The root model routes messages to the current page
// (tui/pages), which draws with shared components (tui/components), styles
// (tui/styles) and keys (tui/keymap) from tui/common.
package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"

	"teamtalk/appliance/ctlapi"
	"teamtalk/tui/common"
	"teamtalk/tui/components"
	"teamtalk/tui/keymap"
	"teamtalk/tui/pages"
	"teamtalk/tui/styles"
)

// Source streams snapshots until ctx is done or the stream ends (the channel
// is then closed). ctlclient.Client implements it.
type Source interface {
	Watch(ctx context.Context) (<-chan ctlapi.Snapshot, error)
}

// Actions are what the console can ask of teamtalkd. ctlclient.Client
// implements it.
type Actions interface {
	Restart(ctx context.Context, name string) (ctlapi.RestartResult, error)
	Kick(ctx context.Context, req ctlapi.KickRequest) (ctlapi.KickResult, error)
}

// Options configure the console.
type Options struct {
	Source  Source
	Actions Actions // nil disables restart and kick
	// Target names what the console watches (the socket path), for the header.
	Target string
	// Color selects coloured styles; false (NO_COLOR) draws without colour.
	Color bool
	// Renderer renders the styles; nil means one for the program's output.
	Renderer *lipgloss.Renderer
	// Location is the zone of wall-clock times; nil means time.Local.
	Location *time.Location
	// Now returns the time; nil means time.Now. Tests fix it.
	Now func() time.Time
	// MinBackoff and MaxBackoff bound the reconnect delay (defaults 250ms, 5s).
	MinBackoff, MaxBackoff time.Duration
	// ActionTimeout bounds one restart or kick request (default 10s).
	ActionTimeout time.Duration
}

// Run runs the console on in/out until the user quits or ctx is done.
func Run(ctx context.Context, opts Options, in io.Reader, out io.Writer) error {
	if opts.Renderer == nil {
		opts.Renderer = lipgloss.NewRenderer(out)
		if !opts.Color {
			opts.Renderer.SetColorProfile(termenv.Ascii)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m := New(ctx, opts)
	p := tea.NewProgram(m, tea.WithContext(ctx), tea.WithAltScreen(), tea.WithInput(in), tea.WithOutput(out))
	_, err := p.Run()
	switch {
	case errors.Is(err, tea.ErrInterrupted): // SIGINT when the input is not a terminal
		return nil
	case err != nil && ctx.Err() != nil && errors.Is(err, tea.ErrProgramKilled):
		return nil
	}
	if err != nil {
		return fmt.Errorf("tui: %w", err)
	}
	return nil
}

// The messages the model sends itself.
type (
	connectedMsg struct {
		gen int
		ch  <-chan ctlapi.Snapshot
	}
	snapMsg struct {
		gen  int
		snap ctlapi.Snapshot
	}
	streamEndMsg struct {
		gen int
		err error
	}
	retryMsg  struct{ gen int }
	tickMsg   time.Time
	actionMsg struct {
		text string
		err  error
	}
)

// errStreamEnded is the reason shown when the watch stream closes.
var errStreamEnded = errors.New("the watch stream ended (teamtalkd stopped or restarted)")

// promptKind says what an open prompt is for.
type promptKind int

const (
	promptNone promptKind = iota
	promptFilter
	promptKick
)

// Model is the root model: it owns the connection to the Source, the data,
// the tabs, and the dialogs, and routes keys to the current page.
type Model struct {
	ctx  context.Context
	opts Options
	c    *common.Common
	help help.Model

	pages  []pages.Page
	active int

	data      common.Data      // what is on display
	latest    *ctlapi.Snapshot // newest received (differs from data.Snap while paused)
	prevRecv  *ctlapi.Snapshot // the one received before latest
	delivered []float64
	paused    bool

	gen       int // connection generation: messages of older streams are ignored
	ch        <-chan ctlapi.Snapshot
	stop      context.CancelFunc
	connected bool
	everData  bool
	connErr   error
	attempt   int
	backoff   time.Duration
	retryAt   time.Time
	lastRecv  time.Time
	now       time.Time

	showHelp bool
	prompt   *components.Prompt
	pkind    promptKind
	confirm  string         // the question asked, when a confirmation is pending
	onYes    func() tea.Cmd // what y does
	status   string         // the last action's outcome
	statusOK bool           //
	quitting bool           //
}

// New returns the root model; the watch starts with Init.
func New(ctx context.Context, opts Options) *Model {
	if opts.Renderer == nil {
		opts.Renderer = lipgloss.DefaultRenderer()
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 250 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(5*time.Second, opts.MinBackoff)
	}
	if opts.ActionTimeout <= 0 {
		opts.ActionTimeout = 10 * time.Second
	}
	c := &common.Common{Width: 80, Height: 24, Styles: styles.New(opts.Renderer, opts.Color), Keys: keymap.Default(), Location: opts.Location}
	h := help.New()
	h.Styles.ShortKey = c.Styles.Help
	h.Styles.ShortDesc = c.Styles.Help
	h.Styles.ShortSeparator = c.Styles.Help
	h.Styles.FullKey = c.Styles.Help
	h.Styles.FullDesc = c.Styles.Help
	h.Styles.FullSeparator = c.Styles.Help
	h.Styles.Ellipsis = c.Styles.Help
	m := &Model{
		ctx: ctx, opts: opts, c: c, help: h,
		pages: []pages.Page{
			pages.NewOverview(c), pages.NewMsgServers(c), pages.NewSockets(c), pages.NewTimers(c), pages.NewEvents(c),
		},
		prompt:  components.NewPrompt(c),
		backoff: opts.MinBackoff,
		now:     opts.Now(),
	}
	m.resize(80, 24)
	return m
}

// Init starts the watch and the clock.
func (m *Model) Init() tea.Cmd { return tea.Batch(m.connect(), m.tick()) }

func (m *Model) tick() tea.Cmd {
	return tea.Tick(time.Second, func(t time.Time) tea.Msg { return tickMsg(t) })
}

// connect opens a new watch stream (a new generation).
func (m *Model) connect() tea.Cmd {
	if m.stop != nil {
		m.stop()
	}
	m.gen++
	gen := m.gen
	ctx, cancel := context.WithCancel(m.ctx)
	m.stop = cancel
	src := m.opts.Source
	return func() tea.Msg {
		ch, err := src.Watch(ctx)
		if err != nil {
			return streamEndMsg{gen: gen, err: err}
		}
		return connectedMsg{gen: gen, ch: ch}
	}
}

// next waits for the stream's next snapshot.
func next(gen int, ch <-chan ctlapi.Snapshot) tea.Cmd {
	return func() tea.Msg {
		s, ok := <-ch
		if !ok {
			return streamEndMsg{gen: gen, err: errStreamEnded}
		}
		return snapMsg{gen: gen, snap: s}
	}
}

// Update routes a message.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.resize(msg.Width, msg.Height)
	case tickMsg:
		m.now = time.Time(msg)
		return m, m.tick()
	case connectedMsg:
		if msg.gen != m.gen {
			return m, nil
		}
		m.ch = msg.ch
		return m, next(msg.gen, msg.ch)
	case snapMsg:
		if msg.gen != m.gen {
			return m, nil
		}
		m.receive(msg.snap)
		return m, next(msg.gen, m.ch)
	case streamEndMsg:
		if msg.gen != m.gen {
			return m, nil
		}
		return m, m.lost(msg.err)
	case retryMsg:
		if msg.gen != m.gen {
			return m, nil
		}
		return m, m.connect()
	case actionMsg:
		m.status, m.statusOK = msg.text, msg.err == nil
		if msg.err != nil {
			m.status = msg.text + ": " + msg.err.Error()
		}
	case tea.KeyMsg:
		return m, m.key(msg)
	}
	return m, nil
}

// receive takes a snapshot from the stream.
func (m *Model) receive(s ctlapi.Snapshot) {
	m.now = m.opts.Now()
	m.lastRecv = m.now
	if !m.connected {
		m.connected, m.connErr, m.attempt, m.backoff = true, nil, 0, m.opts.MinBackoff
	}
	if m.latest != nil {
		if dt := s.Time.Sub(m.latest.Time).Seconds(); dt > 0 {
			cur, prev := deliveredTotal(s), deliveredTotal(*m.latest)
			if cur >= prev {
				m.delivered = append(m.delivered, float64(cur-prev)/dt)
			} else {
				m.delivered = append(m.delivered, 0) // a msg service restarted: its totals reset
			}
			if n := len(m.delivered); n > 300 {
				m.delivered = m.delivered[n-300:]
			}
		}
	}
	m.prevRecv, m.latest = m.latest, &s
	m.everData = true
	if !m.paused {
		m.apply()
	}
}

// deliveredTotal sums the msg services' delivered counters.
func deliveredTotal(s ctlapi.Snapshot) uint64 {
	var n uint64
	for _, svc := range s.Services {
		n += svc.Counters["msgs_delivered"]
	}
	return n
}

// apply puts the newest received snapshot on display.
func (m *Model) apply() {
	if m.latest == nil {
		return
	}
	m.data.Snap, m.data.Prev = *m.latest, m.prevRecv
	m.data.Delivered = append(m.data.Delivered[:0], m.delivered...)
	m.refresh()
}

// refresh hands the data to every page.
func (m *Model) refresh() {
	for _, p := range m.pages {
		p.SetData(&m.data)
	}
}

// lost records a failed or ended stream and schedules a reconnect.
func (m *Model) lost(err error) tea.Cmd {
	if m.stop != nil {
		m.stop()
		m.stop = nil
	}
	m.connected, m.connErr = false, err
	m.attempt++
	wait := m.backoff
	m.backoff = min(m.backoff*2, m.opts.MaxBackoff)
	m.now = m.opts.Now()
	m.retryAt = m.now.Add(wait)
	gen := m.gen
	return tea.Tick(wait, func(time.Time) tea.Msg { return retryMsg{gen: gen} })
}

// key handles a key press: dialogs first, then the console's keys, then the page.
func (m *Model) key(msg tea.KeyMsg) tea.Cmd {
	k := m.c.Keys
	if msg.Type == tea.KeyCtrlC {
		return m.quit()
	}
	if m.confirm != "" {
		switch {
		case key.Matches(msg, k.Yes):
			run := m.onYes
			m.confirm, m.onYes = "", nil
			return run()
		case key.Matches(msg, k.No), key.Matches(msg, k.Quit):
			m.confirm, m.onYes = "", nil
			m.status, m.statusOK = "cancelled", true
		}
		return nil
	}
	if m.prompt.Active {
		res := m.prompt.Update(msg)
		switch m.pkind {
		case promptFilter:
			if res == components.PromptCancelled {
				m.prompt.Value = ""
			}
			m.setFilter(m.prompt.Value)
		case promptKick:
			if res == components.PromptAccepted {
				m.askKick(strings.TrimSpace(m.prompt.Value))
			}
		}
		if !m.prompt.Active {
			m.pkind = promptNone
		}
		return nil
	}
	switch {
	case key.Matches(msg, k.Quit):
		return m.quit()
	case key.Matches(msg, k.Help):
		m.showHelp = !m.showHelp
		m.resize(m.c.Width, m.c.Height)
	case key.Matches(msg, k.NextTab):
		m.active = (m.active + 1) % len(m.pages)
	case key.Matches(msg, k.PrevTab):
		m.active = (m.active + len(m.pages) - 1) % len(m.pages)
	case key.Matches(msg, k.Tabs):
		if i, err := strconv.Atoi(msg.String()); err == nil && i >= 1 && i <= len(m.pages) {
			m.active = i - 1
		}
	case key.Matches(msg, k.Pause):
		m.paused = !m.paused
		if !m.paused {
			m.apply()
		}
	case key.Matches(msg, k.Filter):
		m.pkind = promptFilter
		m.prompt.Open("filter:", m.data.Filter)
	case msg.Type == tea.KeyEsc && m.data.Filter != "":
		m.setFilter("")
	case key.Matches(msg, k.Restart):
		m.askRestart()
	case key.Matches(msg, k.Kick):
		if m.opts.Actions == nil {
			m.status, m.statusOK = "kick is not available (no actions)", false
			return nil
		}
		m.pkind = promptKick
		m.prompt.Open("kick user id:", "")
	default:
		m.pages[m.active].HandleKey(msg.String())
	}
	return nil
}

func (m *Model) quit() tea.Cmd {
	m.quitting = true
	if m.stop != nil {
		m.stop()
	}
	return tea.Quit
}

func (m *Model) setFilter(f string) {
	m.data.Filter = strings.ToLower(strings.TrimSpace(f))
	m.refresh()
}

func (m *Model) askRestart() {
	picker, ok := m.pages[m.active].(pages.ServicePicker)
	if !ok {
		m.status, m.statusOK = "restart: go to the Overview (1) and pick a service", false
		return
	}
	name := picker.SelectedService()
	switch {
	case name == "":
		m.status, m.statusOK = "restart: no service selected", false
		return
	case m.opts.Actions == nil:
		m.status, m.statusOK = "restart is not available (no actions)", false
		return
	}
	m.confirm = fmt.Sprintf("Restart service %s? [y/N]", name)
	act, timeout := m.opts.Actions, m.opts.ActionTimeout
	m.onYes = func() tea.Cmd {
		m.status, m.statusOK = "restarting "+name+"…", true
		return func() tea.Msg {
			ctx, cancel := context.WithTimeout(m.ctx, timeout)
			defer cancel()
			res, err := act.Restart(ctx, name)
			if err != nil {
				return actionMsg{text: "restart " + name, err: err}
			}
			return actionMsg{text: fmt.Sprintf("restart %s: %s", name, res.Message)}
		}
	}
}

func (m *Model) askKick(user string) {
	id, err := strconv.ParseUint(user, 10, 32)
	if err != nil || id == 0 {
		m.status, m.statusOK = fmt.Sprintf("kick: %q is not a numeric user id", user), false
		return
	}
	m.confirm = fmt.Sprintf("Kick user %d from every msg server? [y/N]", id)
	act, timeout := m.opts.Actions, m.opts.ActionTimeout
	m.onYes = func() tea.Cmd {
		m.status, m.statusOK = fmt.Sprintf("kicking user %d…", id), true
		return func() tea.Msg {
			ctx, cancel := context.WithTimeout(m.ctx, timeout)
			defer cancel()
			res, err := act.Kick(ctx, ctlapi.KickRequest{User: strconv.FormatUint(id, 10)})
			if err != nil {
				return actionMsg{text: fmt.Sprintf("kick %d", id), err: err}
			}
			return actionMsg{text: fmt.Sprintf("kicked user %d: %d connection(s) closed", res.UserID, res.Kicked)}
		}
	}
}

// resize lays the pages out: header, tabs, body, status line, help.
func (m *Model) resize(w, h int) {
	m.c.Width, m.c.Height = max(w, 20), max(h, 8)
	m.help.Width = m.c.Width
	for _, p := range m.pages {
		p.SetSize(m.c.Width, m.bodyHeight())
	}
}

func (m *Model) helpView() string {
	if m.showHelp {
		lines := strings.Split(m.help.FullHelpView(m.c.Keys.FullHelp()), "\n")
		for i := range lines {
			lines[i] = ansi.Truncate(lines[i], m.c.Width, "…")
		}
		return strings.Join(lines, "\n")
	}
	bindings := append([]key.Binding{m.c.Keys.Help, m.c.Keys.NextTab}, m.pages[m.active].ShortHelp()...)
	bindings = append(bindings, m.c.Keys.Filter, m.c.Keys.Pause, m.c.Keys.Quit)
	return ansi.Truncate(m.help.ShortHelpView(bindings), m.c.Width, "…")
}

// bodyHeight is what is left for the page (and the disconnected banner).
func (m *Model) bodyHeight() int {
	return max(m.c.Height-3-lipgloss.Height(m.helpView()), 1)
}

// View draws the console in exactly the terminal's size.
func (m *Model) View() string {
	if m.quitting {
		return ""
	}
	w, st := m.c.Width, m.c.Styles
	var lines []string

	// Header.
	left := " teamtalkd console"
	if m.everData {
		left = fmt.Sprintf(" teamtalkd %s", m.data.Snap.Status.Version)
	}
	if m.opts.Target != "" {
		left += " · " + m.opts.Target
	}
	var right string
	switch {
	case !m.connected && (m.everData || m.connErr != nil):
		right = "DISCONNECTED "
	case !m.connected:
		right = "connecting… "
	case m.paused:
		right = "PAUSED at " + m.data.Snap.Time.In(m.c.Location).Format("15:04:05") + " "
	case m.now.Sub(m.lastRecv) > 3*time.Second:
		right = fmt.Sprintf("no snapshot for %s ", common.Age(m.now.Sub(m.lastRecv)))
	default:
		right = "live " + m.data.Snap.Time.In(m.c.Location).Format("15:04:05") + " "
	}
	lines = append(lines, st.Header.Render(components.Bar(left, right, w)))

	// Tabs.
	var tabs []string
	for i, p := range m.pages {
		t := fmt.Sprintf("%d %s", i+1, p.Title())
		if i == m.active {
			tabs = append(tabs, st.TabActive.Render("["+t+"]"))
		} else {
			tabs = append(tabs, st.TabInactive.Render(" "+t+" "))
		}
	}
	lines = append(lines, ansi.Truncate(strings.Join(tabs, " "), w, "…"))

	// Body.
	bh := m.bodyHeight()
	var body []string
	if !m.connected {
		body = append(body, m.disconnected()...)
		if m.everData {
			body = append(body, st.Muted.Render(ansi.Truncate("last known state below, from "+m.data.Snap.Time.In(m.c.Location).Format("15:04:05"), w, "…")))
		}
	}
	if m.everData {
		m.pages[m.active].SetSize(w, max(bh-len(body), 1))
		body = append(body, strings.Split(m.pages[m.active].View(), "\n")...)
		m.pages[m.active].SetSize(w, bh)
	}
	for len(body) < bh {
		body = append(body, "")
	}
	lines = append(lines, body[:bh]...)

	// Status line: a dialog, the prompt, or the last outcome and the filter.
	var status string
	switch {
	case m.confirm != "":
		status = st.Dialog.Render(ansi.Truncate(m.confirm, w, "…"))
	case m.prompt.Active:
		m.prompt.SetSize(w, 1)
		status = m.prompt.View()
	default:
		var l []string
		if m.data.Filter != "" {
			l = append(l, fmt.Sprintf("filter %q (esc clears)", m.data.Filter))
		}
		if m.status != "" {
			l = append(l, m.status)
		}
		s := ansi.Truncate(strings.Join(l, " · "), w, "…")
		if m.statusOK {
			status = st.StatusBar.Render(s)
		} else {
			status = st.Bad.Render(s)
		}
	}
	lines = append(lines, status)
	lines = append(lines, m.helpView())
	return strings.Join(lines, "\n")
}

// disconnected is the banner shown while teamtalkd cannot be reached.
func (m *Model) disconnected() []string {
	st, w := m.c.Styles, m.c.Width
	if m.connErr == nil {
		return []string{st.Muted.Render(ansi.Truncate("connecting to teamtalkd…", w, "…"))}
	}
	wait := m.retryAt.Sub(m.now)
	retry := "retrying now"
	if wait > 0 {
		retry = fmt.Sprintf("retrying in %.1fs", wait.Seconds())
	}
	return []string{
		st.Bad.Render(ansi.Truncate("! teamtalkd is not reachable: "+m.connErr.Error(), w, "…")),
		st.Muted.Render(ansi.Truncate(fmt.Sprintf("  %s (attempt %d); the console reconnects by itself", retry, m.attempt), w, "…")),
	}
}
