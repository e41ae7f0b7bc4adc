package wire

import (
	"path/filepath"
	"strconv"
	"testing"

	"teamtalk/internal/capture"
)

// vectorsDir is /work/shared/vectors seen from this package: CI checks the
// repository out with shared/ beside the clone, at the same relative place.
var vectorsDir = filepath.Join("..", "..", "shared", "vectors")

// vector is one captured frame of vectors/port_*.txt.
type vector struct {
	file  string
	line  int
	h     Header // as the line's fields state it
	body  []byte
	frame []byte // the whole frame rebuilt from the line: header + body
}

// loadVectors parses every frame line of every port_*.txt file (package
// capture: a line that does not match the documented format fails the test,
// nothing is skipped).
func loadVectors(tb testing.TB) []vector {
	tb.Helper()
	frames, err := capture.LoadAll(vectorsDir)
	if err != nil {
		tb.Fatal(err)
	}
	out := make([]vector, 0, len(frames))
	for _, f := range frames {
		out = append(out, vector{file: f.File, line: f.Line, h: ParseHeader(f.Raw), body: f.Body(), frame: f.Raw})
	}
	return out
}

func (v vector) name() string { return v.file + ":" + strconv.Itoa(v.line) }
