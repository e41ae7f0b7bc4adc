package file

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Offline storage layout (PROTOCOL.md §4.13): <dir>/<first 2 chars of the
// task id>/<task id>, a 960-byte header of six NUL-padded ASCII fields, then
// the raw content. An upload in progress is written to "<task id>.part" in
// the same directory and renamed when its last block is on disk.
const (
	// BlockSize is the reference's SEGMENT_SIZE: offline transfers move
	// blocks of this many bytes (the last one may be shorter).
	BlockSize = 32768
	// HeaderSize is the size of the stored header.
	HeaderSize = 960

	partSuffix = ".part"
)

// Widths of the header's fields, in order.
var headerWidths = [6]int{128, 64, 64, 128, 512, 64}

// Header is the stored header of an offline file.
type Header struct {
	TaskID   string
	From, To uint32
	Created  time.Time // whole seconds
	Name     string    // the reference always leaves it empty; we store it (cut to 511 bytes)
	Size     uint32
}

// Errors of the disk layer.
var (
	errBadTaskID = errors.New("file: malformed task id")
	errBadHeader = errors.New("file: bad stored header")
	errOffset    = errors.New("file: block out of order")
	errBlockLen  = errors.New("file: block of the wrong length")
)

// validTaskID reports whether id is a task id this server could have made:
// a lowercase UUID (36 characters, hex digits and dashes). Anything else is
// refused before it reaches a path.
func validTaskID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// Marshal encodes h as the 960-byte stored header.
func (h Header) Marshal() []byte {
	name := h.Name
	for len(name) > headerWidths[4]-1 {
		_, n := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-n]
	}
	fields := [6]string{
		h.TaskID, strconv.FormatUint(uint64(h.From), 10), strconv.FormatUint(uint64(h.To), 10),
		strconv.FormatInt(max(h.Created.Unix(), 0), 10), name, strconv.FormatUint(uint64(h.Size), 10),
	}
	b := make([]byte, HeaderSize)
	off := 0
	for i, f := range fields {
		copy(b[off:off+headerWidths[i]-1], f)
		off += headerWidths[i]
	}
	return b
}

// ParseHeader decodes a stored header.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("%w: %d bytes", errBadHeader, len(b))
	}
	var f [6]string
	off := 0
	for i, w := range headerWidths {
		v := b[off : off+w]
		if n := bytes.IndexByte(v, 0); n >= 0 {
			v = v[:n]
		}
		f[i] = string(v)
		off += w
	}
	num := func(i int, bits int) (uint64, error) {
		v, err := strconv.ParseUint(f[i], 10, bits)
		if err != nil {
			return 0, fmt.Errorf("%w: field %d: %v", errBadHeader, i, err)
		}
		return v, nil
	}
	h := Header{TaskID: f[0], Name: f[4]}
	if !validTaskID(h.TaskID) {
		return Header{}, fmt.Errorf("%w: task id %q", errBadHeader, h.TaskID)
	}
	from, err := num(1, 32)
	if err != nil {
		return Header{}, err
	}
	to, err := num(2, 32)
	if err != nil {
		return Header{}, err
	}
	created, err := num(3, 63)
	if err != nil {
		return Header{}, err
	}
	size, err := num(5, 32)
	if err != nil {
		return Header{}, err
	}
	h.From, h.To, h.Created, h.Size = uint32(from), uint32(to), time.Unix(int64(created), 0), uint32(size)
	return h, nil
}

// blockLen is the length of the block at offset in a file of size bytes
// (0 past the end).
func blockLen(offset, size uint32) uint32 {
	if offset >= size {
		return 0
	}
	return min(BlockSize, size-offset)
}

// Disk is the offline file directory.
type Disk struct {
	Dir string
}

// Path is where a finished offline file of task id is stored.
func (d Disk) Path(id string) string { return filepath.Join(d.Dir, id[:2], id) }

// Upload is an offline upload in progress: blocks are appended in order to
// the temporary file, which Finish renames into place. Not safe for
// concurrent use.
type Upload struct {
	h    Header
	f    *os.File
	tmp  string
	path string
	next uint32 // offset of the next block
}

// Create starts the upload of h's file.
func (d Disk) Create(h Header) (*Upload, error) {
	if !validTaskID(h.TaskID) {
		return nil, errBadTaskID
	}
	path := d.Path(h.TaskID)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("file: create %s: %w", h.TaskID, err)
	}
	tmp := path + partSuffix
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return nil, fmt.Errorf("file: create %s: %w", h.TaskID, err)
	}
	if _, err := f.Write(h.Marshal()); err != nil {
		f.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("file: write header of %s: %w", h.TaskID, err)
	}
	return &Upload{h: h, f: f, tmp: tmp, path: path}, nil
}

// Next is the offset of the next block and its length (0 when complete).
func (u *Upload) Next() (offset, n uint32) { return u.next, blockLen(u.next, u.h.Size) }

// Complete reports whether every block was written.
func (u *Upload) Complete() bool { return u.next >= u.h.Size }

// Write appends the block at offset: it must be the next one, of exactly
// the expected length (the reference writes the expected length whatever
// arrived, reading past the buffer; we refuse instead).
func (u *Upload) Write(offset uint32, data []byte) error {
	if u.Complete() || offset != u.next {
		return fmt.Errorf("%w: got offset %d, want %d", errOffset, offset, u.next)
	}
	if want := blockLen(offset, u.h.Size); uint32(len(data)) != want {
		return fmt.Errorf("%w: got %d bytes at %d, want %d", errBlockLen, len(data), offset, want)
	}
	if _, err := u.f.Write(data); err != nil {
		return fmt.Errorf("file: write %s at %d: %w", u.h.TaskID, offset, err)
	}
	u.next += uint32(len(data))
	return nil
}

