package httpmsg

import (
	"encoding/json"
	"math"
	"testing"
)

// FuzzParams feeds arbitrary request bodies to the JSON parameter reader
// every endpoint uses: it never panics, a value it accepts is what the JSON
// says, and a refused value always leaves an error naming the first problem.
func FuzzParams(f *testing.F) {
	f.Add([]byte(`{"req_user_id":0,"app_key":"k","group_name":"g","group_type":2,"group_avatar":"","user_id_list":[1,2,3]}`))
	f.Add([]byte(`{"req_user_id":-1,"user_id_list":[0]}`))
	f.Add([]byte(`{"req_user_id":4294967296,"user_id_list":[1.5,"x"]}`))
	f.Add([]byte(`{"app_key":7,"group_name":null,"user_id_list":{}}`))
	f.Add([]byte(`{"req_user_id":1e400}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var m map[string]json.RawMessage
		if json.Unmarshal(body, &m) != nil || m == nil {
			return
		}
		p := &params{m: m}
		id := p.uint32("req_user_id")
		name := p.str("group_name")
		ids := p.ids("user_id_list")
		if p.err == nil {
			var f float64
			if json.Unmarshal(m["req_user_id"], &f) != nil || f != float64(id) {
				t.Fatalf("req_user_id %s read as %d", m["req_user_id"], id)
			}
			var s string
			if json.Unmarshal(m["group_name"], &s) != nil || s != name {
				t.Fatalf("group_name %s read as %q", m["group_name"], name)
			}
			for _, v := range ids {
				if v == 0 || uint64(v) > math.MaxUint32 {
					t.Fatalf("user_id_list accepted %d", v)
				}
			}
		}
	})
}
