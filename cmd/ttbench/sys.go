package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// raiseNoFile lifts RLIMIT_NOFILE's soft limit to the hard limit and returns
// the resulting limit. need is how many descriptors the run will hold; more
// than the limit (less a margin for the process itself) is an error naming
// the limit, rather than a run that fails half way.
func raiseNoFile(need int) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, fmt.Errorf("setrlimit nofile %d: %w", lim.Max, err)
		}
	}
	if uint64(need)+64 > lim.Cur {
		return lim.Cur, fmt.Errorf("%d connections need more open files than this process may have (RLIMIT_NOFILE hard limit %d; raise it with ulimit -Hn or LimitNOFILE=)", need, lim.Cur)
	}
	return lim.Cur, nil
}

// cpuTime returns the user+system CPU time of this process (getrusage).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rssKB returns VmRSS of process pid from /proc/PID/status, in KiB.
func rssKB(pid int) (uint64, error) {
	v, err := statusKB(pid, "VmRSS")
	if err != nil {
		return 0, err
	}
	return v[0], nil
}

// rssAll returns VmRSS, RssAnon and RssFile of process pid, in KiB, from
// one read of /proc/PID/status (one moment).
func rssAll(pid int) (total, anon, file uint64, err error) {
	v, err := statusKB(pid, "VmRSS", "RssAnon", "RssFile")
	if err != nil {
		return 0, 0, 0, err
	}
	return v[0], v[1], v[2], nil
}

// statusKB returns the fields keys of /proc/PID/status, in KiB, in the
// order asked.
func statusKB(pid int, keys ...string) ([]uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, fmt.Errorf("rss of %d: %w", pid, err)
	}
	out := make([]uint64, len(keys))
	found := 0
	for line := range strings.Lines(string(b)) {
		name, rest, _ := strings.Cut(line, ":")
		i := slices.Index(keys, name)
		if i < 0 {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return nil, fmt.Errorf("rss of %d: %q: no value", pid, line)
		}
		if out[i], err = strconv.ParseUint(f[0], 10, 64); err != nil {
			return nil, fmt.Errorf("rss of %d: %q: %w", pid, line, err)
		}
		found++
	}
	if found != len(keys) {
		return nil, fmt.Errorf("rss of %d: no %s line", pid, strings.Join(keys, "/"))
	}
	return out, nil
}
