package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Problem is one thing wrong with a configuration: the key's dotted name, where
// it was set (a file and line, or a flag) and what is wrong.
type Problem struct {
	Key    string // dotted key, e.g. "msg.max_conns"; empty for a syntax error without one
	Origin string // "FILE:LINE", "FILE", "-set", "-data"..., or "" for a built-in default
	Msg    string
}

// String formats the problem as "ORIGIN: KEY: MSG".
func (p Problem) String() string {
	var b strings.Builder
	if p.Origin != "" {
		b.WriteString(p.Origin + ": ")
	}
	if p.Key != "" {
		b.WriteString(p.Key + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is the error Load returns when the configuration is refused.
type Problems []Problem

// Error lists every problem, one per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return "config: " + strings.Join(lines, "\nconfig: ")
}

// Override is one value that replaces the file's: Key is the dotted name,
// Value a TOML value, Origin names the flag it came from ("-set", "-data").
type Override struct {
	Key    string
	Value  string
	Origin string
}

var bareKey = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)

// ParseSet parses a -set argument, KEY=VALUE, where VALUE is a TOML value
// ("0", "true", `["msg"]`, `"x"`); a VALUE that is not valid TOML is taken
// as a string, so `msg.listen=127.0.0.1:18000` works unquoted.
func ParseSet(arg string) (Override, error) {
	k, v, ok := strings.Cut(arg, "=")
	k = strings.TrimSpace(k)
	if !ok || !bareKey.MatchString(k) {
		return Override{}, fmt.Errorf("config: -set %q: want KEY=VALUE with a dotted key such as msg.max_conns=1000", arg)
	}
	v = strings.TrimSpace(v)
	var probe map[string]any
	if _, err := toml.Decode("x = "+v, &probe); err != nil {
		v = strconv.Quote(v)
	}
	return Override{Key: k, Value: v, Origin: "-set"}, nil
}

// StringOverride returns an Override that sets key to the string s.
func StringOverride(key, s, origin string) Override {
	return Override{Key: key, Value: strconv.Quote(s), Origin: origin}
}

// Load reads the file at path (none when path is empty) over Default(), applies
// the overrides in order and validates the result. Every problem found is
// returned at once as Problems.
func Load(path string, overrides []Override) (*Config, error) {
	cfg := Default()
	var probs Problems
	origins := map[string]string{} // key → where its value came from
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: read %s: %w", path, err)
		}
		lines := keyLines(data)
		md, err := toml.Decode(string(data), cfg)
		if err != nil {
			return nil, Problems{decodeProblem(err, path, lines)}
		}
		for _, k := range md.Keys() {
			origins[k.String()] = at(path, lines[k.String()])
		}
		for _, k := range md.Undecoded() {
			probs = append(probs, Problem{Key: k.String(), Origin: at(path, lines[k.String()]), Msg: "unknown key"})
		}
	}
	for _, o := range overrides {
		md, err := toml.Decode(o.Key+" = "+o.Value, cfg)
		if err != nil {
			p := decodeProblem(err, "", nil)
			p.Key, p.Origin = o.Key, o.Origin
			probs = append(probs, p)
			continue
		}
		if len(md.Undecoded()) > 0 {
			probs = append(probs, Problem{Key: o.Key, Origin: o.Origin, Msg: "unknown key"})
			continue
		}
		origins[o.Key] = o.Origin
	}
	for _, p := range cfg.Validate() {
		p.Origin = originOf(origins, p.Key)
		probs = append(probs, p)
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return cfg, nil
}

func at(path string, line int) string {
	if line == 0 {
		return path
	}
	return fmt.Sprintf("%s:%d", path, line)
}

// originOf finds where key (or the table holding it) was set.
func originOf(origins map[string]string, key string) string {
	for k := key; k != ""; {
		if o, ok := origins[k]; ok {
			return o
		}
		i := strings.LastIndexByte(k, '.')
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return ""
}

var lineKeyRE = regexp.MustCompile(`line (\d+) \(last key "([^"]*)"\): (.*)$`)

// decodeProblem turns a toml error into a Problem with the key and line.
func decodeProblem(err error, path string, lines map[string]int) Problem {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return Problem{Key: pe.LastKey, Origin: at(path, pe.Position.Line), Msg: pe.Message}
	}
	msg := strings.TrimPrefix(err.Error(), "toml: ")
	if m := lineKeyRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return Problem{Key: m[2], Origin: at(path, n), Msg: m[3]}
	}
	return Problem{Origin: path, Msg: msg}
}

var (
	tableRE  = regexp.MustCompile(`^\[\[?\s*([A-Za-z0-9_.\-" ]+?)\s*\]\]?`)
	assignRE = regexp.MustCompile(`^([A-Za-z0-9_\-" ]+(?:\.[A-Za-z0-9_\-" ]+)*)=`)
)

// keyLines maps each dotted key of a TOML document to the line that sets it.
// It is a line scanner, not a parser: good for messages, never for values.
func keyLines(data []byte) map[string]int {
	out := map[string]int{}
	clean := func(k string) string {
		parts := strings.Split(k, ".")
		for i, p := range parts {
			parts[i] = strings.Trim(strings.TrimSpace(p), `"`)
		}
		return strings.Join(parts, ".")
	}
	table := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if m := tableRE.FindStringSubmatch(line); m != nil {
			table = clean(m[1])
			if _, ok := out[table]; !ok {
				out[table] = n
			}
			continue
		}
		if m := assignRE.FindStringSubmatch(line); m != nil {
			k := clean(m[1])
			if table != "" {
				k = table + "." + k
			}
			if _, ok := out[k]; !ok {
				out[k] = n
			}
		}
	}
	return out
}

// Flatten returns every leaf key of c with its value formatted as TOML would
// show it, e.g. {"msg.max_conns": "100000", "services": `["all"]`}.
func (c *Config) Flatten() map[string]string {
	out := map[string]string{}
	flatten("", reflect.ValueOf(c).Elem(), out)
	return out
}

func flatten(prefix string, v reflect.Value, out map[string]string) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := f.Tag.Get("toml")
		if name == "" {
			continue
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct {
			flatten(key, fv, out)
			continue
		}
		var buf bytes.Buffer
		if err := toml.NewEncoder(&buf).Encode(map[string]any{"x": fv.Interface()}); err == nil {
			out[key] = strings.TrimSpace(strings.TrimPrefix(buf.String(), "x = "))
		} else {
			out[key] = fmt.Sprint(fv.Interface())
		}
	}
}

// LiveKey reports whether a change of key is applied without a restart (on
// SIGHUP): the log level and the msg limits.
func LiveKey(key string) bool {
	switch key {
	case "log.level", "msg.max_msgs_per_second", "msg.max_conns":
		return true
	}
	return false
}

// Diff compares two configurations and returns the changed keys that apply
// live (LiveKey) and those that need a restart of teamtalkd, each sorted.
func Diff(old, cur *Config) (live, restart []string) {
	a, b := old.Flatten(), cur.Flatten()
	for k, v := range b {
		if a[k] == v {
			continue
		}
		if LiveKey(k) {
			live = append(live, k)
		} else {
			restart = append(restart, k)
		}
	}
	sort.Strings(live)
	sort.Strings(restart)
	return live, restart
}

// Encode writes c as a TOML document.
func (c *Config) Encode() ([]byte, error) {
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(c); err != nil {
		return nil, fmt.Errorf("config: encode: %w", err)
	}
	return buf.Bytes(), nil
}
