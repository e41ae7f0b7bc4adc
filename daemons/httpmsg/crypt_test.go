package httpmsg

import (
	"crypto/aes"
	"encoding/base64"
	"encoding/binary"
	"testing"
)

func decryptForTest(t *testing.T, key, text string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(text)
	if err != nil || len(raw)%16 != 0 {
		t.Fatalf("not base64 blocks: %q", text)
	}
	b, err := aes.NewCipher([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(raw); i += 16 {
		b.Decrypt(raw[i:i+16], raw[i:i+16])
	}
	n := binary.BigEndian.Uint32(raw[len(raw)-4:])
	if int(n) > len(raw)-4 {
		t.Fatalf("length %d in %d bytes", n, len(raw))
	}
	return string(raw[:n])
}
