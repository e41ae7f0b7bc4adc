package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"teamtalk/state/mysqlstore/mariadbtest"
)

// mysqlCrashCycles is how many SIGKILL cycles TestCrashSafetyMySQL runs:
// $TT_CRASH_CYCLES, else 3 (make soak sets 20).
func mysqlCrashCycles(t *testing.T) int {
	return envInt(t, "TT_CRASH_CYCLES", 3)
}

// TestCrashSafetyMySQL is TestCrashSafety with the IM store on MariaDB:
// p2p load (both directions of 3 pairs), teamtalkd killed with SIGKILL at a
// random moment, the appliance's own bolt file checked, teamtalkd started
// again on the same database; every message ever acked must be in the
// history with its text, with ids that never repeat in a session.
func TestCrashSafetyMySQL(t *testing.T) {
	dsn := mysqlDatabase(t)
	cycles := mysqlCrashCycles(t)
	rng := testRand(t)
	dir := t.TempDir()
	pairs := senderPairs(3)
	log := newAckLog()
	var sentTotal, unackedTotal, checked int
	for cycle := 1; cycle <= cycles; cycle++ {
		a := start(t, fmt.Sprintf("mycrash%d", cycle), dir, storeArgs(dsn, cycle == 1)...)
		if cycle == 1 {
			seedCtl(t, a, 2*len(pairs))
		}
		if cycle > 1 {
			checked = checkHistory(t, a.addr("msg.listen"), pairs, log)
		}
		sent, unacked := killUnderLoad(t, a, rng, pairs, fmt.Sprintf("m%d", cycle), log)
		sentTotal += sent
		unackedTotal += unacked
		checkBolt(t, filepath.Join(dir, "appliance.db"))
		if _, err := os.Stat(filepath.Join(dir, "im.db")); err == nil {
			t.Fatal("im.db exists: the IM store must be on MariaDB")
		}
	}
	a := start(t, "mycrash-final", dir, storeArgs(dsn, false)...)
	checked = checkHistory(t, a.addr("msg.listen"), pairs, log)
	if checked != log.count() || checked == 0 {
		t.Fatalf("checked %d of %d acked messages", checked, log.count())
	}
	a.stop()
	t.Logf("crash safety on MySQL: %d SIGKILL cycles, %d sends, %d acked messages all in history, %d unacked at kills", cycles, sentTotal, checked, unackedTotal)
}

// TestFaultMariaDB kills a private MariaDB server under p2p load and starts
// it again at the same address: while it is down nothing is acked; after it
// is back the MySQL backend's connections are renewed by themselves (no
// restart of msg or dbproxy), sends are acked again and logins work, and
// every acked message, before and after the outage, is in the history.
func TestFaultMariaDB(t *testing.T) {
	if _, _, err := mariadbtest.Binaries(); err != nil {
		mariadbtest.Require(t, nil)
	}
	srv, err := mariadbtest.Start(t.TempDir())
	if err != nil {
		t.Fatalf("start mariadbd: %v", err)
	}
	t.Cleanup(srv.Stop) // after the database's drop
	dsn := srv.CreateDatabase(t)
	pairs := senderPairs(2)
	a := start(t, "maria", "", storeArgs(dsn, true)...)
	seedCtl(t, a, 2*len(pairs))
	addr := a.addr("msg.listen")

	log := newAckLog()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := startLoad(ctx, t, addr, pairs, "maria", log, 3*time.Second)
	var total int
	outage := func(round int) {
		eventually(t, 15*time.Second, fmt.Sprintf("acks before outage %d", round), func() bool { return log.count() >= total+50 })
		srv.Stop()
		time.Sleep(300 * time.Millisecond) // acks of commits that made it before the kill
		during := log.count()
		time.Sleep(time.Second)
		if n := log.count(); n != during {
			t.Fatalf("outage %d: %d messages acked while MariaDB was down", round, n-during)
		}
		if err := srv.Restart(); err != nil {
			t.Fatalf("restart mariadbd: %v", err)
		}
		eventually(t, 20*time.Second, fmt.Sprintf("acks after outage %d", round), func() bool { return log.count() >= during+50 })
		total = log.count()
	}
	for round := 1; round <= 2; round++ {
		outage(round)
	}
	if c, err := tryLogin(addr, "alice", "123456", android); err != nil {
		t.Fatalf("login after MariaDB is back: %v", err)
	} else {
		c.Close()
	}
	cancel()
	sent, unacked, _ := l.wait()
	for _, svc := range []string{"msg", "dbproxy"} {
		if n := a.restarts(svc); n != 0 {
			t.Fatalf("%s restarted %d times; it must recover by reconnecting", svc, n)
		}
	}
	checked := checkHistory(t, addr, pairs, log)
	a.stop()
	t.Logf("MariaDB killed and restarted twice under load: %d sends, %d acked and all in history, %d unacked (outages and stop)", sent, checked, unacked)
}
