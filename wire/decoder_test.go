package wire

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"unsafe"
)

// testFrames returns a few frames of various sizes and their concatenation.
func testFrames() ([][]byte, []byte) {
	var frames [][]byte
	var stream []byte
	for i, n := range []int{0, 1, 5, 15, 16, 17, 100, 3000} {
		body := bytes.Repeat([]byte{byte(i + 1)}, n)
		f := AppendFrame(nil, Header{Version: 1, ServiceID: 3, CommandID: 0x0301, Seq: uint16(i)}, body)
		frames = append(frames, f)
		stream = append(stream, f...)
	}
	return frames, stream
}

// drain calls Next until it returns nil, copying the frames out.
func drain(t *testing.T, d *Decoder) [][]byte {
	t.Helper()
	var out [][]byte
	for {
		f, err := d.Next()
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if f == nil {
			return out
		}
		out = append(out, bytes.Clone(f))
	}
}

func checkFrames(t *testing.T, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d frames, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("frame %d differs: got %d bytes, want %d", i, len(got[i]), len(want[i]))
		}
	}
}

// TestDecoderSplitEverywhere cuts the stream in two at every byte boundary,
// and also in three pieces at every pair of boundaries in its first 64 bytes.
func TestDecoderSplitEverywhere(t *testing.T) {
	frames, stream := testFrames()
	for cut := 0; cut <= len(stream); cut++ {
		d := NewDecoder(MaxClientFrame)
		d.Feed(stream[:cut])
		got := drain(t, d)
		d.Feed(stream[cut:])
		got = append(got, drain(t, d)...)
		checkFrames(t, got, frames)
		if d.Buffered() != 0 {
			t.Fatalf("cut %d: %d bytes left", cut, d.Buffered())
		}
	}
	for a := 0; a < 64; a++ {
		for b := a; b < 64; b++ {
			d := NewDecoder(MaxClientFrame)
			var got [][]byte
			for _, p := range [][]byte{stream[:a], stream[a:b], stream[b:]} {
				d.Feed(p)
				got = append(got, drain(t, d)...)
			}
			checkFrames(t, got, frames)
		}
	}
}

func TestDecoderManyFramesOneRead(t *testing.T) {
	frames, stream := testFrames()
	d := NewDecoder(MaxClientFrame)
	d.Feed(stream)
	// Whole frames inside one Feed come back as sub-slices of it: no copy.
	for i := range frames {
		f, err := d.Next()
		if err != nil || f == nil {
			t.Fatalf("frame %d: %v, %v", i, f, err)
		}
		if !aliases(f, stream) {
			t.Fatalf("frame %d was copied", i)
		}
		if !bytes.Equal(f, frames[i]) {
			t.Fatalf("frame %d differs", i)
		}
	}
	if f, err := d.Next(); f != nil || err != nil {
		t.Fatalf("extra Next = %v, %v", f, err)
	}
}

// TestDecoderFeedWithoutDrain: bytes of an earlier Feed not yet consumed are
// kept when the caller feeds again.
func TestDecoderFeedWithoutDrain(t *testing.T) {
	frames, stream := testFrames()
	d := NewDecoder(MaxClientFrame)
	for i := 0; i < len(stream); i += 7 {
		d.Feed(stream[i:min(i+7, len(stream))])
	}
	checkFrames(t, drain(t, d), frames)
}

func TestDecoderFill(t *testing.T) {
	frames, stream := testFrames()
	tests := []struct {
		name string
		r    io.Reader
	}{
		{"one byte reads", iotest.OneByteReader(bytes.NewReader(stream))},
		{"half reads", iotest.HalfReader(bytes.NewReader(stream))},
		{"whole", bytes.NewReader(stream)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(MaxClientFrame)
			var got [][]byte
			for {
				_, err := d.Fill(tt.r)
				got = append(got, drain(t, d)...)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			checkFrames(t, got, frames)
		})
	}
}

