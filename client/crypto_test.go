package client

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"teamtalk/wire"
	"teamtalk/wire/pb"
)

func testCipher(t testing.TB) *Cipher {
	t.Helper()
	c, err := NewCipher(DefaultKey)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestEncryptProtocolVectors checks the table of PROTOCOL.md §7.1.
func TestEncryptProtocolVectors(t *testing.T) {
	c := testCipher(t)
	tests := []struct {
		name, plain, cipher string
	}{
		{"short", "hello", "nnZSBwfPCz60q69ddmfIJA=="},
		{"utf8 voice marker", "[语音]", "QhGXlpFjvMFUNrtl1aaPzA=="},
		{"whole block gets one more", "0123456789abcdef", "BY1wZOT9JPljcE5qNjw9cQfU6OB7fpsvZh6GP3dYB9g="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(c.Encrypt([]byte(tt.plain))); got != tt.cipher {
				t.Errorf("Encrypt(%q) = %q, want %q", tt.plain, got, tt.cipher)
			}
			got, err := c.Decrypt([]byte(tt.cipher))
			if err != nil || string(got) != tt.plain {
				t.Errorf("Decrypt(%q) = %q, %v; want %q", tt.cipher, got, err, tt.plain)
			}
		})
	}
}

// TestCryptoClientVectors decrypts the text messages real clients sent in
// vectors/port_8000.txt and encrypts the plaintext again: the bytes must be
// the ones on the wire.
func TestCryptoClientVectors(t *testing.T) {
	c := testCipher(t)
	want := map[string]string{ // first 0x0301 of each plaintext seen
		"ML/LPQomG4RcgufAl48ziimj0cRF93vs9oKeP2sFiNg=": "hello bob from alice",
		"vhBN9XZ5LeVY/2fO5mJS/hRcTZh8kVnh+XqcWpS4mc8=": "offline msg for carol",
	}
	seen := 0
	for _, v := range loadClientVectors(t) {
		if v.h.CommandID != uint16(pb.MessageCmdID_CID_MSG_DATA) {
			continue
		}
		var m pb.IMMsgData
		if err := wire.Unmarshal(v.body, &m); err != nil {
			t.Fatalf("line %d: %v", v.line, err)
		}
		data := string(m.GetMsgData())
		plain, err := c.Decrypt(m.GetMsgData())
		if data == "plain hello" { // sent unencrypted by the capture's client
			if err == nil {
				t.Errorf("line %d: %q decrypted to %q", v.line, data, plain)
			}
			continue
		}
		if err != nil {
			t.Fatalf("line %d: Decrypt(%q): %v", v.line, data, err)
		}
		if w, ok := want[data]; ok && string(plain) != w {
			t.Errorf("line %d: Decrypt(%q) = %q, want %q", v.line, data, plain, w)
		}
		if again := c.Encrypt(plain); string(again) != data {
			t.Errorf("line %d: Encrypt(%q) = %q, want the captured %q", v.line, plain, again, data)
		}
		seen++
	}
	if seen < 3 {
		t.Fatalf("only %d encrypted messages in the vectors", seen)
	}
}

func TestCryptoRoundTripLengths(t *testing.T) {
	c := testCipher(t)
	for n := range 70 {
		plain := []byte(strings.Repeat("x", n))
		enc := c.Encrypt(plain)
		if len(enc) != EncryptedLen(n) {
			t.Errorf("n=%d: %d bytes, EncryptedLen says %d", n, len(enc), EncryptedLen(n))
		}
		raw := sealedLen(n)
		if raw%16 != 0 || raw < n+4 {
			t.Errorf("n=%d: sealed length %d has no room for the length", n, raw)
		}
		got, err := c.Decrypt(enc)
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("n=%d: round trip = %q, %v", n, got, err)
		}
		// AppendEncrypt leaves the prefix alone.
		pre := []byte("prefix:")
		out := c.AppendEncrypt(pre, plain)
		if string(out[:7]) != "prefix:" || !bytes.Equal(out[7:], enc) {
			t.Errorf("n=%d: AppendEncrypt = %q", n, out)
		}
	}
}

func TestDecryptErrors(t *testing.T) {
	c := testCipher(t)
	tests := []struct {
		name, in string
	}{
		{"empty", ""},
		{"only padding", "===="},
		{"not base64", "!!!!"},
		{"not whole blocks", "aGVsbG8="},
		{"length over data", string(encryptRawLen(t, c, 1000))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := c.Decrypt([]byte(tt.in)); !errors.Is(err, ErrBadCiphertext) {
				t.Errorf("Decrypt(%q) = %q, %v; want ErrBadCiphertext", tt.in, got, err)
			}
		})
	}
	// Whitespace and line breaks inside the base64 are skipped.
	got, err := c.Decrypt([]byte(" nnZSBwfP\nCz60q69d\r\ndmfIJA== "))
	if err != nil || string(got) != "hello" {
		t.Errorf("Decrypt with whitespace = %q, %v", got, err)
	}
}

// encryptRawLen makes one block whose length field says n.
func encryptRawLen(t *testing.T, c *Cipher, n uint32) []byte {
	t.Helper()
	raw := make([]byte, 16)
	raw[12], raw[13], raw[14], raw[15] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	c.block.Encrypt(raw, raw)
	return []byte(b64(raw))
}

func TestNewCipherKeyLength(t *testing.T) {
	if _, err := NewCipher("short"); err == nil {
		t.Error("NewCipher accepted a 5-byte key")
	}
}

func TestPasswordHash(t *testing.T) {
	tests := []struct{ name, plain, want string }{
		{"capture users", "123456", "e10adc3949ba59abbe56e057f20f883e"},
		{"protocol example", "test", "098f6bcd4621d373cade4e832627b4f6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PasswordHash(tt.plain); got != tt.want {
				t.Errorf("PasswordHash(%q) = %s, want %s", tt.plain, got, tt.want)
			}
		})
	}
}

func FuzzDecrypt(f *testing.F) {
	for _, s := range []string{"nnZSBwfPCz60q69ddmfIJA==", "QhGXlpFjvMFUNrtl1aaPzA==", "", "====", "aGVsbG8=", "BY1wZOT9JPljcE5qNjw9cQfU6OB7fpsvZh6GP3dYB9g="} {
		f.Add([]byte(s))
	}
	c := testCipher(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		plain, err := c.Decrypt(in)
		if err != nil {
			if !errors.Is(err, ErrBadCiphertext) {
				t.Fatalf("error not ErrBadCiphertext: %v", err)
			}
			return
		}
		// What decrypts re-encrypts to something that decrypts the same.
		again, err := c.Decrypt(c.Encrypt(plain))
		if err != nil || !bytes.Equal(again, plain) {
			t.Fatalf("round trip of %q: %q, %v", plain, again, err)
		}
	})
}

func b64(raw []byte) string { return base64.StdEncoding.EncodeToString(raw) }
