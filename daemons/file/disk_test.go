package file

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const tid = "0f8fad5b-d9cb-469f-a165-70867728950e"

func TestHeaderLayout(t *testing.T) {
	h := Header{TaskID: tid, From: 7, To: 4294967295, Created: time.Unix(1426576822, 0), Name: "report.pdf", Size: 10 << 20}
	b := h.Marshal()
	if len(b) != HeaderSize {
		t.Fatalf("header is %d bytes, want %d", len(b), HeaderSize)
	}
	field := func(off, n int) string { return string(bytes.TrimRight(b[off:off+n], "\x00")) }
	for _, c := range []struct {
		name   string
		off, n int
		want   string
	}{
		{"task_id", 0, 128, tid},
		{"from", 128, 64, "7"},
		{"to", 192, 64, "4294967295"},
		{"create_time", 256, 128, "1426576822"},
		{"file_name", 384, 512, "report.pdf"},
		{"file_size", 896, 64, "10485760"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := field(c.off, c.n); got != c.want {
				t.Errorf("field at %d = %q, want %q", c.off, got, c.want)
			}
		})
	}
	got, err := ParseHeader(b)
	if err != nil || got != h {
		t.Fatalf("ParseHeader = %+v, %v; want %+v", got, err, h)
	}
}

func TestHeaderLongNameCutAtRune(t *testing.T) {
	h := Header{TaskID: tid, Name: strings.Repeat("é", 300), Size: 1}
	got, err := ParseHeader(h.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Name) != 510 || !strings.HasPrefix(h.Name, got.Name) {
		t.Fatalf("name cut to %d bytes", len(got.Name))
	}
}

func TestParseHeaderRefuses(t *testing.T) {
	good := Header{TaskID: tid, From: 1, To: 2, Created: time.Unix(5, 0), Size: 3}.Marshal()
	for _, c := range []struct {
		name string
		edit func(b []byte) []byte
	}{
		{"short", func(b []byte) []byte { return b[:959] }},
		{"traversal task id", func(b []byte) []byte { copy(b, "../../../../etc/passwd\x00"); return b }},
		{"uppercase task id", func(b []byte) []byte { copy(b, strings.ToUpper(tid)); return b }},
		{"from not a number", func(b []byte) []byte { copy(b[128:], "x\x00"); return b }},
		{"size over uint32", func(b []byte) []byte { copy(b[896:], "4294967296\x00"); return b }},
		{"empty size", func(b []byte) []byte { b[896] = 0; return b }},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := c.edit(append([]byte(nil), good...))
			if _, err := ParseHeader(b); !errors.Is(err, errBadHeader) {
				t.Fatalf("err = %v, want errBadHeader", err)
			}
		})
	}
}

func TestValidTaskID(t *testing.T) {
	for _, c := range []struct {
		id string
		ok bool
	}{
		{tid, true}, {newTaskID(), true}, {"", false}, {"..", false},
		{"0f8fad5b-d9cb-469f-a165-70867728950", false}, {"0f8fad5b/d9cb-469f-a165-70867728950e", false},
		{"0f8fad5bxd9cb-469f-a165-70867728950e", false}, {"../8fad5b-d9cb-469f-a165-70867728950e", false},
	} {
		if got := validTaskID(c.id); got != c.ok {
			t.Errorf("validTaskID(%q) = %v, want %v", c.id, got, c.ok)
		}
	}
}

func TestNewTaskIDUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := newTaskID()
		if seen[id] || id[14] != '4' {
			t.Fatalf("bad or repeated id %s", id)
		}
		seen[id] = true
	}
}

// upload stores content as task id through the Upload API.
func upload(t *testing.T, d Disk, id string, content []byte) {
	t.Helper()
	u, err := d.Create(Header{TaskID: id, From: 1, To: 2, Created: time.Now(), Name: "x", Size: uint32(len(content))})
	if err != nil {
		t.Fatal(err)
	}
	for !u.Complete() {
		off, n := u.Next()
		if err := u.Write(off, content[off:off+n]); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(d.Path(id)); err == nil {
			t.Fatal("final name exists before the upload finished")
		}
	}
	if err := u.Finish(); err != nil {
		t.Fatal(err)
	}
}

func TestUploadDownloadRoundTrip(t *testing.T) {
	for _, size := range []int{0, 1, BlockSize - 1, BlockSize, BlockSize + 1, 3*BlockSize + 17} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			d := Disk{Dir: t.TempDir()}
			content := make([]byte, size)
			rand.Read(content)
			id := newTaskID()
			upload(t, d, id, content)
			if _, err := os.Stat(d.Path(id) + partSuffix); !os.IsNotExist(err) {
				t.Fatalf("temporary file left: %v", err)
			}
			if filepath.Base(filepath.Dir(d.Path(id))) != id[:2] {
				t.Fatalf("path %s not under the id's first two characters", d.Path(id))
			}
			raw, _ := os.ReadFile(d.Path(id))
			if len(raw) != HeaderSize+size || !bytes.Equal(raw[HeaderSize:], content) {
				t.Fatalf("stored %d bytes, want header + %d", len(raw), size)
			}
			dl, err := d.Open(id)
			if err != nil {
				t.Fatal(err)
			}
			defer dl.Close()
			var got []byte
			for off := uint32(0); !dl.Complete(); {
				b, err := dl.Read(off)
				if err != nil {
					t.Fatal(err)
				}
				if len(b) > BlockSize {
					t.Fatalf("block of %d bytes", len(b))
				}
				got = append(got, b...)
				off += uint32(len(b))
			}
			if !bytes.Equal(got, content) {
				t.Fatal("downloaded content differs")
			}
		})
	}
}