// Finish syncs the complete file and renames it into place.
func (u *Upload) Finish() error {
	if !u.Complete() {
		return fmt.Errorf("file: finish %s: %d of %d bytes", u.h.TaskID, u.next, u.h.Size)
	}
	if err := u.f.Sync(); err != nil {
		u.Abort()
		return fmt.Errorf("file: sync %s: %w", u.h.TaskID, err)
	}
	if err := u.f.Close(); err != nil {
		os.Remove(u.tmp)
		return fmt.Errorf("file: close %s: %w", u.h.TaskID, err)
	}
	u.f = nil
	if err := os.Rename(u.tmp, u.path); err != nil {
		os.Remove(u.tmp)
		return fmt.Errorf("file: rename %s: %w", u.h.TaskID, err)
	}
	if dir, err := os.Open(filepath.Dir(u.path)); err == nil {
		_ = dir.Sync()
		dir.Close()
	}
	return nil
}

// Abort drops an unfinished upload and its temporary file.
func (u *Upload) Abort() {
	if u.f != nil {
		u.f.Close()
		u.f = nil
		os.Remove(u.tmp)
	}
}

// Download reads a stored offline file block by block, in order. Not safe
// for concurrent use.
type Download struct {
	H    Header
	f    *os.File
	next uint32
}

// Open loads a stored offline file: the header must parse, name task id and
// announce exactly the size of the body that follows.
func (d Disk) Open(id string) (*Download, error) {
	if !validTaskID(id) {
		return nil, errBadTaskID
	}
	f, err := os.Open(d.Path(id))
	if err != nil {
		return nil, fmt.Errorf("file: open %s: %w", id, err)
	}
	b := make([]byte, HeaderSize)
	if _, err := io.ReadFull(f, b); err != nil {
		f.Close()
		return nil, fmt.Errorf("file: read header of %s: %w", id, err)
	}
	h, err := ParseHeader(b)
	if err == nil && h.TaskID != id {
		err = fmt.Errorf("%w: header names task %s", errBadHeader, h.TaskID)
	}
	if err == nil {
		var st os.FileInfo
		if st, err = f.Stat(); err == nil && st.Size() != HeaderSize+int64(h.Size) {
			err = fmt.Errorf("%w: %d content bytes, header says %d", errBadHeader, st.Size()-HeaderSize, h.Size)
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("file: load %s: %w", id, err)
	}
	return &Download{H: h, f: f}, nil
}

// Read returns the block at offset, which must be the next one; its length
// is the expected one (32768 or the final remainder).
func (dl *Download) Read(offset uint32) ([]byte, error) {
	n := blockLen(offset, dl.H.Size)
	if offset != dl.next || n == 0 {
		return nil, fmt.Errorf("%w: got offset %d, want %d of %d", errOffset, offset, dl.next, dl.H.Size)
	}
	b := make([]byte, n)
	if _, err := dl.f.ReadAt(b, HeaderSize+int64(offset)); err != nil {
		return nil, fmt.Errorf("file: read %s at %d: %w", dl.H.TaskID, offset, err)
	}
	dl.next += n
	return b, nil
}

// Complete reports whether every block was read.
func (dl *Download) Complete() bool { return dl.next >= dl.H.Size }

// Close releases the file.
func (dl *Download) Close() { dl.f.Close() }

// Sweep removes the offline files created before cutoff (by their header's
// create time, or the modification time when the header is unreadable) and
// temporary files of uploads last written before cutoff, except those of
// the task ids in busy. It returns how many files it removed.
func (d Disk) Sweep(cutoff time.Time, busy func(id string) bool) (int, error) {
	removed := 0
	subs, err := os.ReadDir(d.Dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, nil
		}
		return 0, fmt.Errorf("file: sweep %s: %w", d.Dir, err)
	}
	var firstErr error
	for _, sub := range subs {
		if !sub.IsDir() || len(sub.Name()) != 2 {
			continue
		}
		sd := filepath.Join(d.Dir, sub.Name())
		ents, err := os.ReadDir(sd)
		if err != nil {
			firstErr = cmp(firstErr, err)
			continue
		}
		for _, e := range ents {
			name := e.Name()
			id := strings.TrimSuffix(name, partSuffix)
			if e.IsDir() || !validTaskID(id) || (busy != nil && busy(id)) {
				continue
			}
			p := filepath.Join(sd, name)
			if !d.expired(p, id != name, cutoff) {
				continue
			}
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				firstErr = cmp(firstErr, err)
				continue
			}
			removed++
		}
	}
	if firstErr != nil {
		return removed, fmt.Errorf("file: sweep %s: %w", d.Dir, firstErr)
	}
	return removed, nil
}

func cmp(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// expired reports whether the file at p is older than cutoff.
func (d Disk) expired(p string, part bool, cutoff time.Time) bool {
	if !part {
		if f, err := os.Open(p); err == nil {
			b := make([]byte, HeaderSize)
			_, rerr := io.ReadFull(f, b)
			f.Close()
			if rerr == nil {
				if h, err := ParseHeader(b); err == nil {
					return h.Created.Before(cutoff)
				}
			}
		}
	}
	st, err := os.Stat(p)
	return err == nil && st.ModTime().Before(cutoff)
}

// mkdirAll creates the offline directory.
func mkdirAll(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("file: offline directory: %w", err)
	}
	return nil
}
