// Package textcrypt is TeamTalk's message text encryption (PROTOCOL.md §7.1):
// AES-256 in ECB mode over the zero-padded text with its length as a
// big-endian uint32 in the last 4 bytes, then standard Base64. Clients encrypt
// the text of their messages with it; servers use it only for previews
// (dbproxy), push alert texts (msg) and messages sent by the HTTP API.
package textcrypt

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
)

// DefaultKey is the AES-256 key compiled into every TeamTalk client and
// configured on the servers as aesKey.
const DefaultKey = "12345678901234567890123456789012"

// KeyLen is the length of a key: AES-256.
const KeyLen = 32

// ErrBadCiphertext means a message body is not text encrypted the TeamTalk
// way: not base64, empty, not a whole number of blocks, or a length field
// larger than the data.
var ErrBadCiphertext = errors.New("textcrypt: bad ciphertext")

// Cipher encrypts and decrypts message text with one key. It is safe for
// concurrent use; build it once (New) and share it.
type Cipher struct {
	block cipher.Block
}

// New returns a Cipher for key, which must be KeyLen bytes, such as
// DefaultKey.
func New(key string) (*Cipher, error) {
	if len(key) != KeyLen {
		return nil, fmt.Errorf("textcrypt: key is %d bytes, want %d", len(key), KeyLen)
	}
	b, err := aes.NewCipher([]byte(key))
	if err != nil {
		return nil, fmt.Errorf("textcrypt: key: %w", err)
	}
	return &Cipher{block: b}, nil
}

// SealedLen returns the length of the padded plaintext buffer for n bytes of
// text: ceil(n/16) blocks plus one more when n%16 is 0 or over 12, so there is
// always room for the 4-byte length after the data.
func SealedLen(n int) int {
	blocks := (n + 15) / 16
	if r := n % 16; r == 0 || r > 12 {
		blocks++
	}
	return blocks * 16
}

// EncryptedLen returns the length of the base64 text Encrypt makes of n bytes.
func EncryptedLen(n int) int {
	return base64.StdEncoding.EncodedLen(SealedLen(n))
}

// AppendEncrypt appends the encrypted, base64-encoded form of plain to dst
// and returns the extended slice: SealedLen(len(plain)) zero bytes with the
// text at the start and its length as a big-endian uint32 in the last 4,
// every block encrypted with AES (ECB), standard base64 with padding. A dst
// with EncryptedLen+SealedLen bytes of spare capacity costs no allocation.
func (c *Cipher) AppendEncrypt(dst, plain []byte) []byte {
	size := SealedLen(len(plain))
	// The raw blocks are built in the tail of dst's spare room, behind where
	// their base64 text goes.
	encLen := base64.StdEncoding.EncodedLen(size)
	start := len(dst)
	dst = grow(dst, encLen+size)
	raw := dst[start+encLen : start+encLen+size]
	n := copy(raw, plain)
	clear(raw[n:])
	binary.BigEndian.PutUint32(raw[size-4:], uint32(len(plain)))
	for off := 0; off < size; off += aes.BlockSize {
		c.block.Encrypt(raw[off:off+aes.BlockSize], raw[off:off+aes.BlockSize])
	}
	base64.StdEncoding.Encode(dst[start:start+encLen], raw)
	return dst[:start+encLen]
}

// Encrypt returns plain encrypted and base64-encoded (see AppendEncrypt).
func (c *Cipher) Encrypt(plain []byte) []byte {
	return c.AppendEncrypt(make([]byte, 0, EncryptedLen(len(plain))+SealedLen(len(plain))), plain)
}

// Decrypt reverses Encrypt: base64-decode (whitespace and '=' are skipped, as
// the reference does), decrypt every block, and take the length from the last
// 4 bytes. It fails with ErrBadCiphertext when the input is not such text.
func (c *Cipher) Decrypt(text []byte) ([]byte, error) {
	return c.AppendDecrypt(nil, text)
}

// AppendDecrypt appends the plain text of text (see Decrypt) to dst and
// returns the extended slice. A dst with base64 decoded length of spare
// capacity, and text without whitespace (as clients send it), cost no
// allocation.
func (c *Cipher) AppendDecrypt(dst, text []byte) ([]byte, error) {
	clean := bytes.TrimRight(text, "=")
	if bytes.ContainsAny(clean, " \t\r\n=") {
		clean = make([]byte, 0, len(text))
		for _, b := range text {
			switch b {
			case ' ', '\t', '\r', '\n', '=':
				continue
			}
			clean = append(clean, b)
		}
	}
	start := len(dst)
	dst = grow(dst, base64.RawStdEncoding.DecodedLen(len(clean)))
	raw := dst[start:]
	n, err := base64.RawStdEncoding.Decode(raw, clean)
	if err != nil {
		return dst[:start], fmt.Errorf("%w: base64: %w", ErrBadCiphertext, err)
	}
	raw = raw[:n]
	if n == 0 || n%aes.BlockSize != 0 {
		return dst[:start], fmt.Errorf("%w: %d bytes is not a whole number of blocks", ErrBadCiphertext, n)
	}
	for off := 0; off < n; off += aes.BlockSize {
		c.block.Decrypt(raw[off:off+aes.BlockSize], raw[off:off+aes.BlockSize])
	}
	plainLen := binary.BigEndian.Uint32(raw[n-4:])
	if uint64(plainLen) > uint64(n) {
		return dst[:start], fmt.Errorf("%w: length %d over %d bytes", ErrBadCiphertext, plainLen, n)
	}
	return dst[:start+int(plainLen)], nil
}

// Encrypt encrypts plain with key, for callers that need it once (see
// Cipher.Encrypt; build a Cipher to encrypt many).
func Encrypt(key string, plain []byte) ([]byte, error) {
	c, err := New(key)
	if err != nil {
		return nil, err
	}
	return c.Encrypt(plain), nil
}

// Decrypt decrypts text with key, for callers that need it once (see
// Cipher.Decrypt).
func Decrypt(key string, text []byte) ([]byte, error) {
	c, err := New(key)
	if err != nil {
		return nil, err
	}
	return c.Decrypt(text)
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
