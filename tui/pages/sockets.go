package pages

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"

	"teamtalk/appliance/ctlapi"
	"teamtalk/tui/common"
	"teamtalk/tui/components"
)

// Sockets shows, per service and per loop, the open sockets by kind and the
// traffic per second computed from successive snapshots, then the busiest
// peers. Frames and slow-reader closes come from the service's counters
// (frames_in, frames_out, slow_reader_closes) when it reports them.
type Sockets struct {
	c     *common.Common
	d     *common.Data
	loops *components.Table
	peers *components.Table
	w, h  int
}

// NewSockets returns the Sockets page.
func NewSockets(c *common.Common) *Sockets {
	loops := components.NewTable(c,
		components.Column{Title: "SERVICE", Width: 8},
		components.Column{Title: "LOOP", Width: 4, Right: true},
		components.Column{Title: "CONNS", Width: 5, Right: true},
		components.Column{Title: "BY KIND", Width: 10, Flex: true},
		components.Column{Title: "IN/s", Width: 7, Right: true},
		components.Column{Title: "OUT/s", Width: 7, Right: true},
		components.Column{Title: "FRAMES/s", Width: 11, Right: true},
		components.Column{Title: "SLOW", Width: 4, Right: true},
	)
	loops.Empty = "(no sockets)"
	peers := components.NewTable(c,
		components.Column{Title: "SERVICE", Width: 8},
		components.Column{Title: "KIND", Width: 8},
		components.Column{Title: "REMOTE", Width: 15, Flex: true},
		components.Column{Title: "USER", Width: 7, Right: true},
		components.Column{Title: "IN/s", Width: 7, Right: true},
		components.Column{Title: "OUT/s", Width: 7, Right: true},
		components.Column{Title: "QUEUED", Width: 7, Right: true},
	)
	peers.Cursor = true
	peers.Empty = "(no connections)"
	return &Sockets{c: c, d: &common.Data{}, loops: loops, peers: peers}
}

// Title implements Page.
func (p *Sockets) Title() string { return "Sockets" }

// SetSize implements Page.
func (p *Sockets) SetSize(w, h int) { p.w, p.h = w, h; p.layout() }

func (p *Sockets) layout() { layoutLoops(p.loops, p.peers, p.w, p.h) }

type sockKey struct {
	svc string
	id  uint32
}

