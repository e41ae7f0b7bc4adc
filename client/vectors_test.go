package client

import (
	"bufio"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"teamtalk/wire"
)

// vectorsDir is /work/shared/vectors seen from this package: CI checks the
// repository out with shared/ beside the clone, at the same relative place.
var vectorsDir = filepath.Join("..", "..", "shared", "vectors")

// vecFrame is one captured frame of vectors/port_8000.txt.
type vecFrame struct {
	line   int
	stream int
	toSrv  bool // C->S
	h      wire.Header
	body   []byte
}

// frame returns the whole frame, header included.
func (v vecFrame) frame() []byte { return wire.AppendFrame(nil, v.h, v.body) }

var vecLine = regexp.MustCompile(`^t=\s*[\d.]+ stream=\s*(\d+) \d+->\d+ (C->S|S->C) len=(\d+) ver=(\d+) flag=(\d+) sid=0x([0-9a-f]{4}) cid=0x([0-9a-f]{4}) seq=(\d+) res=(\d+) body=([0-9a-f]*)$`)

// loadClientVectors parses vectors/port_8000.txt (client <-> msg_server). A
// line that does not match the documented format fails the test.
func loadClientVectors(tb testing.TB) []vecFrame {
	tb.Helper()
	path := filepath.Join(vectorsDir, "port_8000.txt")
	f, err := os.Open(path)
	if err != nil {
		tb.Fatalf("vectors (want shared/vectors beside the clone): %v", err)
	}
	defer f.Close()
	var out []vecFrame
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		if sc.Text() == "" {
			continue
		}
		m := vecLine.FindStringSubmatch(sc.Text())
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
		body, err := hex.DecodeString(m[10])
		if err != nil {
			tb.Fatalf("%s:%d: body: %v", path, n, err)
		}
		v := vecFrame{
			line:   n,
			stream: int(num(m[1], 10)),
			toSrv:  m[2] == "C->S",
			h: wire.Header{
				Length: uint32(num(m[3], 10)), Version: uint16(num(m[4], 10)), Flag: uint16(num(m[5], 10)),
				ServiceID: uint16(num(m[6], 16)), CommandID: uint16(num(m[7], 16)),
				Seq: uint16(num(m[8], 10)), Reserved: uint16(num(m[9], 10)),
			},
			body: body,
		}
		if int(v.h.Length) != wire.HeaderLen+len(body) {
			tb.Fatalf("%s:%d: len=%d but body is %d bytes", path, n, v.h.Length, len(body))
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	if len(out) == 0 {
		tb.Fatalf("%s: no frames", path)
	}
	return out
}

// step is one request of a recorded session and what the server sent back
// before the client's next request: the replies (seq = the request's) and
// the unsolicited PDUs (seq 0).
type step struct {
	req     vecFrame
	replies []vecFrame
}

// sessionScript cuts the frames of one TCP stream into steps.
func sessionScript(tb testing.TB, all []vecFrame, stream int) []step {
	tb.Helper()
	var steps []step
	for _, v := range all {
		if v.stream != stream {
			continue
		}
		if v.toSrv {
			steps = append(steps, step{req: v})
			continue
		}
		if len(steps) == 0 {
			tb.Fatalf("stream %d: server frame before any request (line %d)", stream, v.line)
		}
		steps[len(steps)-1].replies = append(steps[len(steps)-1].replies, v)
	}
	if len(steps) == 0 {
		tb.Fatalf("stream %d: no frames", stream)
	}
	return steps
}
