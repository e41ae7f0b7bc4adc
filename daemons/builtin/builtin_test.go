package builtin

import (
	"testing"

	"teamtalk/appliance/config"
)

func TestKindsKnown(t *testing.T) {
	known := map[string]bool{}
	for _, n := range config.ServiceNames() {
		known[n] = true
	}
	for k, c := range Table() {
		if !known[k] {
			t.Errorf("Table has unknown service %q", k)
		}
		if c == nil {
			t.Errorf("Table has a nil constructor for %q", k)
		}
	}
}
