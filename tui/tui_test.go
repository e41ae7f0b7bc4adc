package tui

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"teamtalk/appliance/ctlapi"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fakeSource hands out the channels queued in it; an empty queue refuses.
type fakeSource struct {
	mu    sync.Mutex
	chans []chan ctlapi.Snapshot
	calls int
}

func (f *fakeSource) Watch(ctx context.Context) (<-chan ctlapi.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if len(f.chans) == 0 {
		return nil, errors.New("teamtalkd is not running: no socket at /run/teamtalk/teamtalkd.sock")
	}
	ch := f.chans[0]
	f.chans = f.chans[1:]
	return ch, nil
}

// fakeActions records what it was asked.
type fakeActions struct {
	restarts []string
	kicks    []ctlapi.KickRequest
}

func (f *fakeActions) Restart(_ context.Context, name string) (ctlapi.RestartResult, error) {
	f.restarts = append(f.restarts, name)
	return ctlapi.RestartResult{Service: name, Message: "restarting"}, nil
}

func (f *fakeActions) Kick(_ context.Context, req ctlapi.KickRequest) (ctlapi.KickResult, error) {
	f.kicks = append(f.kicks, req)
	return ctlapi.KickResult{UserID: 42, Kicked: 2}, nil
}

// newModel returns a model without colour (as under NO_COLOR) at w×h.
func newModel(t *testing.T, w, h int) (*Model, *fakeSource, *fakeActions) {
	t.Helper()
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	src, act := &fakeSource{}, &fakeActions{}
	m := New(context.Background(), Options{
		Source: src, Actions: act, Target: "/run/teamtalk/teamtalkd.sock", Renderer: r,
		Location: time.UTC, Now: func() time.Time { return t0.Add(2 * time.Second) },
	})
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	return m, src, act
}

// live feeds the model three snapshots, as if from a stream.
func live(m *Model) {
	m.gen = 1
	for i := 0; i < 3; i++ {
		m.Update(snapMsg{gen: 1, snap: fixture(i)})
	}
}

