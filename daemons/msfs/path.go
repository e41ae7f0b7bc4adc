package msfs

import (
	"errors"
	"strings"
)

// Errors of ParsePath.
var (
	// ErrUnsafePath is a download path that tries to leave the storage root
	// (a ".." anywhere, an empty segment as in "//etc/passwd", a backslash,
	// a NUL, a segment starting with "."): answered 400.
	ErrUnsafePath = errors.New("msfs: unsafe path")
	// ErrNoSuchPath is a safe path that cannot name a stored file (not
	// <group>/<NNN>/<MMM>/<name>): answered 404.
	ErrNoSuchPath = errors.New("msfs: not a stored file's path")
)

// maxNameLen bounds a stored file's name (a Linux file name's limit).
const maxNameLen = 255

// ParsePath turns a download URL path ("/g0/000/001/1426576822906531_ab12.png",
// already percent-decoded) into the file's path relative to the storage root
// ("000/001/1426576822906531_ab12.png"). The first segment, the reference's
// "group", is ignored except that it must be a plain name. The result only
// ever has three segments, two of exactly three digits and a file name of
// letters, digits, '_', '-' and '.', so it cannot escape the root.
func ParsePath(p string) (string, error) {
	if strings.Contains(p, "..") || strings.ContainsAny(p, "\\\x00") {
		return "", ErrUnsafePath
	}
	rest, ok := strings.CutPrefix(p, "/")
	if !ok {
		return "", ErrUnsafePath
	}
	segs := strings.Split(rest, "/")
	for _, s := range segs {
		if s == "" || s[0] == '.' {
			return "", ErrUnsafePath
		}
	}
	if len(segs) != 4 {
		return "", ErrNoSuchPath
	}
	group, d1, d2, name := segs[0], segs[1], segs[2], segs[3]
	if !plainName(group, 32) || !threeDigits(d1) || !threeDigits(d2) || !plainName(name, maxNameLen) {
		return "", ErrNoSuchPath
	}
	return d1 + "/" + d2 + "/" + name, nil
}

// plainName reports whether s is 1..max characters of [A-Za-z0-9_.-] not
// starting with '.'.
func plainName(s string, max int) bool {
	if s == "" || len(s) > max || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-', c == '.':
		default:
			return false
		}
	}
	return true
}

func threeDigits(s string) bool {
	return len(s) == 3 && isDigits(s)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
