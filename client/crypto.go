package client

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
)

// DefaultKey is the AES-256 key compiled into every TeamTalk client and
// configured on the servers as aesKey (PROTOCOL.md §7.1).
const DefaultKey = "12345678901234567890123456789012"

// ErrBadCiphertext means a message body is not text encrypted the TeamTalk
// way: not base64, empty, not a whole number of blocks, or a length field
// larger than the data.
var ErrBadCiphertext = errors.New("client: bad ciphertext")

// Cipher encrypts and decrypts message text with one key. It is safe for
// concurrent use; build it once (NewCipher) and share it.
type Cipher struct {
	block cipher.Block
}

// NewCipher returns a Cipher for key, which must be 32 bytes (AES-256), such
// as DefaultKey.
func NewCipher(key string) (*Cipher, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("client: cipher key is %d bytes, want 32", len(key))
	}
	b, err := aes.NewCipher([]byte(key))
	if err != nil {
		return nil, fmt.Errorf("client: cipher: %w", err)
	}
	return &Cipher{block: b}, nil
}

// sealedLen returns the length of the padded plaintext buffer for n bytes of
// text: whole blocks with room for the 4-byte length after the data.
func sealedLen(n int) int {
	blocks := (n + 15) / 16
	if r := n % 16; r == 0 || r > 12 {
		blocks++
	}
	return blocks * 16
}

// EncryptedLen returns the length of the base64 text Encrypt makes of n bytes.
func EncryptedLen(n int) int {
	return base64.StdEncoding.EncodedLen(sealedLen(n))
}

// AppendEncrypt appends the encrypted, base64-encoded form of plain to dst
// and returns the extended slice. The rule (PROTOCOL.md §7.1): n = len(plain),
// ceil(n/16) blocks plus one more when n%16 is 0 or over 12, zero-filled, the
// text at the start and n as a big-endian uint32 in the last 4 bytes; every
// block encrypted with AES (ECB); standard base64 with padding.
func (c *Cipher) AppendEncrypt(dst, plain []byte) []byte {
	size := sealedLen(len(plain))
	// The raw blocks are built in the tail of dst's spare room, behind where
	// their base64 text goes, so a dst with enough capacity costs nothing.
	encLen := base64.StdEncoding.EncodedLen(size)
	start := len(dst)
	dst = grow(dst, encLen+size)
	raw := dst[start+encLen : start+encLen+size]
	n := copy(raw, plain)
	clear(raw[n:])
	binary.BigEndian.PutUint32(raw[size-4:], uint32(len(plain)))
	for off := 0; off < size; off += 16 {
		c.block.Encrypt(raw[off:off+16], raw[off:off+16])
	}
	base64.StdEncoding.Encode(dst[start:start+encLen], raw)
	return dst[:start+encLen]
}

// Encrypt returns plain encrypted and base64-encoded (see AppendEncrypt).
func (c *Cipher) Encrypt(plain []byte) []byte {
	return c.AppendEncrypt(make([]byte, 0, EncryptedLen(len(plain))+sealedLen(len(plain))), plain)
}

// Decrypt reverses Encrypt: base64-decode (whitespace and '=' are skipped, as
// the reference does), decrypt every block, and take the length from the last
// 4 bytes. It fails with ErrBadCiphertext when the input is not such text.
func (c *Cipher) Decrypt(text []byte) ([]byte, error) {
	clean := make([]byte, 0, len(text))
	for _, b := range text {
		switch b {
		case ' ', '\t', '\r', '\n', '=':
			continue
		}
		clean = append(clean, b)
	}
	raw := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
	n, err := base64.RawStdEncoding.Decode(raw, clean)
	if err != nil {
		return nil, fmt.Errorf("%w: base64: %w", ErrBadCiphertext, err)
	}
	raw = raw[:n]
	if n == 0 || n%16 != 0 {
		return nil, fmt.Errorf("%w: %d bytes is not a whole number of blocks", ErrBadCiphertext, n)
	}
	for off := 0; off < n; off += 16 {
		c.block.Decrypt(raw[off:off+16], raw[off:off+16])
	}
	plainLen := binary.BigEndian.Uint32(raw[n-4:])
	if uint64(plainLen) > uint64(n) {
		return nil, fmt.Errorf("%w: length %d over %d bytes", ErrBadCiphertext, plainLen, n)
	}
	return raw[:plainLen], nil
}

// grow extends dst by n bytes of spare room and returns it resliced to
// include them (their content is undefined).
func grow(dst []byte, n int) []byte {
	if cap(dst)-len(dst) < n {
		bigger := make([]byte, len(dst), 2*cap(dst)+n)
		copy(bigger, dst)
		dst = bigger
	}
	return dst[:len(dst)+n]
}

// PasswordHash returns what a TeamTalk client sends as its password: the
// lowercase hex MD5 of the plain password (PROTOCOL.md §7.2).
func PasswordHash(plain string) string {
	sum := md5.Sum([]byte(plain))
	return hex.EncodeToString(sum[:])
}
