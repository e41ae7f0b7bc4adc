package state

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"math/big"
	"strconv"
)

// MD5Hex returns the lowercase hex MD5 of s: what TeamTalk clients send as
// the login password (md5hex of the plain password), and the building block of
// the stored hash (PROTOCOL.md §7.2).
func MD5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// NewSalt returns a random salt: a decimal number 0–9999 as text, as the
// TeamTalk admin panel chooses it.
func NewSalt() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(10000))
	if err != nil {
		return "", fmt.Errorf("state: salt: %w", err)
	}
	return strconv.FormatInt(n.Int64(), 10), nil
}

// HashPassword returns the stored form of a plain password under salt:
// md5hex(md5hex(plain) + salt).
func HashPassword(plain, salt string) string {
	return SaltedHash(MD5Hex(plain), salt)
}

// SaltedHash returns md5hex(clientPassword + salt), where clientPassword is
// what a client sends (md5hex of the plain password).
func SaltedHash(clientPassword, salt string) string {
	return MD5Hex(clientPassword + salt)
}

// CheckPassword reports whether clientPassword (md5hex of the plain password,
// as clients send it) matches the user's stored hash, comparing in constant
// time.
func CheckPassword(u User, clientPassword string) bool {
	got := SaltedHash(clientPassword, u.Salt)
	return subtle.ConstantTimeCompare([]byte(got), []byte(u.Password)) == 1
}

// NewPassword returns a fresh salt and the stored hash of plain under it.
func NewPassword(plain string) (hash, salt string, err error) {
	salt, err = NewSalt()
	if err != nil {
		return "", "", err
	}
	return HashPassword(plain, salt), salt, nil
}