func TestUploadRefusesBadBlocks(t *testing.T) {
	d := Disk{Dir: t.TempDir()}
	u, err := d.Create(Header{TaskID: tid, Size: BlockSize + 10})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Abort()
	for _, c := range []struct {
		name string
		off  uint32
		n    int
		want error
	}{
		{"skips ahead", BlockSize, 10, errOffset},
		{"short block", 0, 100, errBlockLen},
		{"long block", 0, BlockSize + 1, errBlockLen},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := u.Write(c.off, make([]byte, c.n)); !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
	if err := u.Finish(); err == nil {
		t.Fatal("Finish of an incomplete upload succeeded")
	}
	u.Abort()
	if _, err := os.Stat(d.Path(tid) + partSuffix); !os.IsNotExist(err) {
		t.Fatalf("Abort left the temporary file: %v", err)
	}
}

func TestOpenRefuses(t *testing.T) {
	d := Disk{Dir: t.TempDir()}
	upload(t, d, tid, []byte("hello"))
	other := "1f8fad5b-d9cb-469f-a165-70867728950e"
	for _, c := range []struct {
		name string
		id   string
		prep func()
	}{
		{"traversal", "../" + tid[3:], nil},
		{"missing", "2f8fad5b-d9cb-469f-a165-70867728950e", nil},
		{"truncated body", tid, func() { os.Truncate(d.Path(tid), HeaderSize+2) }},
		{"header of another task", other, func() {
			os.MkdirAll(filepath.Dir(d.Path(other)), 0o750)
			b, _ := os.ReadFile(d.Path(tid))
			os.WriteFile(d.Path(other), b, 0o640)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.prep != nil {
				c.prep()
			}
			if dl, err := d.Open(c.id); err == nil {
				dl.Close()
				t.Fatal("Open succeeded")
			}
		})
	}
}

func TestSweepRetention(t *testing.T) {
	d := Disk{Dir: t.TempDir()}
	now := time.Now()
	mk := func(id string, created time.Time) {
		u, err := d.Create(Header{TaskID: id, Created: created, Size: 3})
		if err != nil {
			t.Fatal(err)
		}
		u.Write(0, []byte("abc"))
		if err := u.Finish(); err != nil {
			t.Fatal(err)
		}
	}
	old, fresh, busy := newTaskID(), newTaskID(), newTaskID()
	mk(old, now.Add(-48*time.Hour))
	mk(fresh, now.Add(-time.Hour))
	mk(busy, now.Add(-48*time.Hour))
	stale := newTaskID()
	u, _ := d.Create(Header{TaskID: stale, Size: 3})
	u.f.Close()
	u.f = nil
	os.Chtimes(u.tmp, now.Add(-48*time.Hour), now.Add(-48*time.Hour))
	live := newTaskID()
	lu, _ := d.Create(Header{TaskID: live, Size: 3})
	defer lu.Abort()
	os.WriteFile(filepath.Join(d.Dir, "README"), []byte("not ours"), 0o640)

	n, err := d.Sweep(now.Add(-24*time.Hour), func(id string) bool { return id == busy })
	if err != nil || n != 2 {
		t.Fatalf("Sweep = %d, %v; want 2 removed", n, err)
	}
	for _, c := range []struct {
		path string
		kept bool
	}{
		{d.Path(old), false}, {d.Path(fresh), true}, {d.Path(busy), true},
		{d.Path(stale) + partSuffix, false}, {d.Path(live) + partSuffix, true},
		{filepath.Join(d.Dir, "README"), true},
	} {
		_, err := os.Stat(c.path)
		if kept := err == nil; kept != c.kept {
			t.Errorf("%s kept = %v, want %v", c.path, kept, c.kept)
		}
	}
	if n, err := (Disk{Dir: filepath.Join(d.Dir, "none")}).Sweep(now, nil); n != 0 || err != nil {
		t.Fatalf("Sweep of a missing dir = %d, %v", n, err)
	}
}

func FuzzParseHeader(f *testing.F) {
	f.Add(Header{TaskID: tid, From: 1, To: 2, Created: time.Unix(5, 0), Name: "a", Size: 3}.Marshal())
	f.Add(make([]byte, HeaderSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			return
		}
		again, err := ParseHeader(h.Marshal())
		if err != nil || again.TaskID != h.TaskID || again.Size != h.Size || again.From != h.From || again.To != h.To {
			t.Fatalf("round trip of %+v: %+v, %v", h, again, err)
		}
	})
}
