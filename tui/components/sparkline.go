package components

import (
	"strings"
)

var sparkRunes = []rune("▁▂▃▄▅▆▇█")

// Sparkline draws the last width values as block characters scaled to their
// maximum; an all-zero series is a flat baseline. It pads on the left when
// there are fewer values than width.
func Sparkline(values []float64, width int) string {
	if width <= 0 {
		return ""
	}
	if len(values) > width {
		values = values[len(values)-width:]
	}
	hi := 0.0
	for _, v := range values {
		hi = max(hi, v)
	}
	var b strings.Builder
	b.WriteString(strings.Repeat(" ", width-len(values)))
	for _, v := range values {
		i := 0
		if hi > 0 && v > 0 {
			i = min(int(v/hi*float64(len(sparkRunes)-1)+0.5), len(sparkRunes)-1)
			i = max(i, 1) // any activity shows above the baseline
		}
		b.WriteRune(sparkRunes[i])
	}
	return b.String()
}
