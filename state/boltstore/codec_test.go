package boltstore

import (
	"bytes"
	"testing"

	"teamtalk/state"
)

func FuzzDecodeMsg(f *testing.F) {
	f.Add(encodeMsg(7, state.MsgSingleText, 1700000000, []byte("nnZSBwfPCz60q69ddmfIJA==")))
	f.Add(encodeMsg(1, state.MsgGroupAudio, 0, []byte("12")))
	f.Add([]byte{1, 2, 3})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, v []byte) {
		m, err := decodeMsg(v, 9, 3)
		if err != nil {
			if len(v) >= 9 {
				t.Fatalf("decode of %d bytes failed: %v", len(v), err)
			}
			return
		}
		if !bytes.Equal(encodeMsg(m.From, m.Type, m.Created, m.Content), v) {
			t.Fatal("decode/encode does not round-trip")
		}
		if len(v) > 9 {
			v[9]++ // the content must not alias the record
			if m.Content[0] == v[9] {
				t.Fatal("content aliases the stored record")
			}
		}
	})
}

func FuzzDecodeSession(f *testing.F) {
	f.Add(sessionRecord{status: 1, created: 5, updated: 6}.encode())
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, v []byte) {
		rec := decodeSession(v)
		if len(v) == 9 && v[0] <= 1 && !bytes.Equal(rec.encode(), v) {
			t.Fatal("session record does not round-trip")
		}
	})
}
