package tui

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsOnlyCtlapi keeps the console a pure client of the control API:
// of this module it may import only appliance/ctlapi and its own packages.
func TestImportsOnlyCtlapi(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "teamtalk/tui/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != "teamtalk" && !strings.HasPrefix(p, "teamtalk/") {
			continue
		}
		if p != "teamtalk/appliance/ctlapi" && p != "teamtalk/tui" && !strings.HasPrefix(p, "teamtalk/tui/") {
			t.Errorf("tui depends on %s; it may import only appliance/ctlapi", p)
		}
	}
}
