package dbproxy

import (
	"crypto/aes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
)

// encryptText encrypts plain the way TeamTalk clients encrypt message text
// (PROTOCOL.md §7.1): AES-256-ECB over the zero-padded text with its length as
// a big-endian uint32 in the last 4 bytes, then standard Base64. The proxy
// needs it once, for the "[语音]" preview of audio messages.
func encryptText(key, plain string) ([]byte, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("aes key is %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher([]byte(key))
	if err != nil {
		return nil, fmt.Errorf("aes key: %w", err)
	}
	n := len(plain)
	blocks := (n + 15) / 16
	if r := n % 16; r == 0 || r > 12 {
		blocks++
	}
	buf := make([]byte, 16*blocks)
	copy(buf, plain)
	binary.BigEndian.PutUint32(buf[len(buf)-4:], uint32(n))
	for i := 0; i < len(buf); i += 16 {
		block.Encrypt(buf[i:i+16], buf[i:i+16])
	}
	out := make([]byte, base64.StdEncoding.EncodedLen(len(buf)))
	base64.StdEncoding.Encode(out, buf)
	return out, nil
}
