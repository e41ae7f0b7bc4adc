package msfs

import (
	"bytes"
	"strconv"
	"strings"
)

// The upload answers' error codes (PROTOCOL.md §4.14).
const (
	CodeOK                = 0  // stored
	CodeTooBig            = 1  // request body or file above the limits
	CodeNoDisposition     = 2  // no "Content-Disposition:" in the body
	CodeNoFilename        = 3  // no filename="..." after it
	CodeNoBoundary        = 4  // the request's Content-Type has no boundary=
	CodeBoundaryMissing   = 5  // the boundary is not in the body
	CodeNoPartType        = 6  // no "Content-Type:" in the part's headers
	CodeNoBlankLine       = 7  // no blank line after the part's headers
	CodeNoClosingBoundary = 8  // the data's closing boundary is missing
	CodeBadExtension      = 9  // extension longer than 15 (or, ours, empty or not alphanumeric)
	CodeNoDot             = 10 // the filename has no '.'
	CodeNameTooLong       = 11 // the filename is longer than 255 bytes
)

// maxExtLen is the reference's longest extension.
const maxExtLen = 15

// Part is the file of an upload.
type Part struct {
	// Name is the client's filename.
	Name string
	// Ext is the extension: 1..15 ASCII letters and digits.
	Ext string
	// Dims is "_<W>x<H>" when the filename carries the image's size before
	// the extension (W, H of 1..4 digits), else "".
	Dims string
	// Data is the file's bytes (a sub-slice of the body).
	Data []byte
}

// ParseUpload finds the file in a multipart/form-data upload body the way
// the reference does, with its checks in its order, and returns it or the
// error code to answer. contentType is the request's Content-Type header.
// It is more careful than the reference in three ways: the part's headers
// end at the first blank line after the boundary (a "Content-Type:" in the
// data does not count), the data ends at CRLF "--" boundary, and an
// extension must be alphanumeric (it becomes part of a file name on disk).
func ParseUpload(contentType string, body []byte) (Part, int) {
	cd := bytes.Index(body, []byte("Content-Disposition:"))
	if cd < 0 {
		return Part{}, CodeNoDisposition
	}
	fn := bytes.Index(body[cd:], []byte("filename="))
	if fn < 0 {
		return Part{}, CodeNoFilename
	}
	start := cd + fn + len("filename=")
	if start >= len(body) || body[start] != '"' {
		return Part{}, CodeNoFilename
	}
	start++
	end := bytes.IndexByte(body[start:], '"')
	if end < 0 {
		return Part{}, CodeNoFilename
	}
	name := string(body[start : start+end])
	if len(name) > maxNameLen {
		return Part{}, CodeNameTooLong
	}
	dot := strings.LastIndexByte(name, '.')
	if dot < 0 {
		return Part{}, CodeNoDot
	}
	ext := name[dot+1:]
	if len(ext) > maxExtLen || !alnum(ext) {
		return Part{}, CodeBadExtension
	}
	p := Part{Name: name, Ext: ext, Dims: dims(name[:dot])}

	boundary, ok := boundaryOf(contentType)
	if !ok {
		return Part{}, CodeNoBoundary
	}
	b := bytes.Index(body, []byte(boundary))
	if b < 0 {
		return Part{}, CodeBoundaryMissing
	}
	rest := body[b:]
	blank := bytes.Index(rest, []byte("\r\n\r\n"))
	headers := rest
	if blank >= 0 {
		headers = rest[:blank]
	}
	if !containsFold(headers, "Content-Type:") {
		if blank < 0 && containsFold(rest, "Content-Type:") {
			return Part{}, CodeNoBlankLine
		}
		return Part{}, CodeNoPartType
	}
	if blank < 0 {
		return Part{}, CodeNoBlankLine
	}
	data := rest[blank+4:]
	close := bytes.Index(data, []byte("\r\n--"+boundary))
	if close < 0 {
		return Part{}, CodeNoClosingBoundary
	}
	p.Data = data[:close:close]
	return p, CodeOK
}

// boundaryOf returns the boundary parameter of a Content-Type header value:
// what follows "boundary=", unquoted, up to a ';' or white space.
func boundaryOf(contentType string) (string, bool) {
	i := strings.Index(contentType, "boundary=")
	if i < 0 {
		return "", false
	}
	v := contentType[i+len("boundary="):]
	if strings.HasPrefix(v, `"`) {
		end := strings.IndexByte(v[1:], '"')
		if end < 0 {
			return "", false
		}
		v = v[1 : 1+end]
	} else if end := strings.IndexAny(v, "; \t"); end >= 0 {
		v = v[:end]
	}
	return v, v != ""
}

// dims returns "_<W>x<H>" when base (the filename without its extension)
// ends in "_<W>x<H>" with W and H of 1..4 digits, else "". Like the
// reference it prints the numbers back, so leading zeros go.
func dims(base string) string {
	u := strings.LastIndexByte(base, '_')
	if u < 0 {
		return ""
	}
	w, h, ok := strings.Cut(base[u+1:], "x")
	if !ok || len(w) > 4 || len(h) > 4 || !isDigits(w) || !isDigits(h) {
		return ""
	}
	wn, _ := strconv.Atoi(w)
	hn, _ := strconv.Atoi(h)
	return "_" + strconv.Itoa(wn) + "x" + strconv.Itoa(hn)
}

func alnum(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// containsFold reports whether b contains the ASCII string s, ignoring case.
func containsFold(b []byte, s string) bool {
	n := len(s)
	for i := 0; i+n <= len(b); i++ {
		if bytes.EqualFold(b[i:i+n], []byte(s)) {
			return true
		}
	}
	return false
}

// Answer returns the JSON body of an upload answer, byte for byte as the
// reference prints it (compact, a space after "error_msg":). path and url
// are used only with CodeOK; CodeTooBig's answer has no "path" key.
func Answer(code int, path, url string) []byte {
	var b strings.Builder
	b.WriteString(`{"error_code":`)
	b.WriteString(strconv.Itoa(code))
	switch code {
	case CodeOK:
		b.WriteString(`,"error_msg": "成功","path":`)
		b.WriteString(quote(path))
		b.WriteString(`,"url":`)
		b.WriteString(quote(url))
	case CodeTooBig:
		b.WriteString(`,"error_msg": "上传文件过大","url":""`)
	default:
		b.WriteString(`,"error_msg": "格式错误","path":"","url":""`)
	}
	b.WriteByte('}')
	return []byte(b.String())
}

// quote writes s as a JSON string: '"', '\' and control characters escaped,
// everything else as is (a plain Host header and path come out unchanged).
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[c>>4])
			b.WriteByte("0123456789abcdef"[c&0xf])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
