package client

import (
	"errors"
	"testing"

	"teamtalk/wire"
	"teamtalk/wire/pb"
	"teamtalk/wire/textcrypt"
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

// TestCipherIsTextcrypt: the client's names are wire/textcrypt's (its own
// tests cover lengths, errors and fuzzing), so errors match either sentinel.
func TestCipherIsTextcrypt(t *testing.T) {
	c := testCipher(t)
	_, err := c.Decrypt([]byte("aGVsbG8="))
	if !errors.Is(err, ErrBadCiphertext) || !errors.Is(err, textcrypt.ErrBadCiphertext) {
		t.Fatalf("Decrypt error = %v, want ErrBadCiphertext", err)
	}
	for n := range 40 {
		if got, want := EncryptedLen(n), len(c.Encrypt(make([]byte, n))); got != want {
			t.Errorf("EncryptedLen(%d) = %d, Encrypt makes %d", n, got, want)
		}
	}
	out := c.AppendEncrypt([]byte("prefix:"), []byte("hello"))
	if string(out) != "prefix:nnZSBwfPCz60q69ddmfIJA==" {
		t.Errorf("AppendEncrypt = %q", out)
	}
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
