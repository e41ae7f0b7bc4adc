// Package common holds what every page and component of the console shares:
// the size it may draw in, the styles, the key map, and the data of the
// latest snapshot together with what is derived from successive snapshots.
package common

import (
	"fmt"
	"strings"
	"time"

	"teamtalk/appliance/ctlapi"
	"teamtalk/tui/keymap"
	"teamtalk/tui/styles"
)

// Common is the size, styles and keys handed to every page and component.
type Common struct {
	Width, Height int
	Styles        styles.Styles
	Keys          keymap.KeyMap
	Location      *time.Location // for wall-clock times; never nil after New
}

// Data is what the pages render: the snapshot on display, the one before it
// (nil until there are two), rates kept by the console itself, and the
// active filter.
type Data struct {
	Snap      ctlapi.Snapshot
	Prev      *ctlapi.Snapshot
	Delivered []float64 // msgs delivered per second, one point per snapshot, oldest first
	Filter    string    // lower-case substring rows must contain; empty for all
}

// Elapsed returns the seconds between Prev and Snap, or 0 without a usable Prev.
func (d *Data) Elapsed() float64 {
	if d.Prev == nil {
		return 0
	}
	s := d.Snap.Time.Sub(d.Prev.Time).Seconds()
	if s <= 0 {
		return 0
	}
	return s
}

// Match reports whether a row (its cells) passes the filter.
func (d *Data) Match(cells ...string) bool {
	if d.Filter == "" {
		return true
	}
	return strings.Contains(strings.ToLower(strings.Join(cells, " ")), d.Filter)
}

// Age formats a duration compactly: 45s, 3m05s, 2h04m, 3d02h; "-" for
// zero reference times is the caller's business.
func Age(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	d = d.Truncate(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

// Since returns Age(now - t), or "-" when t is zero.
func Since(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return Age(now.Sub(t))
}

// Rate formats a per-second rate: 0, 3.5, 120, 4.2k, 1.3M.
func Rate(v float64) string {
	switch {
	case v < 0:
		return "-"
	case v == 0:
		return "0"
	case v < 10:
		return fmt.Sprintf("%.1f", v)
	case v < 10000:
		return fmt.Sprintf("%.0f", v)
	case v < 10e6:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.1fM", v/1e6)
}

// Bytes formats a byte rate or count: 512B, 3.4K, 12M, 1.2G.
func Bytes(v float64) string {
	switch {
	case v < 0:
		return "-"
	case v < 1024:
		return fmt.Sprintf("%.0fB", v)
	case v < 1<<20:
		return fmt.Sprintf("%.1fK", v/1024)
	case v < 1<<30:
		return fmt.Sprintf("%.1fM", v/(1<<20))
	}
	return fmt.Sprintf("%.1fG", v/(1<<30))
}
