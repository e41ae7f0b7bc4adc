package components

import (
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// Bar lays out left and right text on one line of the given width: the right
// part stays whole while the left is truncated to make room.
func Bar(left, right string, width int) string {
	rw := ansi.StringWidth(right)
	if rw >= width {
		return ansi.Truncate(right, width, "…")
	}
	left = ansi.Truncate(left, width-rw-1, "…")
	gap := width - ansi.StringWidth(left) - rw
	return left + strings.Repeat(" ", max(gap, 1)) + right
}