// SetData implements Page.
func (p *Sockets) SetData(d *common.Data) {
	p.d = d
	dt := d.Elapsed()
	prev := map[sockKey]ctlapi.Socket{}
	if d.Prev != nil {
		for _, s := range d.Prev.Sockets {
			prev[sockKey{s.Service, s.ID}] = s
		}
	}
	// rate returns a socket's bytes in and out per second since the last
	// snapshot (a new socket counts everything it moved), or -1 without one.
	rate := func(s ctlapi.Socket) (float64, float64) {
		if dt == 0 {
			return -1, -1
		}
		in, out := s.BytesIn, s.BytesOut
		if o, ok := prev[sockKey{s.Service, s.ID}]; ok && o.BytesIn <= in && o.BytesOut <= out {
			in, out = in-o.BytesIn, out-o.BytesOut
		}
		return float64(in) / dt, float64(out) / dt
	}

	type agg struct {
		conns   int
		kinds   map[string]int
		in, out float64
	}
	loops := map[loopKey]*agg{}
	var order []loopKey
	type peer struct {
		s       ctlapi.Socket
		in, out float64
	}
	var peers []peer
	for _, s := range d.Snap.Sockets {
		k := loopKey{s.Service, s.Loop}
		a := loops[k]
		if a == nil {
			a = &agg{kinds: map[string]int{}}
			loops[k] = a
			order = append(order, k)
		}
		a.kinds[s.Kind]++
		if s.Kind == "listen" {
			continue
		}
		a.conns++
		in, out := rate(s)
		if in >= 0 {
			a.in += in
			a.out += out
		} else {
			a.in, a.out = -1, -1
		}
		peers = append(peers, peer{s, in, out})
	}
	sortLoops(order)
	counters := map[string]map[string]uint64{}
	for _, s := range d.Snap.Services {
		counters[s.Name] = s.Counters
	}
	prevCounters := map[string]map[string]uint64{}
	if d.Prev != nil {
		for _, s := range d.Prev.Services {
			prevCounters[s.Name] = s.Counters
		}
	}
	perSec := func(svc, name string) float64 {
		cur, ok1 := counters[svc][name]
		old, ok2 := prevCounters[svc][name]
		if !ok1 || !ok2 || dt == 0 || cur < old {
			return -1
		}
		return float64(cur-old) / dt
	}
	// One row per service with its totals and counters, then one per loop.
	svcs := map[string]*agg{}
	var rows []components.Row
	for _, k := range order {
		a := loops[k]
		t := svcs[k.svc]
		if t == nil {
			t = &agg{kinds: map[string]int{}}
			svcs[k.svc] = t
			frames := "-"
			if fi, fo := perSec(k.svc, "frames_in"), perSec(k.svc, "frames_out"); fi >= 0 && fo >= 0 {
				frames = common.Rate(fi) + "/" + common.Rate(fo)
			}
			slow, mark := "-", components.MarkNone
			if v, ok := counters[k.svc]["slow_reader_closes"]; ok {
				slow = strconv.FormatUint(v, 10)
				if old, ok := prevCounters[k.svc]["slow_reader_closes"]; ok && v > old {
					mark = components.MarkWarn // closed a slow reader since the last snapshot
				}
			}
			for _, l := range order {
				if l.svc != k.svc {
					continue
				}
				la := loops[l]
				t.conns += la.conns
				for kind, n := range la.kinds {
					t.kinds[kind] += n
				}
				if la.in < 0 || t.in < 0 {
					t.in, t.out = -1, -1
				} else {
					t.in += la.in
					t.out += la.out
				}
			}
			cells := []string{k.svc, "all", strconv.Itoa(t.conns), kinds(t.kinds), common.Bytes(t.in), common.Bytes(t.out), frames, slow}
			if d.Match(cells...) {
				rows = append(rows, components.Row{Cells: cells, Mark: mark})
			}
		}
		cells := []string{"", strconv.Itoa(k.loop), strconv.Itoa(a.conns), kinds(a.kinds), common.Bytes(a.in), common.Bytes(a.out), "", ""}
		if d.Match(append(cells, k.svc)...) {
			rows = append(rows, components.Row{Cells: cells, Mark: components.MarkMuted})
		}
	}
	p.loops.SetRows(rows)

	sort.SliceStable(peers, func(i, j int) bool {
		ri, rj := peers[i].in+peers[i].out, peers[j].in+peers[j].out
		if ri != rj {
			return ri > rj
		}
		ti, tj := peers[i].s.BytesIn+peers[i].s.BytesOut, peers[j].s.BytesIn+peers[j].s.BytesOut
		if ti != tj {
			return ti > tj
		}
		return peers[i].s.ID < peers[j].s.ID
	})
	rows = nil
	for _, pr := range peers {
		s := pr.s
		user := "-"
		if s.UserID != 0 {
			user = strconv.FormatUint(uint64(s.UserID), 10)
		}
		cells := []string{s.Service, s.Kind, s.Remote, user, common.Bytes(pr.in), common.Bytes(pr.out), common.Bytes(float64(s.Queued))}
		if !d.Match(cells...) {
			continue
		}
		mark := components.MarkNone
		if s.Queued > 0 {
			mark = components.MarkWarn
		}
		rows = append(rows, components.Row{Cells: cells, Mark: mark})
	}
	p.peers.SetRows(rows)
	p.layout()
}

// kinds renders socket counts by kind, e.g. "client 3 peer-out 4 listen 1".
func kinds(m map[string]int) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	var parts []string
	for _, k := range names {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

// HandleKey implements Page.
func (p *Sockets) HandleKey(k string) bool { return p.peers.HandleKey(k) }

// ShortHelp implements Page.
func (p *Sockets) ShortHelp() []key.Binding { return []key.Binding{p.c.Keys.Kick} }

// View implements Page.
func (p *Sockets) View() string {
	note := "rates over the last snapshot interval"
	if p.d.Elapsed() == 0 {
		note = "rates appear with the second snapshot"
	}
	var b strings.Builder
	b.WriteString(section(p.c, fmt.Sprintf("Sockets (%d)", len(p.d.Snap.Sockets)), note, p.w))
	b.WriteString("\n" + p.loops.View() + "\n")
	b.WriteString(section(p.c, "Busiest peers", "! = bytes waiting in its write queue", p.w))
	b.WriteString("\n" + p.peers.View())
	return fit(b.String(), p.h)
}
