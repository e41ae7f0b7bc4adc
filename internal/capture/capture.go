// Package capture reads the frame captures of the C++ TeamTalk servers kept
// in shared/vectors (port_*.txt): one frame per line, in the format
// vectors/README.md documents. Tests in several packages replay them.
//
// It builds frames with encoding/binary rather than package wire, so that
// wire's own tests can use it without an import cycle.
package capture

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
)

// HeaderLen is the size of a TeamTalk PDU header.
const HeaderLen = 16

// Frame is one captured frame.
type Frame struct {
	File     string // the capture's base name, e.g. "port_8000.txt"
	Line     int    // 1-based line number in File
	Stream   int    // the TCP stream number
	ToServer bool   // C->S
	// Raw is the whole frame as the line states it: the 16-byte header
	// built from the line's fields (length as stated), then the body.
	Raw []byte
}

// Body returns the frame's body (Raw without its header).
func (f Frame) Body() []byte { return f.Raw[HeaderLen:] }

// Name is "file:line", for test messages.
func (f Frame) Name() string { return f.File + ":" + strconv.Itoa(f.Line) }

var frameLine = regexp.MustCompile(`^t=\s*[\d.]+ stream=\s*(\d+) \d+->\d+ (C->S|S->C) len=(\d+) ver=(\d+) flag=(\d+) sid=0x([0-9a-f]{4}) cid=0x([0-9a-f]{4}) seq=(\d+) res=(\d+) body=([0-9a-f]*)$`)

// Load parses one capture file. Blank lines are allowed; any other line that
// is not a frame, or whose stated length is not 16 + its body, is an error:
// nothing is skipped. A file without frames is an error too.
func Load(path string) ([]Frame, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("capture: %w (want shared/vectors beside the clone)", err)
	}
	defer f.Close()
	name := filepath.Base(path)
	var out []Frame
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 4<<20), 4<<20)
	for n := 1; sc.Scan(); n++ {
		if sc.Text() == "" {
			continue
		}
		fr, err := parse(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("capture: %s:%d: %w", path, n, err)
		}
		fr.File, fr.Line = name, n
		out = append(out, fr)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("capture: %s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("capture: %s: no frames", path)
	}
	return out, nil
}

// LoadAll parses every port_*.txt file of dir, in name order.
func LoadAll(dir string) ([]Frame, error) {
	files, err := filepath.Glob(filepath.Join(dir, "port_*.txt"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("capture: no port_*.txt in %s (want shared/vectors beside the clone): %v", dir, err)
	}
	var out []Frame
	for _, p := range files {
		fs, err := Load(p)
		if err != nil {
			return nil, err
		}
		out = append(out, fs...)
	}
	return out, nil
}

// parse reads one frame line.
func parse(line string) (Frame, error) {
	m := frameLine.FindStringSubmatch(line)
	if m == nil {
		return Frame{}, fmt.Errorf("not a frame line: %.80s", line)
	}
	// Groups 1 and 3–9: stream, len, ver, flag, sid (hex), cid (hex), seq, res.
	var nums [8]uint64
	for i, g := range [8]int{1, 3, 4, 5, 6, 7, 8, 9} {
		base := 10
		if g == 6 || g == 7 {
			base = 16
		}
		v, err := strconv.ParseUint(m[g], base, 32)
		if err != nil {
			return Frame{}, err
		}
		nums[i] = v
	}
	body, err := hex.DecodeString(m[10])
	if err != nil {
		return Frame{}, fmt.Errorf("body: %w", err)
	}
	if nums[1] != uint64(HeaderLen+len(body)) {
		return Frame{}, fmt.Errorf("len=%d but the body is %d bytes", nums[1], len(body))
	}
	raw := make([]byte, HeaderLen, HeaderLen+len(body))
	binary.BigEndian.PutUint32(raw[0:], uint32(nums[1]))
	for i, v := range nums[2:] { // version, flag, service, command, seq, reserved
		binary.BigEndian.PutUint16(raw[4+2*i:], uint16(v))
	}
	return Frame{Stream: int(nums[0]), ToServer: m[2] == "C->S", Raw: append(raw, body...)}, nil
}
