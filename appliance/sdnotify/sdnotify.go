// Package sdnotify tells systemd about teamtalkd's state (READY=1,
// STOPPING=1, WATCHDOG=1, STATUS=...) over the NOTIFY_SOCKET datagram socket,
// with the standard library only.
package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// Notifier sends state updates to systemd. A nil *Notifier (no NOTIFY_SOCKET)
// accepts every call and does nothing.
type Notifier struct {
	addr string
}

// New returns a Notifier for the socket named by NOTIFY_SOCKET as getenv
// reports it (os.Getenv in production), or nil when it is unset. An "@"
// prefix names an abstract socket.
func New(getenv func(string) string) *Notifier {
	addr := getenv("NOTIFY_SOCKET")
	if addr == "" {
		return nil
	}
	if addr[0] == '@' {
		addr = "\x00" + addr[1:]
	}
	return &Notifier{addr: addr}
}

// Notify sends one state string, e.g. "READY=1" or "STATUS=draining".
func (n *Notifier) Notify(state string) error {
	if n == nil {
		return nil
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: n.addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sdnotify: dial %q: %w", n.addr, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sdnotify: send %q: %w", state, err)
	}
	return nil
}

// Ready says every service is up.
func (n *Notifier) Ready() error { return n.Notify("READY=1") }

// Stopping says shutdown has begun.
func (n *Notifier) Stopping() error { return n.Notify("STOPPING=1") }

// Reloading says a reload has begun; call Ready when it is done.
func (n *Notifier) Reloading() error { return n.Notify("RELOADING=1") }

// Watchdog pets the watchdog.
func (n *Notifier) Watchdog() error { return n.Notify("WATCHDOG=1") }

// Status sets the free-form status line systemctl shows.
func (n *Notifier) Status(s string) error { return n.Notify("STATUS=" + s) }

// WatchdogInterval returns how often to send WATCHDOG=1 (half of
// WATCHDOG_USEC, as systemd recommends) and whether the watchdog is enabled
// for this process (WATCHDOG_PID unset or equal to pid).
func WatchdogInterval(getenv func(string) string, pid int) (time.Duration, bool) {
	usec, err := strconv.ParseUint(getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec == 0 {
		return 0, false
	}
	if p := getenv("WATCHDOG_PID"); p != "" && p != strconv.Itoa(pid) {
		return 0, false
	}
	return time.Duration(usec) * time.Microsecond / 2, true
}

// Getenv is os.Getenv, for callers that pass it to New and WatchdogInterval.
func Getenv(key string) string { return os.Getenv(key) }
