package main

import (
	"log/slog"
	"runtime/debug"

	"teamtalk/appliance/config"
)

// tuneRuntime applies [runtime] to the Go runtime. An environment variable
// the operator set (GOGC, GOMEMLIMIT) wins over its key. It reports which
// keys it applied.
func tuneRuntime(r config.Runtime, getenv func(string) string, log *slog.Logger) (gcSet, limitSet bool) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(r.GCPercent)
		gcSet = true
	}
	if getenv("GOMEMLIMIT") == "" && r.MemoryLimitMB > 0 {
		debug.SetMemoryLimit(int64(r.MemoryLimitMB) << 20)
		limitSet = true
	}
	log.Debug("go runtime", "gc_percent", r.GCPercent, "gc_from_config", gcSet,
		"memory_limit_mb", r.MemoryLimitMB, "limit_from_config", limitSet)
	return gcSet, limitSet
}
