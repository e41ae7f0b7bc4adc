package styled

import "testing"

func TestObject(t *testing.T) {
	cases := []struct {
		name    string
		members map[string]string
		want    string
	}{
		{"empty", map[string]string{}, "{\n}\n"},
		{"http_msg_creategroup vector", map[string]string{"error_msg": Quote("成功"), "group_id": Uint(1), "error_code": Int(0)},
			"{\n   \"error_code\" : 0,\n   \"error_msg\" : \"成功\",\n   \"group_id\" : 1\n}\n"},
		{"escapes", map[string]string{"k": Quote("a\"b\\c\n\x01")}, "{\n   \"k\" : \"a\\\"b\\\\c\\n\\u0001\"\n}\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(Object(tc.members)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestQuote(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "abc", `"abc"`},
		{"utf8 kept", "负载过高", `"负载过高"`},
		{"escapes", "a\"b\\c\n\t\x01", `"a\"b\\c\n\t\u0001"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Quote(tc.in); got != tc.want {
				t.Fatalf("Quote(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}
