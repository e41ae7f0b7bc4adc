package capture

import (
	"bytes"
	"encoding/hex"
	"path/filepath"
	"testing"
)

func TestParse(t *testing.T) {
	// Appendix B's heartbeat and message ack, as capture lines.
	tests := []struct {
		name, line string
		want       string // hex of the whole frame
		toServer   bool
		stream     int
		bad        bool
	}{
		{name: "heartbeat", line: "t=1.5 stream=3 40000->8000 C->S len=16 ver=1 flag=0 sid=0x0007 cid=0x0701 seq=0 res=0 body=",
			want: "00000010000100000007070100000000", toServer: true, stream: 3},
		{name: "ack", line: "t=2.0 stream=12 8000->40000 S->C len=24 ver=1 flag=0 sid=0x0003 cid=0x0302 seq=2 res=0 body=0801100218072001",
			want: "000000180001000000030302000200000801100218072001", stream: 12},
		{name: "length disagrees with the body", line: "t=2.0 stream=1 1->2 S->C len=20 ver=1 flag=0 sid=0x0003 cid=0x0302 seq=2 res=0 body=08", bad: true},
		{name: "not a frame line", line: "# comment", bad: true},
		{name: "odd hex", line: "t=2.0 stream=1 1->2 S->C len=17 ver=1 flag=0 sid=0x0003 cid=0x0302 seq=2 res=0 body=0", bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parse(tc.line)
			if tc.bad {
				if err == nil {
					t.Fatalf("accepted: %x", f.Raw)
				}
				return
			}
			want, _ := hex.DecodeString(tc.want)
			if err != nil || !bytes.Equal(f.Raw, want) || f.ToServer != tc.toServer || f.Stream != tc.stream {
				t.Fatalf("parse = %+v, %v; want raw %x", f, err, want)
			}
		})
	}
}

func TestLoadAllVectors(t *testing.T) {
	all, err := LoadAll(filepath.Join("..", "..", "..", "shared", "vectors"))
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 100 {
		t.Fatalf("only %d frames", len(all))
	}
	for _, f := range all {
		if len(f.Raw) < HeaderLen || f.File == "" || f.Line == 0 {
			t.Fatalf("%s: %+v", f.Name(), f)
		}
	}
}
