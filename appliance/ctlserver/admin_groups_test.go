package ctlserver_test

import (
	"context"
	"strings"
	"testing"

	"teamtalk/appliance"
	"teamtalk/state"
)

// TestAdminGroupEndpoints checks every group endpoint's answer and status,
// each refusal included, over a real bolt store (max_group_members = 3).
func TestAdminGroupEndpoints(t *testing.T) {
	dir := t.TempDir()
	st := openBolt(t, dir)
	for _, name := range []string{"ann", "ben", "cat", "dan"} {
		if _, err := st.CreateUser(context.Background(), state.NewUser{Name: name, Password: "pw", Nick: name}); err != nil {
			t.Fatal(err)
		}
	}
	_, sock := liveOpts(t, dir, func(o *appliance.Options) {
		o.Store = st
		o.Config.DBProxy.MaxGroupMembers = 3
	})
	hc := socketHTTP(sock)
	tests := []struct {
		name, method, path, body string
		code                     int
		want                     string // in the reply body
	}{
		{name: "list empty", method: "GET", path: "/v1/groups", code: 200, want: "[]"},
		{name: "add", method: "POST", path: "/v1/groups", body: `{"name":"dev","members":["ann","2"],"creator":"ann"}`, code: 200, want: `"creator": "ann"`},
		{name: "add temp", method: "POST", path: "/v1/groups", body: `{"name":"dev","type":"temp","members":["cat"]}`, code: 200, want: `"type": "temp"`},
		{name: "add exists", method: "POST", path: "/v1/groups", body: `{"name":"dev","members":["ann"]}`, code: 409, want: "exists already (id 1)"},
		{name: "add no members", method: "POST", path: "/v1/groups", body: `{"name":"ops","members":[]}`, code: 400, want: "at least one member"},
		{name: "add blank members", method: "POST", path: "/v1/groups", body: `{"name":"ops","members":[" ",""]}`, code: 400, want: "at least one member"},
		{name: "add unknown members", method: "POST", path: "/v1/groups", body: `{"name":"ops","members":["ann","zed","77"]}`, code: 404, want: `no such users: \"zed\", \"77\"`},
		{name: "add too many", method: "POST", path: "/v1/groups", body: `{"name":"ops","members":["ann","ben","cat","dan"]}`, code: 400, want: "over dbproxy.max_group_members (3)"},
		{name: "add repeated members count once", method: "POST", path: "/v1/groups", body: `{"name":"ops","members":["ann","1","ben","2","cat"]}`, code: 200, want: `"members": 3`},
		{name: "add empty name", method: "POST", path: "/v1/groups", body: `{"members":["ann"]}`, code: 400, want: "group name empty"},
		{name: "add long name", method: "POST", path: "/v1/groups", body: `{"name":"` + strings.Repeat("n", 300) + `","members":["ann"]}`, code: 400, want: "longer than 256"},
		{name: "add bad type", method: "POST", path: "/v1/groups", body: `{"name":"x","type":"big","members":["ann"]}`, code: 400, want: `group type \"big\"`},
		{name: "add unknown creator", method: "POST", path: "/v1/groups", body: `{"name":"x","creator":"zed","members":["ann"]}`, code: 404, want: "creator"},
		{name: "add unknown field", method: "POST", path: "/v1/groups", body: `{"name":"x","member":["ann"]}`, code: 400, want: "unknown field"},
		{name: "add too big", method: "POST", path: "/v1/groups", body: `{"name":"x","members":["` + strings.Repeat("a", 1<<20) + `"]}`, code: 413, want: "over 1048576 bytes"},
		{name: "show by name", method: "GET", path: "/v1/groups/ops", code: 200, want: `"name": "cat"`},
		{name: "show by id", method: "GET", path: "/v1/groups/1", code: 200, want: `"member_list"`},
		{name: "show ambiguous", method: "GET", path: "/v1/groups/dev", code: 409, want: "ids 1, 2"},
		{name: "show unknown", method: "GET", path: "/v1/groups/99", code: 404, want: "no group"},
		{name: "change", method: "POST", path: "/v1/groups/1/members", body: `{"add":["cat"],"remove":["ben"]}`, code: 200, want: `"version": 3`},
		{name: "change nothing", method: "POST", path: "/v1/groups/1/members", body: `{}`, code: 400, want: "nothing to change"},
		{name: "change both ways", method: "POST", path: "/v1/groups/1/members", body: `{"add":["ben"],"remove":["2"]}`, code: 400, want: "both added and removed"},
		{name: "change unknown user", method: "POST", path: "/v1/groups/1/members", body: `{"add":["zed"]}`, code: 404, want: `add: no such users: \"zed\"`},
		{name: "change unknown group", method: "POST", path: "/v1/groups/nope/members", body: `{"add":["ben"]}`, code: 404, want: "no group"},
		{name: "change over limit", method: "POST", path: "/v1/groups/ops/members", body: `{"add":["dan"]}`, code: 409, want: "4 members after the change"},
		{name: "change swap at limit", method: "POST", path: "/v1/groups/ops/members", body: `{"add":["dan"],"remove":["ann"]}`, code: 200, want: `"removed": [`},
		{name: "change leaves none", method: "POST", path: "/v1/groups/2/members", body: `{"remove":["cat"]}`, code: 409, want: "leave no member"},
		{name: "change no-op", method: "POST", path: "/v1/groups/2/members", body: `{"add":["cat"],"remove":["dan"]}`, code: 200, want: `"notified": false`},
		{name: "list", method: "GET", path: "/v1/groups", code: 200, want: `"latest_msg_id": 0`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, b := request(t, hc, tc.method, tc.path, tc.body)
			if code != tc.code || !strings.Contains(string(b), tc.want) {
				t.Fatalf("%s %s = %d %s; want %d with %q", tc.method, tc.path, code, b, tc.code, tc.want)
			}
		})
	}
	gs, err := st.ListGroups(context.Background())
	if err != nil || len(gs) != 3 {
		t.Fatalf("store holds %d groups (%v), want 3", len(gs), err)
	}
	if ids := gs[2].MemberIDs(); len(ids) != 3 || ids[0] != 2 || ids[2] != 4 || gs[2].Version != 3 {
		t.Fatalf("group ops = %+v", gs[2])
	}
}
