package layout

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const mod = "teamtalk/"

type pkg struct {
	ImportPath string
	Doc        string
	Imports    []string
	Deps       []string
}

// packages lists every package of the module with go list.
func packages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "teamtalk/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func own(list []string) []string {
	var out []string
	for _, p := range list {
		if strings.HasPrefix(p, mod) {
			out = append(out, strings.TrimPrefix(p, mod))
		}
	}
	return out
}

func TestEveryPackageDocumented(t *testing.T) {
	for _, p := range packages(t) {
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("%s has no package doc comment", p.ImportPath)
		}
	}
}

// service reports the service a package belongs to ("msg" for
// daemons/msg/...), or "".
func service(path string) string {
	rest, ok := strings.CutPrefix(path, "daemons/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	switch name {
	case "internal", "builtin":
		return ""
	}
	return name
}

func TestImportRules(t *testing.T) {
	// Each rule: packages under from (a prefix) must not import, directly or
	// not, a package under any of the prefixes in deny, except allow.
	type rule struct {
		name  string
		from  []string
		deny  []string
		allow []string
	}
	rules := []rule{
		{name: "the core does not know the services or the supervisor", from: []string{"netloop", "wire", "state", "client"},
			deny: []string{"daemons", "appliance", "cmd", "tui"}, allow: []string{"appliance/ctlapi"}},
		{name: "services do not reach up into the supervisor", from: []string{"daemons"},
			deny: []string{"appliance", "cmd", "tui"}, allow: []string{"appliance/config", "appliance/ctlapi"}},
		{name: "the console reads only the control API types", from: []string{"tui"},
			deny: []string{"appliance", "daemons", "netloop", "state", "wire", "client"}, allow: []string{"appliance/ctlapi"}},
		{name: "ctlapi is a leaf", from: []string{"appliance/ctlapi"}, deny: []string{""}},
	}
	under := func(p string, prefixes []string) bool {
		for _, x := range prefixes {
			if x == "" || p == x || strings.HasPrefix(p, x+"/") {
				return true
			}
		}
		return false
	}
	for _, p := range packages(t) {
		path := strings.TrimPrefix(p.ImportPath, mod)
		deps := own(p.Deps)
		for _, r := range rules {
			if !under(path, r.from) {
				continue
			}
			for _, d := range deps {
				if under(d, r.deny) && !under(d, r.allow) {
					t.Errorf("%s: %s imports %s", r.name, path, d)
				}
			}
		}
		// No service imports another service.
		if svc := service(path); svc != "" {
			for _, d := range deps {
				if other := service(d); other != "" && other != svc {
					t.Errorf("service %s imports service %s (%s)", svc, other, d)
				}
			}
		}
	}
}

// Only the services that own records touch the IM store's backends; the
// rest talk to dbproxy over the wire.
func TestStoreBackendsOnlyFromOwners(t *testing.T) {
	owners := map[string]bool{"dbproxy": true, "file": true, "msfs": true}
	for _, p := range packages(t) {
		path := strings.TrimPrefix(p.ImportPath, mod)
		svc := service(path)
		if svc == "" || owners[svc] {
			continue
		}
		for _, d := range own(p.Imports) {
			if d == "state/boltstore" || d == "state/mysqlstore" {
				t.Errorf("service %s imports the store backend %s", svc, d)
			}
		}
	}
}
