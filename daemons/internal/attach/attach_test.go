package attach

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEncodeAppendixB(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"handle type 1 handle 42", Handle(TypeHandle, 42), "00000001" + "0000002a" + "00000000"},
		{"pdu type 1 handle 42 empty", PDU(TypeHandle, 42, nil), "00000001" + "0000002a" + "00000000" + "00000000"},
		{"pdu type 3 with payload", PDU(TypeHandleAndPDU, 7, []byte{0xde, 0xad}), "00000003" + "00000007" + "00000000" + "00000002" + "dead"},
		{"data encode handle", Data{Type: TypeHandle, Handle: 42}.Encode(), "000000010000002a00000000"},
		{"data encode haspdu", Data{Type: TypePDUForPush, Handle: 0, HasPDU: true}.Encode(), "00000004000000000000000000000000"},
		{"data encode service type", Data{Type: TypeHandle, Handle: 1, ServiceType: 9}.Encode(), "000000010000000100000009"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !bytes.Equal(tc.got, unhex(t, tc.want)) {
				t.Fatalf("got %x, want %s", tc.got, tc.want)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Data
		wantErr bool
	}{
		{"appendix b handle", "000000010000002a00000000", Data{Type: 1, Handle: 42}, false},
		{"appendix b pdu empty", "000000010000002a0000000000000000", Data{Type: 1, Handle: 42, HasPDU: true, PDU: []byte{}}, false},
		{"type 5 payload", "0000000500000003000000000000000301020" + "3", Data{Type: 5, Handle: 3, HasPDU: true, PDU: []byte{1, 2, 3}}, false},
		{"max handle", "00000004ffffffff00000000", Data{Type: 4, Handle: 0xffffffff}, false},
		{"empty", "", Data{}, true},
		{"too short", "0000000100000001", Data{}, true},
		{"13 bytes", "00000001000000010000000000", Data{}, true},
		{"pdu_len too big", "00000003000000010000000000000005aabb", Data{}, true},
		{"pdu_len too small", "00000003000000010000000000000001aabb", Data{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(unhex(t, tc.in))
			if tc.wantErr {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Type != tc.want.Type || got.Handle != tc.want.Handle || got.ServiceType != tc.want.ServiceType ||
				got.HasPDU != tc.want.HasPDU || !bytes.Equal(got.PDU, tc.want.PDU) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(unhex(f, "000000010000002a00000000"))
	f.Add(unhex(f, "000000010000002a0000000000000000"))
	f.Add(unhex(f, "00000003000000070000000000000002dead"))
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Decode(b)
		if err != nil {
			return
		}
		// What decodes re-encodes byte for byte (the echo rule of §1.8).
		if out := d.Encode(); !bytes.Equal(out, b) {
			t.Fatalf("re-encode %x != input %x", out, b)
		}
	})
}