func TestDecoderErrors(t *testing.T) {
	hb := AppendFrame(nil, NewHeader(0x0701, 0), nil)
	withLen := func(n uint32) []byte {
		b := bytes.Clone(hb)
		Header{Length: n, Version: 1, ServiceID: 7, CommandID: 0x0701}.Put(b)
		return b
	}
	tests := []struct {
		name     string
		stream   []byte
		max      int
		good     int // whole frames before the error
		wantErr  error
		wantText string
	}{
		{"zero length", withLen(0), 1024, 0, ErrShortLength, "length 0"},
		{"length 15", withLen(15), 1024, 0, ErrShortLength, "length 15"},
		{"length 1 after a good frame", append(bytes.Clone(hb), withLen(1)...), 1024, 1, ErrShortLength, "length 1"},
		{"over limit", withLen(1025), 1024, 0, ErrTooLarge, "length 1025, limit 1024"},
		{"over limit, header only", withLen(5 << 20)[:HeaderLen], MaxClientFrame, 0, ErrTooLarge, "length 5242880, limit 4194304"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, step := range []int{1, 3, len(tt.stream)} {
				d := NewDecoder(tt.max)
				good := 0
				var err error
				for off := 0; off < len(tt.stream) && err == nil; off += step {
					d.Feed(tt.stream[off:min(off+step, len(tt.stream))])
					for err == nil {
						var f []byte
						f, err = d.Next()
						if f == nil {
							break
						}
						good++
					}
				}
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantText) {
					t.Fatalf("step %d: err %v, want %v with %q", step, err, tt.wantErr, tt.wantText)
				}
				if good != tt.good {
					t.Fatalf("step %d: %d good frames, want %d", step, good, tt.good)
				}
				// The error sticks: the stream cannot be resynchronised.
				d.Feed(hb)
				if f, err2 := d.Next(); f != nil || !errors.Is(err2, tt.wantErr) || d.Err() == nil {
					t.Fatalf("after error: %v, %v", f, err2)
				}
				d.Reset()
				d.Feed(hb)
				if f, err2 := d.Next(); err2 != nil || !bytes.Equal(f, hb) {
					t.Fatalf("after Reset: %v, %v", f, err2)
				}
			}
		})
	}
}

// TestDecoderBoundedBuffer: a frame split into small pieces is assembled in
// a buffer of about its own size, and a big buffer is released once drained.
func TestDecoderBoundedBuffer(t *testing.T) {
	const size = 1 << 20
	big := AppendFrame(nil, NewHeader(0x0505, 1), make([]byte, size-HeaderLen))
	d := NewDecoder(2 * size)
	for off := 0; off < len(big); off += 1000 {
		d.Feed(big[off:min(off+1000, len(big))])
		if f, err := d.Next(); err != nil {
			t.Fatal(err)
		} else if f != nil && len(f) != size {
			t.Fatalf("frame of %d bytes", len(f))
		}
		if cap(d.buf) > size+minRead {
			t.Fatalf("buffer grew to %d for a %d-byte frame", cap(d.buf), size)
		}
	}
	hb := AppendFrame(nil, NewHeader(0x0701, 0), nil)
	d.Feed(hb)
	if f, err := d.Next(); err != nil || !bytes.Equal(f, hb) {
		t.Fatalf("next frame: %v, %v", f, err)
	}
	if cap(d.buf) > keepCap {
		t.Fatalf("drained decoder keeps %d bytes", cap(d.buf))
	}
	// Fill stays within one frame plus one read as well.
	d = NewDecoder(2 * size)
	r := iotest.HalfReader(bytes.NewReader(big))
	for {
		_, err := d.Fill(r)
		if cap(d.buf) > size+minRead {
			t.Fatalf("Fill grew the buffer to %d", cap(d.buf))
		}
		if f, _ := d.Next(); f != nil {
			break
		}
		if err != nil {
			t.Fatalf("no frame before %v", err)
		}
	}
}

// aliases reports whether f lies inside buf's backing array.
func aliases(f, buf []byte) bool {
	lo, hi := uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&buf[len(buf)-1]))
	p := uintptr(unsafe.Pointer(&f[0]))
	return p >= lo && p <= hi
}
