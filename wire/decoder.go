package wire

import (
	"fmt"
	"io"
)

const (
	// minRead is the smallest free space Fill offers a read.
	minRead = 4 << 10
	// keepCap is the largest buffer an empty Decoder keeps; a bigger one
	// (grown for a large frame) is released once drained.
	keepCap = 64 << 10
)

// Decoder splits a TCP byte stream into whole frames. Bytes go in through
// Feed (or Fill, which reads straight into the decoder's buffer); whole frames
// come out of Next.
//
// Frames that arrive whole inside one Feed are returned as sub-slices of the
// fed bytes, without copying; only a frame split across feeds is assembled in
// the decoder's own buffer, which never holds more than the frame being
// completed (so it is bounded by the size limit). A length under 16 or over
// the limit is a fatal stream error: Next returns it from then on.
//
// A Decoder is not safe for concurrent use.
type Decoder struct {
	max     int
	buf     []byte // owned; buf[r:w] holds buffered, unconsumed bytes
	r, w    int
	pending []byte // borrowed from the last Feed, not yet consumed
	err     error
}

// NewDecoder returns a Decoder that accepts frames up to max bytes, header
// included (see MaxClientFrame, MaxServerFrame). A max of 0 means no limit.
func NewDecoder(max int) *Decoder {
	return &Decoder{max: max}
}

// Feed hands the decoder the next bytes of the stream. The decoder borrows p
// without copying: call Next until it returns nil (or an error), after which
// p is no longer referenced and the caller may reuse it for the next read.
// If Feed is called again before that, the unconsumed rest of the earlier p
// is copied into the decoder's buffer first.
func (d *Decoder) Feed(p []byte) {
	if len(d.pending) > 0 {
		d.absorb(d.pending)
	}
	d.pending = p
}

// Fill reads once from r straight into the decoder's buffer and returns what
// Read returned. Use it where the decoder owns the reads (a blocking client
// connection); io.EOF is passed through unchanged.
func (d *Decoder) Fill(r io.Reader) (int, error) {
	if len(d.pending) > 0 {
		d.absorb(d.pending)
		d.pending = nil
	}
	want := minRead
	if n, err := FrameLen(d.buf[d.r:d.w], d.max); err == nil && n > d.w-d.r {
		// Room for the rest of the frame in one go; a read may take more if
		// the buffer has room, but the buffer is not grown past the frame.
		want = n - (d.w - d.r)
	}
	d.reserve(want)
	n, err := r.Read(d.buf[d.w:cap(d.buf)])
	if n > 0 {
		d.w += n
	}
	return n, err
}

// Next returns the next whole frame (header and body), or nil and a nil error
// when more bytes are needed. The frame is valid until the next call to Next,
// Feed, Fill or Reset. A framing error (length under 16 or over the limit)
// is returned by this and every later call: close the connection.
func (d *Decoder) Next() ([]byte, error) {
	if d.err != nil {
		return nil, d.err
	}
	for d.r < d.w {
		// A frame started in an earlier feed: complete it in the buffer.
		n, err := FrameLen(d.buf[d.r:d.w], d.max)
		if err != nil {
			return nil, d.fail(err)
		}
		have := d.w - d.r
		if n > 0 && have >= n {
			f := d.buf[d.r : d.r+n : d.r+n]
			d.r += n
			return f, nil
		}
		need := HeaderLen - have
		if n > 0 {
			need = n - have
		}
		if len(d.pending) == 0 {
			return nil, nil
		}
		take := min(need, len(d.pending))
		d.absorb(d.pending[:take])
		d.pending = d.pending[take:]
	}
	d.drained()
	if len(d.pending) == 0 {
		return nil, nil
	}
	n, err := FrameLen(d.pending, d.max)
	if err != nil {
		return nil, d.fail(err)
	}
	if n > 0 && len(d.pending) >= n {
		f := d.pending[:n:n]
		d.pending = d.pending[n:]
		return f, nil
	}
	// An incomplete frame: keep its start, sized for the whole frame if the
	// header says how long it is.
	if n > 0 {
		d.reserve(n)
	}
	d.absorb(d.pending)
	d.pending = nil
	return nil, nil
}

// Buffered returns the number of bytes fed but not yet returned as frames.
func (d *Decoder) Buffered() int { return d.w - d.r + len(d.pending) }

// Err returns the framing error that stopped the decoder, or nil.
func (d *Decoder) Err() error { return d.err }

// Reset drops all buffered bytes and any error, keeping the size limit.
func (d *Decoder) Reset() {
	d.r, d.w, d.pending, d.err = 0, 0, nil, nil
	if cap(d.buf) > keepCap {
		d.buf = nil
	}
}

func (d *Decoder) fail(err error) error {
	d.err = fmt.Errorf("wire: decode: %w", err)
	d.pending = nil
	d.r, d.w = 0, 0
	d.buf = nil
	return d.err
}

// drained resets an empty buffer, releasing it if a large frame grew it.
func (d *Decoder) drained() {
	d.r, d.w = 0, 0
	if cap(d.buf) > keepCap {
		d.buf = nil
	}
}

// absorb appends p to the owned buffer.
func (d *Decoder) absorb(p []byte) {
	d.reserve(len(p))
	d.w += copy(d.buf[d.w:cap(d.buf)], p)
}

// reserve makes room for n more bytes after w, compacting before growing.
func (d *Decoder) reserve(n int) {
	if d.r == d.w {
		d.r, d.w = 0, 0
	}
	if cap(d.buf)-d.w >= n {
		d.buf = d.buf[:cap(d.buf)]
		return
	}
	live := d.w - d.r
	if cap(d.buf)-live >= n {
		copy(d.buf, d.buf[d.r:d.w])
	} else {
		size := max(live+n, 2*cap(d.buf), 2*HeaderLen)
		if d.max > 0 {
			// Doubling stops at one whole frame plus one read.
			size = max(live+n, min(size, d.max+minRead))
		}
		nb := make([]byte, size)
		copy(nb, d.buf[d.r:d.w])
		d.buf = nb
	}
	d.r, d.w = 0, live
	d.buf = d.buf[:cap(d.buf)]
}
