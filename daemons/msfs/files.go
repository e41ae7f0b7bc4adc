package msfs

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// counterFile holds the running file count under the storage root (the
// reference kept it as FileCnt in msfs.conf, rewritten at shutdown).
const counterFile = "filecnt"

// dirsPerLevel is the reference's 000..255 directory range at each level.
const dirsPerLevel = 256

// Files is the on-disk storage: BaseDir/<NNN>/<MMM>/<unique>[_<W>x<H>].<ext>
// as in the reference. Every access goes through an os.Root, so no name can
// reach outside the directory, not even through a symbolic link. Safe for
// concurrent use.
type Files struct {
	root    *os.Root
	perDir  uint64
	mu      sync.Mutex // guards count and the counter file
	count   uint64
	closed  bool
	saveErr error
}

// OpenFiles opens (creating it if needed) the storage root dir with perDir
// files per leaf directory, and restores the running file count.
func OpenFiles(dir string, perDir int) (*Files, error) {
	if perDir < 1 {
		return nil, fmt.Errorf("msfs: files per dir %d: must be positive", perDir)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("msfs: create %s: %w", dir, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("msfs: open %s: %w", dir, err)
	}
	f := &Files{root: root, perDir: uint64(perDir)}
	b, err := root.ReadFile(counterFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		root.Close()
		return nil, fmt.Errorf("msfs: read %s/%s: %w", dir, counterFile, err)
	default:
		n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			root.Close()
			return nil, fmt.Errorf("msfs: %s/%s: %w", dir, counterFile, err)
		}
		f.count = n
	}
	return f, nil
}

// Dir returns the storage root's path.
func (f *Files) Dir() string { return f.root.Name() }

// Count returns the running file count (files stored since the directory
// was created).
func (f *Files) Count() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count
}

// leaf returns the reference's directory of the n-th file for k files per
// directory: NNN = (n/k)/255, MMM = (n % (k·255))/k, NNN wrapping past 255.
func leaf(n, k uint64) string {
	d1 := (n / k) / 255 % dirsPerLevel
	d2 := (n % (k * 255)) / k
	return fmt.Sprintf("%03d/%03d", d1, d2)
}

// Save stores data as a new file with the extension ext ("png") and the
// optional size suffix dims ("_200x100") and returns its path relative to
// the root ("000/000/1426576822906531_9f86d081884c7d65_200x100.png"). The
// bytes go to a temporary name first, are synced, and are renamed into
// place, so a reader never sees a partial file.
func (f *Files) Save(ext, dims string, data []byte) (string, error) {
	if !alnum(ext) || len(ext) > maxExtLen {
		return "", fmt.Errorf("msfs: save: bad extension %q", ext)
	}
	if dims != "" && !isDims(dims) {
		return "", fmt.Errorf("msfs: save: bad size suffix %q", dims)
	}
	n, err := f.next()
	if err != nil {
		return "", err
	}
	dir := leaf(n, f.perDir)
	if err := f.root.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("msfs: create %s: %w", dir, err)
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:]) // never fails (crypto/rand)
	name := strconv.FormatInt(time.Now().UnixMicro(), 10) + "_" + hex.EncodeToString(rnd[:]) + dims + "." + ext
	final := path.Join(dir, name)
	tmp := path.Join(dir, ".tmp-"+name)
	w, err := f.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return "", fmt.Errorf("msfs: create %s: %w", tmp, err)
	}
	_, err = w.Write(data)
	if err == nil {
		err = w.Sync()
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = f.root.Rename(tmp, final)
	}
	if err != nil {
		_ = f.root.Remove(tmp)
		return "", fmt.Errorf("msfs: write %s: %w", final, err)
	}
	return final, nil
}

// next takes the next file number and persists the count (temp + rename).
func (f *Files) next() (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, errors.New("msfs: storage closed")
	}
	n := f.count
	f.count++
	// The count only spreads files over directories: losing it moves new
	// files into already used directories, nothing more. So a failed write
	// is logged by the caller once (saveErr) but does not fail the upload.
	f.saveErr = f.writeCount()
	return n, nil
}

// writeCount writes the count; f.mu is held.
func (f *Files) writeCount() error {
	tmp := ".tmp-" + counterFile
	if err := f.root.WriteFile(tmp, []byte(strconv.FormatUint(f.count, 10)+"\n"), 0o640); err != nil {
		return fmt.Errorf("msfs: write file count: %w", err)
	}
	if err := f.root.Rename(tmp, counterFile); err != nil {
		return fmt.Errorf("msfs: write file count: %w", err)
	}
	return nil
}

// CountErr returns the last error persisting the file count, if any.
func (f *Files) CountErr() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.saveErr
}

// Open opens a stored file by its path relative to the root (as ParsePath
// returns it). A directory is reported as not existing.
func (f *Files) Open(rel string) (*os.File, os.FileInfo, error) {
	r, err := f.root.Open(rel)
	if err != nil {
		return nil, nil, err
	}
	fi, err := r.Stat()
	if err != nil {
		r.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		r.Close()
		return nil, nil, fmt.Errorf("msfs: %s: %w", rel, os.ErrNotExist)
	}
	return r, fi, nil
}

// Close persists the file count and closes the root.
func (f *Files) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	err := f.writeCount()
	if cerr := f.root.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("msfs: close: %w", cerr)
	}
	return err
}

// isDims reports whether s is "_<W>x<H>" with 1..4 digits each.
func isDims(s string) bool {
	rest, ok := strings.CutPrefix(s, "_")
	if !ok {
		return false
	}
	w, h, ok := strings.Cut(rest, "x")
	return ok && len(w) <= 4 && len(h) <= 4 && isDigits(w) && isDigits(h)
}
