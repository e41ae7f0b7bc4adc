package wire

import (
	"errors"
	"testing"
)

func TestHeaderRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		h    Header
	}{
		{"heartbeat", Header{Length: 16, Version: 1, ServiceID: 7, CommandID: 0x0701}},
		{"android client", Header{Length: 65, Version: 6, ServiceID: 1, CommandID: 0x0103, Seq: 32766, Reserved: 0x0030}},
		{"ios client", Header{Length: 100, Version: 13, ServiceID: 3, CommandID: 0x0301, Seq: 9, Reserved: 1}},
		{"windows history seq", Header{Length: 40, Version: 1, ServiceID: 3, CommandID: 0x0309, Seq: 0xff02}},
		{"all ones", Header{Length: 0xffffffff, Version: 0xffff, Flag: 0xffff, ServiceID: 0xffff, CommandID: 0xffff, Seq: 0xffff, Reserved: 0xffff}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := make([]byte, HeaderLen)
			tt.h.Put(b)
			if got := ParseHeader(b); got != tt.h {
				t.Fatalf("round trip: got %+v, want %+v", got, tt.h)
			}
		})
	}
}

func TestFrameLen(t *testing.T) {
	hdr := func(n uint32) []byte {
		b := make([]byte, HeaderLen)
		Header{Length: n}.Put(b)
		return b
	}
	tests := []struct {
		name    string
		buf     []byte
		max     int
		want    int
		wantErr error
	}{
		{"empty", nil, 100, 0, nil},
		{"15 bytes", make([]byte, 15), 100, 0, nil},
		{"zero length", hdr(0), 100, 0, ErrShortLength},
		{"length 15", hdr(15), 100, 0, ErrShortLength},
		{"length 16", hdr(16), 100, 16, nil},
		{"at limit", hdr(100), 100, 100, nil},
		{"over limit", hdr(101), 100, 0, ErrTooLarge},
		{"no limit", hdr(0xffffffff), 0, 0xffffffff, nil},
		{"client limit", hdr(MaxClientFrame + 1), MaxClientFrame, 0, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FrameLen(tt.buf, tt.max)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Fatalf("FrameLen = %d, %v; want %d, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
