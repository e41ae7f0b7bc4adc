package textcrypt

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func testCipher(t testing.TB) *Cipher {
	t.Helper()
	c, err := New(DefaultKey)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// vectors is the table of PROTOCOL.md §7.1 (key DefaultKey).
var vectors = []struct {
	name, plain, cipher string
}{
	{"short", "hello", "nnZSBwfPCz60q69ddmfIJA=="},
	{"utf8 voice marker", "[语音]", "QhGXlpFjvMFUNrtl1aaPzA=="},
	{"whole block gets one more", "0123456789abcdef", "BY1wZOT9JPljcE5qNjw9cQfU6OB7fpsvZh6GP3dYB9g="},
}

func TestProtocolVectors(t *testing.T) {
	c := testCipher(t)
	for _, tt := range vectors {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(c.Encrypt([]byte(tt.plain))); got != tt.cipher {
				t.Errorf("Encrypt(%q) = %q, want %q", tt.plain, got, tt.cipher)
			}
			got, err := c.Decrypt([]byte(tt.cipher))
			if err != nil || string(got) != tt.plain {
				t.Errorf("Decrypt(%q) = %q, %v; want %q", tt.cipher, got, err, tt.plain)
			}
			if got, err := Encrypt(DefaultKey, []byte(tt.plain)); err != nil || string(got) != tt.cipher {
				t.Errorf("package Encrypt(%q) = %q, %v", tt.plain, got, err)
			}
			if got, err := Decrypt(DefaultKey, []byte(tt.cipher)); err != nil || string(got) != tt.plain {
				t.Errorf("package Decrypt(%q) = %q, %v", tt.cipher, got, err)
			}
		})
	}
}

func TestRoundTripLengths(t *testing.T) {
	c := testCipher(t)
	for n := range 70 {
		plain := []byte(strings.Repeat("x", n))
		enc := c.Encrypt(plain)
		if len(enc) != EncryptedLen(n) {
			t.Errorf("n=%d: %d bytes, EncryptedLen says %d", n, len(enc), EncryptedLen(n))
		}
		raw := SealedLen(n)
		if raw%16 != 0 || raw < n+4 || raw >= n+4+32 {
			t.Errorf("n=%d: sealed length %d", n, raw)
		}
		got, err := c.Decrypt(enc)
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("n=%d: round trip = %q, %v", n, got, err)
		}
		// AppendEncrypt leaves the prefix alone.
		out := c.AppendEncrypt([]byte("prefix:"), plain)
		if string(out[:7]) != "prefix:" || !bytes.Equal(out[7:], enc) {
			t.Errorf("n=%d: AppendEncrypt = %q", n, out)
		}
	}
}

func TestAppendEncryptReusesRoom(t *testing.T) {
	c := testCipher(t)
	plain := []byte("hello, this is a message")
	buf := make([]byte, 0, EncryptedLen(len(plain))+SealedLen(len(plain)))
	if n := testing.AllocsPerRun(20, func() { buf = c.AppendEncrypt(buf[:0], plain) }); n != 0 {
		t.Errorf("AppendEncrypt into a big enough buffer allocated %v times", n)
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
		{"length over data", string(encryptRawLen(c, 1000))},
		{"plain text", "plain hello"},
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
func encryptRawLen(c *Cipher, n uint32) []byte {
	raw := make([]byte, 16)
	raw[12], raw[13], raw[14], raw[15] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	c.block.Encrypt(raw, raw)
	return []byte(base64.StdEncoding.EncodeToString(raw))
}

func TestKeyLength(t *testing.T) {
	tests := []struct {
		name, key string
		ok        bool
	}{
		{"default", DefaultKey, true},
		{"short", "short", false},
		{"aes-128 length", DefaultKey[:16], false},
		{"long", DefaultKey + "x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.key)
			if (err == nil) != tt.ok {
				t.Errorf("New(%d bytes) error = %v, want ok %v", len(tt.key), err, tt.ok)
			}
			if _, err := Encrypt(tt.key, []byte("x")); (err == nil) != tt.ok {
				t.Errorf("Encrypt with %d bytes: %v", len(tt.key), err)
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
		// AppendDecrypt agrees, after what dst held.
		got, err := c.AppendDecrypt([]byte("pre"), in)
		if err != nil || string(got[:3]) != "pre" || !bytes.Equal(got[3:], plain) {
			t.Fatalf("AppendDecrypt of %q: %q, %v; Decrypt %q", in, got, err, plain)
		}
		// What decrypts re-encrypts to something that decrypts the same.
		again, err := c.Decrypt(c.Encrypt(plain))
		if err != nil || !bytes.Equal(again, plain) {
			t.Fatalf("round trip of %q: %q, %v", plain, again, err)
		}
	})
}

func BenchmarkAppendEncrypt(b *testing.B) {
	c := testCipher(b)
	text := []byte("hello, this is a benchmark message")
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = c.AppendEncrypt(buf[:0], text)
	}
}
