package main

import (
	"bufio"
	"fmt"
	"os"
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
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("rss of %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			fields := strings.Fields(rest)
			if len(fields) == 0 {
				break
			}
			v, err := strconv.ParseUint(fields[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("rss of %d: %q: %w", pid, line, err)
			}
			return v, nil
		}
	}
	return 0, fmt.Errorf("rss of %d: no VmRSS line", pid)
}
