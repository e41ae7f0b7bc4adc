package client

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"

	"teamtalk/wire/textcrypt"
)

// DefaultKey is the AES-256 key compiled into every TeamTalk client and
// configured on the servers as aesKey (PROTOCOL.md §7.1).
const DefaultKey = textcrypt.DefaultKey

// ErrBadCiphertext means a message body is not text encrypted the TeamTalk
// way: not base64, empty, not a whole number of blocks, or a length field
// larger than the data. It is textcrypt.ErrBadCiphertext.
var ErrBadCiphertext = textcrypt.ErrBadCiphertext

// Cipher encrypts and decrypts message text with one key: Encrypt,
// AppendEncrypt and Decrypt (see package textcrypt). It is safe for
// concurrent use; build it once (NewCipher) and share it.
type Cipher = textcrypt.Cipher

// NewCipher returns a Cipher for key, which must be 32 bytes (AES-256), such
// as DefaultKey.
func NewCipher(key string) (*Cipher, error) {
	c, err := textcrypt.New(key)
	if err != nil {
		return nil, fmt.Errorf("client: cipher: %w", err)
	}
	return c, nil
}

// EncryptedLen returns the length of the base64 text Cipher.Encrypt makes of
// n bytes.
func EncryptedLen(n int) int { return textcrypt.EncryptedLen(n) }

// PasswordHash returns what a TeamTalk client sends as its password: the
// lowercase hex MD5 of the plain password (PROTOCOL.md §7.2).
func PasswordHash(plain string) string {
	sum := md5.Sum([]byte(plain))
	return hex.EncodeToString(sum[:])
}
