package client

import (
	"path/filepath"
	"testing"

	"teamtalk/internal/capture"
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

// loadClientVectors parses vectors/port_8000.txt (client <-> msg_server). A
// line that does not match the documented format fails the test.
func loadClientVectors(tb testing.TB) []vecFrame {
	tb.Helper()
	frames, err := capture.Load(filepath.Join(vectorsDir, "port_8000.txt"))
	if err != nil {
		tb.Fatal(err)
	}
	out := make([]vecFrame, 0, len(frames))
	for _, f := range frames {
		out = append(out, vecFrame{line: f.Line, stream: f.Stream, toSrv: f.ToServer, h: wire.ParseHeader(f.Raw), body: f.Body()})
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
