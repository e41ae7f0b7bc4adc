package main

import (
	"strings"
	"testing"
)

// TestLoginStormOutcomes runs the login storm against an appliance and checks
// how each outcome is counted: successes as logins, refusals and dial
// failures under their kinds.
func TestLoginStormOutcomes(t *testing.T) {
	sock := provisioned(t, 4)
	for _, tc := range []struct {
		name    string
		args    []string
		ops     uint64
		errKind string // "" : no errors
	}{
		{"ok, iOS", []string{"-socket", sock, "-n", "4", "-c", "2", "-count", "8", "-type", "ios"}, 8, ""},
		{"wrong password", []string{"-socket", sock, "-n", "4", "-c", "2", "-count", "3", "-password", "wrong"}, 0, "login_refused_db_validate_failed"},
		{"unknown users", []string{"-socket", sock, "-n", "2", "-c", "1", "-count", "2", "-prefix", "nobody"}, 0, "login_refused_db_validate_failed"},
		{"nothing listening", []string{"-msg", "127.0.0.1:1", "-n", "1", "-c", "1", "-count", "2"}, 0, "dial_refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errb := ttbench(t, append([]string{"login"}, tc.args...)...)
			r := lastResult(t, out)
			if r.Ops != tc.ops || r.Latency.Count != tc.ops {
				t.Errorf("logins %d (latency count %d), want %d", r.Ops, r.Latency.Count, tc.ops)
			}
			if tc.errKind == "" {
				if code != 0 || !r.OK || len(r.Errors) != 0 {
					t.Errorf("exit %d ok %v errors %v\n%s", code, r.OK, r.Errors, errb)
				}
				return
			}
			if code == 0 || r.OK || r.Errors[tc.errKind] == 0 || len(r.Errors) != 1 {
				t.Errorf("exit %d ok %v errors %v, want only %s", code, r.OK, r.Errors, tc.errKind)
			}
			if !strings.Contains(errb, "first error") {
				t.Errorf("stderr has no first error:\n%s", errb)
			}
		})
	}
}