func keys(m *Model, ks ...string) {
	for _, k := range ks {
		var msg tea.KeyMsg
		switch k {
		case "enter":
			msg = tea.KeyMsg{Type: tea.KeyEnter}
		case "esc":
			msg = tea.KeyMsg{Type: tea.KeyEsc}
		case "tab":
			msg = tea.KeyMsg{Type: tea.KeyTab}
		case "down":
			msg = tea.KeyMsg{Type: tea.KeyDown}
		case "backspace":
			msg = tea.KeyMsg{Type: tea.KeyBackspace}
		default:
			msg = tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
		}
		_, cmd := m.Update(msg)
		// Run what an action asks for (restart, kick) and hand the result back.
		if cmd != nil {
			if res := cmd(); res != nil {
				if _, ok := res.(actionMsg); ok {
					m.Update(res)
				}
			}
		}
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if got != string(want) {
		t.Fatalf("view differs from %s (-update refreshes):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// checkFrame requires exactly h lines, none wider than w, and no escape codes.
func checkFrame(t *testing.T, v string, w, h int) {
	t.Helper()
	lines := strings.Split(v, "\n")
	if len(lines) != h {
		t.Errorf("%d lines, want %d", len(lines), h)
	}
	for i, l := range lines {
		if n := lipgloss.Width(l); n > w {
			t.Errorf("line %d is %d wide (> %d): %q", i+1, n, w, l)
		}
	}
	if strings.Contains(v, "\x1b[") {
		t.Errorf("escape codes without colour: %q", v)
	}
}

func TestGoldenViews(t *testing.T) {
	sizes := []struct {
		name string
		w, h int
	}{
		{"80x24", 80, 24},
		{"140x40", 140, 40},
	}
	views := []struct {
		name string
		keys []string
	}{
		{"overview", nil},
		{"msgservers", []string{"2"}},
		{"sockets", []string{"3"}},
		{"timers", []string{"4"}},
		{"events", []string{"5"}},
		{"help", []string{"?"}},
		{"filter", []string{"5", "/", "r", "o", "u", "t", "e", "enter"}},
		{"confirm_restart", []string{"down", "down", "down", "r"}},
		{"paused", []string{"p"}},
	}
	for _, sz := range sizes {
		for _, v := range views {
			t.Run(v.name+"_"+sz.name, func(t *testing.T) {
				m, _, _ := newModel(t, sz.w, sz.h)
				live(m)
				keys(m, v.keys...)
				got := m.View()
				checkFrame(t, got, sz.w, sz.h)
				golden(t, v.name+"_"+sz.name, got)
			})
		}
	}
}

func TestDisconnected(t *testing.T) {
	tests := []struct {
		name     string
		withData bool
	}{
		{"never_connected", false},
		{"lost", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, src, _ := newModel(t, 80, 24)
			if tc.withData {
				live(m)
			}
			// The stream ends: the console says so and schedules a retry.
			cmd := m.connect()
			msg := cmd()
			if _, ok := msg.(streamEndMsg); !ok {
				t.Fatalf("connect with no stream: %T", msg)
			}
			_, retry := m.Update(msg)
			if retry == nil {
				t.Fatal("no retry scheduled")
			}
			v := m.View()
			checkFrame(t, v, 80, 24)
			golden(t, "disconnected_"+tc.name, v)
			if !strings.Contains(v, "teamtalkd is not reachable") || !strings.Contains(v, "attempt 1") {
				t.Fatalf("no clear message:\n%s", v)
			}
			// The backoff grows with each failure, up to the maximum.
			_, _ = m.Update(retryMsg{gen: m.gen})
			_, _ = m.Update(streamEndMsg{gen: m.gen, err: errStreamEnded})
			if m.attempt != 2 || m.backoff != 1*time.Second {
				t.Fatalf("attempt %d backoff %v", m.attempt, m.backoff)
			}
			for range 10 {
				m.Update(streamEndMsg{gen: m.gen, err: errStreamEnded})
			}
			if m.backoff != 5*time.Second {
				t.Fatalf("backoff %v, want the 5s cap", m.backoff)
			}
			// teamtalkd comes back: the retry connects and the first snapshot clears the banner.
			ch := make(chan ctlapi.Snapshot, 1)
			src.chans = append(src.chans, ch)
			_, cmd = m.Update(retryMsg{gen: m.gen})
			connected := cmd()
			if _, ok := connected.(connectedMsg); !ok {
				t.Fatalf("retry: %T", connected)
			}
			_, wait := m.Update(connected)
			ch <- fixture(5)
			m.Update(wait())
			if v := m.View(); strings.Contains(v, "not reachable") || !strings.Contains(v, "live 09:26:58") {
				t.Fatalf("after reconnect:\n%s", v)
			}
			if m.backoff != 250*time.Millisecond || m.attempt != 0 {
				t.Fatalf("backoff not reset: %v attempt %d", m.backoff, m.attempt)
			}
			// Messages of an abandoned stream are ignored.
			m.Update(streamEndMsg{gen: m.gen - 1, err: errStreamEnded})
			if !m.connected {
				t.Fatal("an old stream's end disconnected the console")
			}
		})
	}
}

func TestActions(t *testing.T) {
	tests := []struct {
		name     string
		keys     []string
		restarts []string
		kicks    []string
		status   string
	}{
		{name: "restart_confirmed", keys: []string{"down", "r", "y"}, restarts: []string{"route"}, status: "restart route: restarting"},
		{name: "restart_cancelled", keys: []string{"down", "r", "n"}, status: "cancelled"},
		{name: "restart_other_keys_ignored", keys: []string{"r", "x", "q"}, status: "cancelled"},
		{name: "restart_off_overview", keys: []string{"3", "r", "y"}, status: "restart: go to the Overview"},
		{name: "kick_confirmed", keys: []string{"K", "4", "2", "enter", "y"}, kicks: []string{"42"}, status: "kicked user 42: 2 connection(s) closed"},
		{name: "kick_cancelled", keys: []string{"K", "4", "2", "enter", "esc"}, status: "cancelled"},
		{name: "kick_not_numeric", keys: []string{"K", "b", "o", "b", "enter", "y"}, status: `kick: "bob" is not a numeric user id`},
		{name: "kick_prompt_escaped", keys: []string{"K", "4", "esc", "y"}},
		{name: "filter_then_restart_picks_filtered_row", keys: []string{"/", "m", "s", "g", "enter", "r", "y"}, restarts: []string{"msg"}, status: "restart msg"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, _, act := newModel(t, 80, 24)
			live(m)
			keys(m, tc.keys...)
			if strings.Join(act.restarts, ",") != strings.Join(tc.restarts, ",") {
				t.Errorf("restarts %v, want %v", act.restarts, tc.restarts)
			}
			var kicks []string
			for _, k := range act.kicks {
				kicks = append(kicks, k.User)
			}
			if strings.Join(kicks, ",") != strings.Join(tc.kicks, ",") {
				t.Errorf("kicks %v, want %v", kicks, tc.kicks)
			}
			if !strings.Contains(m.status, tc.status) || (tc.status == "" && m.status != "") {
				t.Errorf("status %q, want %q", m.status, tc.status)
			}
			if m.quitting {
				t.Error("a key inside a dialog quit the console")
			}
		})
	}
}

func TestKeys(t *testing.T) {
	tests := []struct {
		name   string
		keys   []string
		active int
		quit   bool
	}{
		{name: "tab_cycles", keys: []string{"tab", "tab", "tab", "tab", "tab", "tab"}, active: 1},
		{name: "numbers", keys: []string{"4"}, active: 3},
		{name: "shift_tab_wraps", keys: []string{"shift+tab"}, active: 4},
		{name: "q_quits", keys: []string{"q"}, quit: true},
		{name: "q_in_filter_is_text", keys: []string{"/", "q"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, _, _ := newModel(t, 80, 24)
			live(m)
			for _, k := range tc.keys {
				if k == "shift+tab" {
					m.Update(tea.KeyMsg{Type: tea.KeyShiftTab})
					continue
				}
				keys(m, k)
			}
			if m.active != tc.active || m.quitting != tc.quit {
				t.Fatalf("active %d quit %v, want %d %v", m.active, m.quitting, tc.active, tc.quit)
			}
		})
	}
}

func TestPauseHoldsTheDisplay(t *testing.T) {
	m, _, _ := newModel(t, 80, 24)
	live(m)
	keys(m, "p")
	m.Update(snapMsg{gen: 1, snap: fixture(3)})
	if !m.data.Snap.Time.Equal(fixture(2).Time) || !strings.Contains(m.View(), "PAUSED at 09:26:55") {
		t.Fatalf("paused display moved to %v", m.data.Snap.Time)
	}
	keys(m, "p")
	if !m.data.Snap.Time.Equal(fixture(3).Time) {
		t.Fatalf("resume shows %v, want the newest", m.data.Snap.Time)
	}
	// Rates kept flowing while paused: four points from five snapshots... three intervals.
	if len(m.data.Delivered) != 3 {
		t.Fatalf("delivered series %v", m.data.Delivered)
	}
}

func TestRates(t *testing.T) {
	m, _, _ := newModel(t, 140, 40)
	live(m)
	// msgs_delivered is 900+10n²: 10 then 30 a second.
	if got := m.data.Delivered; len(got) != 2 || got[0] != 10 || got[1] != 30 {
		t.Fatalf("delivered %v", got)
	}
	keys(m, "3")
	v := m.View()
	// msg loop 0: client 1 moves 2048 in / 4096 out a second; dbproxy frames 40/s.
	for _, want := range []string{"2.0K    4.0K", "40/40", "client 1 listen 1"} {
		if !strings.Contains(v, want) {
			t.Errorf("sockets view lacks %q:\n%s", want, v)
		}
	}
}

func TestResizeKeepsFrame(t *testing.T) {
	m, _, _ := newModel(t, 80, 24)
	live(m)
	for _, sz := range [][2]int{{120, 30}, {60, 15}, {80, 24}, {200, 60}, {20, 8}} {
		m.Update(tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
		for i := 1; i <= 5; i++ {
			keys(m, string(rune('0'+i)))
			checkFrame(t, m.View(), sz[0], sz[1])
		}
	}
}

func TestColour(t *testing.T) {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.TrueColor)
	m := New(context.Background(), Options{Source: &fakeSource{}, Renderer: r, Color: true, Location: time.UTC, Now: func() time.Time { return t0 }})
	live(m)
	if !strings.Contains(m.View(), "\x1b[") {
		t.Fatal("no colour with Color set on a colour terminal")
	}
	m = New(context.Background(), Options{Source: &fakeSource{}, Renderer: r, Color: false, Location: time.UTC, Now: func() time.Time { return t0 }})
	live(m)
	if strings.Contains(m.View(), "\x1b[38") || strings.Contains(m.View(), "\x1b[48") {
		t.Fatal("colour drawn under NO_COLOR")
	}
}
