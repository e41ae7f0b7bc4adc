package msfs

import (
	"bytes"
	"errors"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	tests := []struct {
		name, in, want string
		err            error
	}{
		{"stored file", "/g0/000/001/1426576822906531_ab.png", "000/001/1426576822906531_ab.png", nil},
		{"size suffix", "/g0/255/254/1_a_200x100.jpg", "255/254/1_a_200x100.jpg", nil},
		{"other group", "/g1/000/000/a.png", "000/000/a.png", nil},
		{"dot dot", "/g0/000/000/../../x", "", ErrUnsafePath},
		{"dot dot in a name", "/g0/000/000/a..png", "", ErrUnsafePath},
		{"no leading slash", "g0/000/000/a.png", "", ErrUnsafePath},
		{"double slash", "//etc/passwd", "", ErrUnsafePath},
		{"empty name", "/g0/000/000/", "", ErrUnsafePath},
		{"dot segment", "/g0/./000/a.png", "", ErrUnsafePath},
		{"hidden", "/g0/000/000/.tmp-a.png", "", ErrUnsafePath},
		{"backslash", "/g0/000/000/a\\b", "", ErrUnsafePath},
		{"nul", "/g0/000/000/a\x00.png", "", ErrUnsafePath},
		{"root", "/", "", ErrUnsafePath},
		{"one segment", "/a.png", "", ErrNoSuchPath},
		{"two digits", "/g0/00/000/a.png", "", ErrNoSuchPath},
		{"letters as dir", "/g0/abc/000/a.png", "", ErrNoSuchPath},
		{"space in name", "/g0/000/000/a b.png", "", ErrNoSuchPath},
		{"long name", "/g0/000/000/" + strings.Repeat("a", 256), "", ErrNoSuchPath},
		{"odd group", "/g%0/000/000/a.png", "", ErrNoSuchPath},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePath(tc.in)
			if got != tc.want || !errors.Is(err, tc.err) {
				t.Fatalf("ParsePath(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
			}
		})
	}
}

// FuzzParsePath checks that whatever ParsePath accepts stays under the
// storage root: three clean, local segments, two of three digits.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{
		"/g0/000/001/1426576822906531_ab.png", "/g0/../../etc/passwd", "//etc/passwd", "/g0/000/000/",
		"/g0/000/000/a\\..\\b", "/g0/000/000/.x", "/a", "/g0/999/999/x.y.z", "/g0/000/000/a\x00b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		rel, err := ParsePath(in)
		if err != nil {
			if rel != "" {
				t.Fatalf("error %v with a result %q", err, rel)
			}
			if !errors.Is(err, ErrUnsafePath) && !errors.Is(err, ErrNoSuchPath) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		segs := strings.Split(rel, "/")
		if len(segs) != 3 || !threeDigits(segs[0]) || !threeDigits(segs[1]) {
			t.Fatalf("ParsePath(%q) = %q: not NNN/MMM/name", in, rel)
		}
		if !filepath.IsLocal(rel) || path.Clean(rel) != rel || strings.Contains(rel, "..") || strings.HasPrefix(segs[2], ".") {
			t.Fatalf("ParsePath(%q) = %q: escapes or is not clean", in, rel)
		}
		if !strings.HasSuffix(in, "/"+rel) {
			t.Fatalf("ParsePath(%q) = %q: not the input's tail", in, rel)
		}
	})
}

// FuzzParseUpload checks that the multipart parser never panics, answers a
// known code, and that an accepted file is a piece of the body with a safe
// extension.
func FuzzParseUpload(f *testing.F) {
	f.Add("multipart/form-data; boundary="+testBoundary, multipartBody("a_10x20.png", []byte("data")))
	f.Add("multipart/form-data; boundary=\"q b\"", []byte("--q b\r\nContent-Disposition: form-data; filename=\"x.jpg\"\r\nContent-Type: image/jpeg\r\n\r\nzz\r\n--q b--"))
	f.Add("multipart/form-data", []byte("Content-Disposition: filename=\""))
	f.Add("boundary=", []byte{})
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		p, code := ParseUpload(ct, body)
		if code < CodeOK || code > CodeNameTooLong {
			t.Fatalf("code %d", code)
		}
		if code != CodeOK {
			return
		}
		if !alnum(p.Ext) || len(p.Ext) > maxExtLen || (p.Dims != "" && !isDims(p.Dims)) || len(p.Name) > maxNameLen {
			t.Fatalf("accepted %+v", p)
		}
		if len(p.Data) > 0 && !bytes.Contains(body, p.Data) {
			t.Fatal("data not from the body")
		}
	})
}
