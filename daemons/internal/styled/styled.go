// Package styled writes JSON the way jsoncpp's StyledWriter does, which is
// what TeamTalk's HTTP services answer with (PROTOCOL.md §4.15, §5.2): one
// flat object, keys sorted, three-space indent, `"key" : value`, one member
// per line, a final newline; strings with ", \ and control characters
// escaped and other UTF-8 passed through.
package styled

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Object returns members as a styled JSON object. Each value must already be
// JSON text (use Quote, Int, Uint).
func Object(members map[string]string) []byte {
	keys := make([]string, 0, len(members))
	for k := range members {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("{\n")
	for i, k := range keys {
		fmt.Fprintf(&b, "   %s : %s", Quote(k), members[k])
		if i < len(keys)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("}\n")
	return []byte(b.String())
}

// Int returns n as JSON text.
func Int(n int) string { return strconv.Itoa(n) }

// Uint returns n as JSON text.
func Uint(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

// Quote returns s as a JSON string the way jsoncpp writes it.
func Quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				fmt.Fprintf(&b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}
