package boltstore

import (
	"path/filepath"
	"sync"
	"testing"

	"teamtalk/state"
	"teamtalk/state/storetest"
)

// opener returns storetest's open function: one bolt file per subtest, kept
// across reopens of the same subtest.
func opener(opt Options) func(t *testing.T) state.Store {
	var mu sync.Mutex
	paths := map[string]string{}
	return func(t *testing.T) state.Store {
		mu.Lock()
		p, ok := paths[t.Name()]
		if !ok {
			p = filepath.Join(t.TempDir(), "im.db")
			paths[t.Name()] = p
		}
		mu.Unlock()
		s, err := Open(p, opt)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

func TestConformance(t *testing.T) {
	tests := []struct {
		name string
		opt  Options
	}{
		{"durable defaults", Options{}},
		{"small batches with wait", Options{MaxBatch: 4, MaxWait: 200_000, QueueLen: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { storetest.Run(t, opener(tt.opt)) })
	}
}
