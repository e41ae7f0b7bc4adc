package wire

import (
	"bufio"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
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

var vectorLine = regexp.MustCompile(`^t=\s*[\d.]+ stream=\s*\d+ \d+->\d+ (?:C->S|S->C) len=(\d+) ver=(\d+) flag=(\d+) sid=0x([0-9a-f]{4}) cid=0x([0-9a-f]{4}) seq=(\d+) res=(\d+) body=([0-9a-f]*)$`)

// loadVectors parses every frame line of every port_*.txt file. A line that
// does not match the documented format fails the test: nothing is skipped.
func loadVectors(tb testing.TB) []vector {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(vectorsDir, "port_*.txt"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no vectors in %s (want shared/vectors beside the clone): %v", vectorsDir, err)
	}
	var out []vector
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			tb.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 4<<20), 4<<20)
		n := 0
		for sc.Scan() {
			n++
			if sc.Text() == "" {
				continue
			}
			m := vectorLine.FindStringSubmatch(sc.Text())
			if m == nil {
				tb.Fatalf("%s:%d: not a frame line: %.80s", path, n, sc.Text())
			}
			num := func(s string, base int) uint64 {
				v, err := strconv.ParseUint(s, base, 32)
				if err != nil {
					tb.Fatalf("%s:%d: %v", path, n, err)
				}
				return v
			}
			body, err := hex.DecodeString(m[8])
			if err != nil {
				tb.Fatalf("%s:%d: body: %v", path, n, err)
			}
			v := vector{file: filepath.Base(path), line: n, body: body, h: Header{
				Length: uint32(num(m[1], 10)), Version: uint16(num(m[2], 10)), Flag: uint16(num(m[3], 10)),
				ServiceID: uint16(num(m[4], 16)), CommandID: uint16(num(m[5], 16)),
				Seq: uint16(num(m[6], 10)), Reserved: uint16(num(m[7], 10)),
			}}
			v.frame = make([]byte, HeaderLen, HeaderLen+len(body))
			v.h.Put(v.frame)
			v.frame = append(v.frame, body...)
			out = append(out, v)
		}
		if err := sc.Err(); err != nil {
			tb.Fatalf("%s: %v", path, err)
		}
		f.Close()
		if n == 0 {
			tb.Fatalf("%s: empty", path)
		}
	}
	return out
}

func (v vector) name() string { return v.file + ":" + strconv.Itoa(v.line) }
