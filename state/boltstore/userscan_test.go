package boltstore

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"teamtalk/state"
)

// sameAsJSON checks that decodeUser reads raw exactly as json.Unmarshal
// does (both fail, or both give the same record), and reports whether the
// scan took it.
func sameAsJSON(t *testing.T, raw []byte) (scanned bool) {
	t.Helper()
	var want userRecord
	wantErr := json.Unmarshal(raw, &want)
	got, err := decodeUser(bUsers, key(1), raw)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("decodeUser(%q) err %v, json.Unmarshal err %v", raw, err, wantErr)
	}
	if err == nil && got != want {
		t.Fatalf("decodeUser(%q) = %+v, json.Unmarshal gives %+v", raw, got, want)
	}
	_, scanned = scanRecord(raw)
	return scanned
}

func TestDecodeUserScan(t *testing.T) {
	full := userRecord{ID: 4294967295, Sex: 255, Name: "bench1", Domain: "d", Nick: "成功 nick", Password: "0123456789abcdef0123456789abcdef",
		Salt: "4821", Phone: "+86 138", Email: "a@b.c", Avatar: "http://x/y.png", DepartID: 3, Status: 1, Created: 1700000000,
		Updated: 1700000001, PushShield: true, SignInfo: "hi"}
	marshal := func(r userRecord) string {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	base := marshal(full)
	for _, tc := range []struct {
		name string
		raw  string
		scan bool // the fast path must take it
	}{
		{"zero", marshal(userRecord{}), true},
		{"full", base, true},
		{"stored by ProvisionUsers-like", marshal(userRecord{ID: 7, Name: "bench7", Nick: "bench7", Password: "p", Salt: "1"}), true},
		{"escaped quote", marshal(userRecord{ID: 1, Nick: `a"b`}), false},
		{"html escaped", marshal(userRecord{ID: 1, SignInfo: "<b>&"}), false},
		{"unicode escape", strings.Replace(base, `"nick":"`, `"nick":"\u00e9`, 1), false},
		{"newline escaped", marshal(userRecord{ID: 1, Nick: "a\nb"}), false},
		{"raw control char", strings.Replace(base, `"salt":"`, "\"salt\":\"\x01", 1), false},
		{"invalid utf8", strings.Replace(base, `"salt":"`, "\"salt\":\"\xff", 1), false},
		{"whitespace", strings.Replace(base, `"sex":`, `"sex": `, 1), false},
		{"trailing space", base + " ", false},
		{"trailing garbage", base + "x", false},
		{"keys reordered", `{"sex":1,"id":2}`, false},
		{"key case", strings.Replace(base, `"nick":`, `"Nick":`, 1), false},
		{"extra key", strings.Replace(base, `}`, `,"more":1}`, 1), false},
		{"missing key", strings.Replace(base, `,"sign_info":"hi"`, ``, 1), false},
		{"negative", strings.Replace(base, `"status":1`, `"status":-1`, 1), false},
		{"leading zero", strings.Replace(base, `"status":1`, `"status":01`, 1), false},
		{"fraction", strings.Replace(base, `"status":1`, `"status":1.0`, 1), false},
		{"exponent", strings.Replace(base, `"status":1`, `"status":1e0`, 1), false},
		{"uint32 overflow", strings.Replace(base, `"id":4294967295`, `"id":4294967296`, 1), false},
		{"uint8 overflow", strings.Replace(base, `"sex":255`, `"sex":256`, 1), false},
		{"bool as number", strings.Replace(base, `"push_shield":true`, `"push_shield":1`, 1), false},
		{"null string", strings.Replace(base, `"phone":"+86 138"`, `"phone":null`, 1), false},
		{"truncated", base[:len(base)-3], false},
		{"empty", "", false},
		{"not an object", "[]", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sameAsJSON(t, []byte(tc.raw)); got != tc.scan {
				t.Errorf("scanned = %v, want %v for %q", got, tc.scan, tc.raw)
			}
		})
	}
}

// FuzzDecodeUser checks that the scan never reads a record differently from
// encoding/json.
func FuzzDecodeUser(f *testing.F) {
	b, _ := json.Marshal(userRecord{ID: 9, Sex: 1, Name: "n", Nick: "成功", Password: "p", Salt: "12", DepartID: 1, PushShield: true})
	f.Add(b)
	b, _ = json.Marshal(userRecord{})
	f.Add(b)
	f.Fuzz(func(t *testing.T, raw []byte) { sameAsJSON(t, raw) })
}

// BenchmarkCheckLogin is dbproxy's validate read: name to id, the record,
// the password hash check.
func BenchmarkCheckLogin(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "im.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.CreateUser(ctx, state.NewUser{Name: "bench1", Password: "secret", Nick: "bench1", DepartID: 1}); err != nil {
		b.Fatal(err)
	}
	pw := state.MD5Hex("secret")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.CheckLogin(ctx, "bench1", pw); err != nil {
			b.Fatal(err)
		}
	}
}
