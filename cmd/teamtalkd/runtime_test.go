package main

import (
	"log/slog"
	"math"
	"runtime/debug"
	"testing"

	"teamtalk/appliance/config"
)

func TestTuneRuntime(t *testing.T) {
	oldGC := debug.SetGCPercent(100)
	oldLimit := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() {
		debug.SetGCPercent(oldGC)
		debug.SetMemoryLimit(oldLimit)
	})
	log := slog.New(slog.DiscardHandler)
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	tests := []struct {
		name              string
		r                 config.Runtime
		env               map[string]string
		wantGC            int
		wantLimit         int64
		wantGCSet, wantLS bool
	}{
		{name: "config applies", r: config.Runtime{GCPercent: 400, MemoryLimitMB: 512}, wantGC: 400, wantLimit: 512 << 20, wantGCSet: true, wantLS: true},
		{name: "no limit leaves it alone", r: config.Runtime{GCPercent: 150}, wantGC: 150, wantLimit: math.MaxInt64, wantGCSet: true},
		{name: "environment wins", r: config.Runtime{GCPercent: 400, MemoryLimitMB: 512}, env: map[string]string{"GOGC": "50", "GOMEMLIMIT": "1GiB"}, wantGC: 100, wantLimit: math.MaxInt64},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetGCPercent(100)
			debug.SetMemoryLimit(math.MaxInt64)
			gcSet, limitSet := tuneRuntime(tc.r, env(tc.env), log)
			if gcSet != tc.wantGCSet || limitSet != tc.wantLS {
				t.Errorf("applied gc %v limit %v, want %v %v", gcSet, limitSet, tc.wantGCSet, tc.wantLS)
			}
			if got := debug.SetGCPercent(100); got != tc.wantGC {
				t.Errorf("gc percent %d, want %d", got, tc.wantGC)
			}
			if got := debug.SetMemoryLimit(-1); got != tc.wantLimit {
				t.Errorf("memory limit %d, want %d", got, tc.wantLimit)
			}
		})
	}
}
