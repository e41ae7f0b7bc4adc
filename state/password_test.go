package state

import (
	"strconv"
	"testing"
)

func TestPasswordScheme(t *testing.T) {
	tests := []struct {
		name, plain, salt, client, stored string
	}{
		// PROTOCOL.md §7.2's worked example.
		{"protocol example", "test", "1234", "098f6bcd4621d373cade4e832627b4f6", "260cac331a7b9d4416cd11146d39b33d"},
		{"admin seed md5", "admin", "0", "21232f297a57a5a743894a0e4a801fc3", MD5Hex("21232f297a57a5a743894a0e4a801fc3" + "0")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MD5Hex(tt.plain); got != tt.client {
				t.Fatalf("MD5Hex(%q) = %s, want %s", tt.plain, got, tt.client)
			}
			if got := HashPassword(tt.plain, tt.salt); got != tt.stored {
				t.Fatalf("HashPassword = %s, want %s", got, tt.stored)
			}
			u := User{Password: tt.stored, Salt: tt.salt}
			if !CheckPassword(u, tt.client) {
				t.Fatal("CheckPassword rejected the right password")
			}
			if CheckPassword(u, MD5Hex(tt.plain+"x")) {
				t.Fatal("CheckPassword accepted a wrong password")
			}
			if CheckPassword(u, tt.plain) {
				t.Fatal("CheckPassword accepted the plain password instead of its md5")
			}
		})
	}
}

func TestNewSaltRange(t *testing.T) {
	for range 200 {
		s, err := NewSalt()
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 9999 || strconv.Itoa(n) != s {
			t.Fatalf("salt %q is not a decimal 0..9999", s)
		}
	}
	hash, salt, err := NewPassword("pw")
	if err != nil || hash != HashPassword("pw", salt) {
		t.Fatalf("NewPassword = %q, %q, %v", hash, salt, err)
	}
}
