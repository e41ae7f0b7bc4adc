package install

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"teamtalk/appliance/ctlapi"
	"teamtalk/internal/testproc"
)

// The Debian root the systemd test boots: debootstrap's minbase plus what a box
// needs to run systemd as PID 1 — and nothing more, so a unit that leans on
// anything else (procps's /bin/kill for ExecReload, say) fails here. The cache
// key hashes all of it.
const (
	debSuite   = "bookworm"
	debVariant = "minbase"
	debInclude = "dbus,systemd,systemd-sysv"
)

// debMirror is the apt mirror debootstrap downloads from (TT_DEBIAN_MIRROR overrides).
func debMirror() string {
	if m := os.Getenv("TT_DEBIAN_MIRROR"); m != "" {
		return m
	}
	return "http://deb.debian.org/debian"
}

// zeroPorts are the config edits that put every listener of the appliance on a
// kernel-picked loopback port and name the peers by service.
func zeroPorts() map[string]string {
	return map[string]string{
		"login.http_listen": `"127.0.0.1:0"`, "login.client_listen": `"127.0.0.1:0"`, "login.msgserver_listen": `"127.0.0.1:0"`,
		"msg.listen": `"127.0.0.1:0"`, "msg.dbproxy": `["dbproxy"]`, "msg.route": `["route"]`,
		"msg.login": `["login.msgserver_listen"]`, "msg.file": `["file.msg_listen"]`, "msg.push": `"push"`,
		"route.listen": `"127.0.0.1:0"`, "dbproxy.listen": `"127.0.0.1:0"`,
		"file.client_listen": `"127.0.0.1:0"`, "file.msg_listen": `"127.0.0.1:0"`, "msfs.listen": `"127.0.0.1:0"`,
		"httpmsg.listen": `"127.0.0.1:0"`, "httpmsg.dbproxy": `["dbproxy"]`, "httpmsg.route": `["route"]`,
		"push.listen": `"127.0.0.1:0"`, "metrics.listen": `"127.0.0.1:0"`,
	}
}

// cachedRoot returns a Debian root filesystem with systemd, made by debootstrap
// once per machine and package list: under $XDG_CACHE_HOME/teamtalk, else
// /var/cache/teamtalk, in a directory named by a hash of the suite, variant,
// packages, architecture and mirror. Concurrent tests wait on a lock file; a
// half-made root is never used (it is built aside and renamed when complete).
// The root is never booted itself: boots run on an overlay above it.
func cachedRoot(t *testing.T) string {
	t.Helper()
	base := "/var/cache/teamtalk"
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
		base = filepath.Join(x, "teamtalk")
	}
	key := sha256.Sum256([]byte(strings.Join([]string{debSuite, debVariant, debInclude, runtime.GOARCH, debMirror()}, "\n")))
	name := fmt.Sprintf("nspawn-debian-%s-%s-%s", debSuite, runtime.GOARCH, hex.EncodeToString(key[:6]))
	root := filepath.Join(base, name)
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(filepath.Join(base, name+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("lock the root cache: %v", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(filepath.Join(root, "lib/systemd/systemd")); err == nil {
		t.Logf("debian root: %s (cached)", root)
		return root
	}
	tmp := root + ".new"
	if err := os.RemoveAll(tmp); err != nil {
		t.Fatal(err)
	}
	t.Logf("debian root: debootstrap %s %s with %s into %s (once per machine)", debSuite, debVariant, debInclude, root)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "debootstrap", "--variant="+debVariant, "--include="+debInclude,
		"--arch="+runtime.GOARCH, debSuite, tmp, debMirror())
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(tmp)
		t.Fatalf("debootstrap: %v\n%s", err, tail(string(out), 40))
	}
	// The downloaded packages are not needed to boot.
	debs, _ := filepath.Glob(filepath.Join(tmp, "var/cache/apt/archives/*.deb"))
	for _, d := range debs {
		os.Remove(d)
	}
	if err := os.Rename(tmp, root); err != nil {
		t.Fatal(err)
	}
	return root
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// runDir makes the directory of this test process's overlay next to the cached
// root (runs/PID), after sweeping the ones left by test processes that died
// without their cleanups (go test's timeout): those are unmounted and removed.
func runDir(t *testing.T, root string) string {
	t.Helper()
	runs := filepath.Join(filepath.Dir(root), "runs")
	old, _ := os.ReadDir(runs)
	for _, e := range old {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			continue // still running
		}
		stale := filepath.Join(runs, e.Name())
		syscall.Unmount(filepath.Join(stale, "merged"), syscall.MNT_DETACH)
		t.Logf("removing %s, left by a test process that is gone", stale)
		if err := os.RemoveAll(stale); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(runs, strconv.Itoa(os.Getpid()))
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) }) // after the overlay's unmount (cleanups run last first)
	return dir
}

// overlay mounts a writable overlay of lower at dir/merged (changes go to
// dir/upper) and unmounts it when the test ends.
func overlay(t *testing.T, lower, dir string) string {
	t.Helper()
	merged := filepath.Join(dir, "merged")
	upper := filepath.Join(dir, "upper")
	work := filepath.Join(dir, "work")
	for _, d := range []string{merged, upper, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work
	if err := syscall.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		t.Fatalf("mount the overlay root (%s): %v", opts, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(merged, 0); err != nil {
			t.Logf("unmount %s: %v; detaching it", merged, err)
			syscall.Unmount(merged, syscall.MNT_DETACH)
		}
	})
	return merged
}

// machine is a Debian root booted with systemd as PID 1 by systemd-nspawn -b, on
// the host's network. Commands run inside it through nsenter into its init's
// namespaces (no machined is needed on the host).
type machine struct {
	name, root string
	cmd        *exec.Cmd
	console    *testproc.Buffer
	done       chan struct{} // closed when systemd-nspawn has exited
	leader     int           // the container's PID 1, as the host sees it
}

// boot starts the container and waits until its systemd finished booting
// (is-system-running: running or degraded). The test's cleanup always terminates it.
func boot(t *testing.T, name, root string) *machine {
	t.Helper()
	m := &machine{name: name, root: root, console: &testproc.Buffer{}, done: make(chan struct{})}
	m.cmd = exec.Command("systemd-nspawn", "--directory="+root, "--machine="+name, "--register=no", "--keep-unit",
		"--console=read-only", "--boot")
	m.cmd.Env = os.Environ()
	var fs syscall.Statfs_t
	if err := syscall.Statfs("/sys/fs/cgroup", &fs); err != nil || fs.Type != 0x63677270 { // CGROUP2_SUPER_MAGIC
		// A legacy or hybrid host (no systemd PID 1 to delegate a unified tree): the container gets legacy cgroups.
		m.cmd.Env = append(m.cmd.Env, "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=0")
	}
	m.cmd.Stdout, m.cmd.Stderr = m.console, m.console
	// If the test process dies without its cleanups (go test's timeout), systemd-nspawn
	// gets SIGTERM and halts the container.
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	start := time.Now()
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("systemd-nspawn: %v", err)
	}
	go func() {
		m.cmd.Wait()
		close(m.done)
	}()
	t.Cleanup(func() { m.halt(t) })

	deadline := time.Now().Add(2 * time.Minute)
	for m.leader == 0 {
		m.leader = m.init()
		if m.leader != 0 {
			break
		}
		select {
		case <-m.done:
			t.Fatalf("systemd-nspawn exited (%v) before the container's systemd ran:\n%s", m.cmd.ProcessState, tail(m.console.String(), 60))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no systemd in the container after 2 minutes:\n%s", tail(m.console.String(), 60))
		}
	}
	for {
		out, _ := m.sh(t, 2*time.Minute, "systemctl is-system-running --wait")
		state := strings.TrimSpace(out)
		if state == "running" || state == "degraded" {
			if state == "degraded" {
				failed, _ := m.sh(t, time.Minute, "systemctl --failed --no-legend")
				t.Logf("container %s booted degraded: %s", name, failed)
			}
			break
		}
		select {
		case <-m.done:
			t.Fatalf("systemd-nspawn exited (%v) while booting:\n%s", m.cmd.ProcessState, tail(m.console.String(), 60))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("container not booted after 2 minutes (%q):\n%s", state, tail(m.console.String(), 60))
		}
	}
	t.Logf("container %s booted in %v", name, time.Since(start).Round(time.Millisecond))
	return m
}

// init returns the pid of the container's systemd (the child of systemd-nspawn
// running systemd in a new pid namespace), or 0 while there is none yet.
func (m *machine) init() int {
	pid := m.cmd.Process.Pid
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0
	}
	self, _ := os.Readlink("/proc/self/ns/pid")
	for _, f := range strings.Fields(string(b)) {
		c, _ := strconv.Atoi(f)
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", c))
		ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", c))
		if strings.TrimSpace(string(comm)) == "systemd" && ns != "" && ns != self {
			return c
		}
	}
	return 0
}

// sh runs a shell script inside the container as root and returns its combined
// output and exit code; it is killed after timeout.
func (m *machine) sh(t *testing.T, timeout time.Duration, script string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nsenter", "--target", strconv.Itoa(m.leader), "--all", "--root", "--wd",
		"/bin/sh", "-c", script)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8",
		"HOME=/root", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("in %s, %q: no answer in %v:\n%s", m.name, script, timeout, out.String())
	case errors.As(err, &ee):
		return out.String(), ee.ExitCode()
	case err != nil:
		t.Fatalf("nsenter %s: %v", m.name, err)
	}
	return out.String(), 0
}

// must runs a script inside the container and fails the test unless it exits 0.
func (m *machine) must(t *testing.T, script string) string {
	t.Helper()
	out, code := m.sh(t, 3*time.Minute, script)
	if code != 0 {
		t.Fatalf("in %s, %q: exit %d\n%s\njournal:\n%s", m.name, script, code, out, m.journal(t))
	}
	return out
}

// journal returns teamtalkd's recent journal in the container, for failure messages.
func (m *machine) journal(t *testing.T) string {
	t.Helper()
	out, _ := m.sh(t, 30*time.Second, "journalctl -u teamtalkd --no-pager -n 40 2>&1")
	return out
}

// halt shuts the container down (SIGTERM makes systemd-nspawn ask its systemd to
// halt), and kills it if that takes more than a minute. Calling it again is a no-op.
func (m *machine) halt(t *testing.T) {
	t.Helper()
	select {
	case <-m.done:
		return
	default:
	}
	m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
		return
	case <-time.After(time.Minute):
	}
	t.Errorf("container %s did not halt in a minute; killing it:\n%s", m.name, tail(m.console.String(), 30))
	if m.leader != 0 {
		syscall.Kill(m.leader, syscall.SIGKILL) // takes the whole pid namespace with it
	}
	m.cmd.Process.Kill()
	<-m.done
}

// unit is what systemd says of teamtalkd.service.
type unit struct {
	active, sub, result, typ string
	mainPID, restarts        int
}

func (m *machine) unit(t *testing.T) unit {
	t.Helper()
	out := m.must(t, "systemctl show teamtalkd.service -p ActiveState -p SubState -p Result -p Type -p MainPID -p NRestarts")
	kv := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(l, "=")
		kv[k] = v
	}
	u := unit{active: kv["ActiveState"], sub: kv["SubState"], result: kv["Result"], typ: kv["Type"]}
	u.mainPID, _ = strconv.Atoi(kv["MainPID"])
	u.restarts, _ = strconv.Atoi(kv["NRestarts"])
	return u
}

// running waits until teamtalkd.service is active with a main process and its
// control socket answers ready to a member of group teamtalk, and returns both.
func (m *machine) running(t *testing.T) (unit, ctlapi.Status) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		u := m.unit(t)
		if u.active == "active" && u.mainPID != 0 {
			// As a member of group teamtalk that is not root: the socket's mode and group are what let it in.
			out, code := m.sh(t, 30*time.Second, "setpriv --reuid="+strconv.Itoa(member)+" --regid="+strconv.Itoa(member)+
				" --groups=$(getent group teamtalk | cut -d: -f3) /usr/local/bin/ttctl -json status")
			var st ctlapi.Status
			if code == 0 {
				if err := json.Unmarshal([]byte(out), &st); err != nil {
					t.Fatalf("ttctl -json status: %v\n%s", err, out)
				}
				if st.Ready {
					return u, st
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("teamtalkd active but not ready after 90s: ttctl exit %d: %s\njournal:\n%s", code, out, m.journal(t))
			}
		} else if time.Now().After(deadline) || u.active == "failed" {
			t.Fatalf("teamtalkd.service %s/%s (result %s) after 90s\njournal:\n%s", u.active, u.sub, u.result, m.journal(t))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestSystemd installs the release tarball into a Debian root booted with systemd
// as PID 1 (systemd-nspawn -b) and drives the operator's path with the real
// systemctl: install --no-start (enabled, not started), install (started, Type=notify
// readiness, the unit's hardening in force on the process), ttctl on the control
// socket, a client login through the login HTTP port, an upgrade (restarted, config
// and data kept), an unchanged reinstall (not restarted), systemctl restart and
// reload, Restart=on-failure after a SIGKILL, a reboot (enabled: up again), then
// --uninstall (stopped, disabled, data kept) and --purge.
//
// The root comes from debootstrap once per machine (cachedRoot); each run boots a
// throwaway overlay above it (runDir). The container shares the host's network, so every
// listener is on a kernel-picked loopback port.
func TestSystemd(t *testing.T) {
	need(t, true, "make", "tar", "go", "systemd-nspawn", "debootstrap", "nsenter")
	dir := tempDir(t)
	var tgz [2]string
	for i, v := range []string{"v0.0.1-test", "v0.0.2-test"} {
		d := filepath.Join(dir, "v"+strconv.Itoa(i+1))
		tarball(t, d, v)
		tgz[i] = filepath.Join(d, "dist", "teamtalk-"+v+"-linux-"+runtime.GOARCH+".tar.gz")
	}
	lower := cachedRoot(t)
	root := overlay(t, lower, runDir(t, lower))
	name := fmt.Sprintf("teamtalk-test-%d", os.Getpid())
	m := boot(t, name, root)

	// The operator copies the tarball in and unpacks it; no Go in there.
	unpack := func(i int) string {
		t.Helper()
		base := filepath.Base(tgz[i])
		if err := os.WriteFile(filepath.Join(root, "root", base), []byte(readFile(t, tgz[i])), 0o644); err != nil {
			t.Fatal(err)
		}
		m.must(t, "cd /root && tar -xzf "+base)
		return "/root/" + strings.TrimSuffix(base, ".tar.gz")
	}
	if out, code := m.sh(t, time.Minute, "command -v go"); code == 0 {
		t.Fatalf("the container has go: %s", out)
	}
	pkg1 := unpack(0)

	// Installed and enabled, not started.
	out := m.must(t, pkg1+"/install.sh --no-start")
	mustContain(t, "install --no-start", out, "created the system user and group teamtalk", "installed and enabled; not started (--no-start)")
	if out := m.must(t, "systemctl is-enabled teamtalkd"); strings.TrimSpace(out) != "enabled" {
		t.Errorf("is-enabled after --no-start: %q", out)
	}
	if u := m.unit(t); u.active != "inactive" || u.typ != "notify" {
		t.Errorf("after --no-start: %+v, want inactive, Type=notify", u)
	}

	// A drop-in shortens the unit's watchdog so a run of this test sees teamtalkd pet it
	// (and the unit restart it if it did not).
	writeFile(t, filepath.Join(root, "etc/systemd/system/teamtalkd.service.d/50-test-watchdog.conf"), "[Service]\nWatchdogSec=2s\n", 0o644)

	// The operator moves every port off TeamTalk's defaults; the next install starts it.
	conf := filepath.Join(root, "etc/teamtalk/teamtalkd.toml")
	writeFile(t, conf, setKeys(t, readFile(t, conf), zeroPorts()), 0o640)
	confBefore := readFile(t, conf)
	out = m.must(t, pkg1+"/install.sh")
	mustContain(t, "install", out, "keeping the config", "starting teamtalkd", "ready      true", "v0.0.1-test")
	if out := m.must(t, "systemctl is-active teamtalkd"); strings.TrimSpace(out) != "active" {
		t.Errorf("is-active: %q", out)
	}
	u, st := m.running(t)
	if st.Version != "v0.0.1-test" || st.Socket != "/run/teamtalk/teamtalkd.sock" || st.DataDir != "/var/lib/teamtalk" || st.PID != u.mainPID {
		t.Errorf("status: version %q socket %q data %q pid %d (unit's main pid %d)", st.Version, st.Socket, st.DataDir, st.PID, u.mainPID)
	}

	// WATCHDOG=1 arrives: systemd's watchdog timestamp moves on.
	watchdog := func() string {
		return strings.TrimSpace(m.must(t, "systemctl show teamtalkd.service -p WatchdogTimestampMonotonic --value"))
	}
	first := watchdog()
	deadline := time.Now().Add(30 * time.Second)
	for w := first; w == first || w == "0"; w = watchdog() {
		if time.Now().After(deadline) {
			t.Fatalf("no WATCHDOG=1 from teamtalkd in 30s (WatchdogSec=2s): timestamp %q\n%s", w, m.journal(t))
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The hardening is in force on the running process.
	uid := strings.TrimSpace(m.must(t, "id -u teamtalk"))
	proc := m.must(t, fmt.Sprintf("cat /proc/%d/status", u.mainPID))
	for _, want := range []string{"\nUid:\t" + uid + "\t" + uid + "\t", "\nNoNewPrivs:\t1\n", "\nSeccomp:\t2\n", "\nCapEff:\t0000000000000000\n", "\nCapBnd:\t0000000000000000\n"} {
		if !strings.Contains(proc, want) {
			t.Errorf("teamtalkd's /proc/%d/status lacks %q:\n%s", u.mainPID, want, proc)
		}
	}
	mounts := m.must(t, fmt.Sprintf("cat /proc/%d/mountinfo", u.mainPID))
	if !mountedRO(mounts, "/usr") || !mountedRO(mounts, "/etc") || mountedRO(mounts, "/var/lib/teamtalk") {
		t.Errorf("ProtectSystem=strict not in force (want /usr and /etc read-only, /var/lib/teamtalk writable):\n%s", mounts)
	}
	gid := strings.TrimSpace(m.must(t, "id -g teamtalk"))
	// /run is the container's own tmpfs: look from inside.
	if got, want := strings.TrimSpace(m.must(t, "stat -c '%a %u %g' /run/teamtalk /run/teamtalk/teamtalkd.sock")),
		"750 "+uid+" "+gid+"\n660 "+uid+" "+gid; got != want {
		t.Errorf("runtime directory and control socket: mode uid gid %q, want %q", got, want)
	}
	if out, code := m.sh(t, 30*time.Second, "setpriv --reuid=4243 --regid=4243 --clear-groups /usr/local/bin/ttctl status"); code == 0 {
		t.Errorf("ttctl status outside group teamtalk succeeded:\n%s", out)
	}

	// A user made with ttctl logs in from the host through the login HTTP port.
	m.must(t, "ttctl user add alice -password secret")
	clientLogin(t, st, "alice", "secret")
	writeFile(t, filepath.Join(root, "var/lib/teamtalk/marker"), "kept", 0o640)

	// Upgrade: the new binary is running, config and data kept.
	pkg2 := unpack(1)
	out = m.must(t, pkg2+"/install.sh")
	mustContain(t, "upgrade", out, "keeping the config", "restarting teamtalkd (binary, unit or config changed)", "v0.0.2-test")
	before := u
	u, st = m.running(t)
	if st.Version != "v0.0.2-test" || u.mainPID == before.mainPID {
		t.Errorf("after the upgrade: version %q main pid %d (was %d)", st.Version, u.mainPID, before.mainPID)
	}
	if readFile(t, conf) != confBefore || readFile(t, filepath.Join(root, "var/lib/teamtalk/marker")) != "kept" {
		t.Error("the upgrade changed the config or the data")
	}
	clientLogin(t, st, "alice", "secret")

	// The same version again: nothing changed, not restarted.
	out = m.must(t, pkg2+"/install.sh")
	mustContain(t, "reinstall", out, "nothing changed: not restarting")
	if u2, _ := m.running(t); u2.mainPID != u.mainPID {
		t.Errorf("an unchanged reinstall restarted teamtalkd: pid %d -> %d", u.mainPID, u2.mainPID)
	}

	// systemctl restart and reload.
	m.must(t, "systemctl restart teamtalkd")
	before = u
	u, st = m.running(t)
	if u.mainPID == before.mainPID {
		t.Errorf("systemctl restart kept pid %d", u.mainPID)
	}
	clientLogin(t, st, "alice", "secret")
	m.must(t, "systemctl reload teamtalkd")
	if u2, _ := m.running(t); u2.mainPID != u.mainPID {
		t.Errorf("systemctl reload replaced the process: %d -> %d", u.mainPID, u2.mainPID)
	}

	// Restart=on-failure: killed, it comes back.
	if u.restarts != 0 {
		t.Errorf("NRestarts %d before any failure (watchdog?)\n%s", u.restarts, m.journal(t))
	}
	m.must(t, fmt.Sprintf("kill -KILL %d", u.mainPID))
	deadline = time.Now().Add(90 * time.Second)
	for m.unit(t).restarts == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("teamtalkd not restarted after SIGKILL: %+v\n%s", m.unit(t), m.journal(t))
		}
		time.Sleep(200 * time.Millisecond)
	}
	u, st = m.running(t)
	clientLogin(t, st, "alice", "secret")

	// Enabled means it comes up at boot.
	m.halt(t)
	m = boot(t, name, root)
	if out := m.must(t, "systemctl is-active teamtalkd"); strings.TrimSpace(out) != "active" {
		t.Errorf("after a reboot is-active: %q", out)
	}
	u, st = m.running(t)
	if st.Version != "v0.0.2-test" {
		t.Errorf("after a reboot: version %q", st.Version)
	}
	clientLogin(t, st, "alice", "secret")

	// Uninstall: stopped, disabled, the unit gone; config and data kept.
	out = m.must(t, "/usr/local/bin/teamtalk-uninstall.sh")
	mustContain(t, "uninstall", out, "stopping and disabling teamtalkd", "kept /etc/teamtalk and /var/lib/teamtalk")
	if out, code := m.sh(t, time.Minute, "systemctl is-active teamtalkd"); code == 0 || strings.TrimSpace(out) == "active" {
		t.Errorf("after --uninstall is-active: %q (exit %d)", out, code)
	}
	if out, code := m.sh(t, time.Minute, "systemctl is-enabled teamtalkd"); code == 0 {
		t.Errorf("after --uninstall is-enabled: %q", out)
	}
	checkAbsent(t, root, "etc/systemd/system/teamtalkd.service", "etc/systemd/system/multi-user.target.wants/teamtalkd.service",
		"usr/local/bin/teamtalkd")
	if out, code := m.sh(t, time.Minute, "test -e /run/teamtalk/teamtalkd.sock"); code == 0 {
		t.Errorf("the control socket is left after --uninstall %s", out)
	}
	if c, err := net.DialTimeout("tcp", st.Addresses["login.http_listen"], 5*time.Second); err == nil {
		c.Close()
		t.Errorf("the login HTTP port %s still answers after --uninstall", st.Addresses["login.http_listen"])
	}
	if readFile(t, conf) != confBefore || readFile(t, filepath.Join(root, "var/lib/teamtalk/marker")) != "kept" {
		t.Error("--uninstall changed the config or the data")
	}
	if _, err := os.Stat(filepath.Join(root, "var/lib/teamtalk/im.db")); err != nil {
		t.Errorf("--uninstall lost the IM store: %v", err)
	}

	// Purge: data, config and the user go.
	out = m.must(t, pkg2+"/install.sh --purge --yes")
	mustContain(t, "purge", out, "purged teamtalk")
	checkAbsent(t, root, "var/lib/teamtalk", "etc/teamtalk")
	if out, code := m.sh(t, time.Minute, "getent passwd teamtalk"); code == 0 {
		t.Errorf("purge left the user: %s", out)
	}
}

// mountedRO reports whether the mount covering path in a /proc/PID/mountinfo
// (the longest mount point above it; the later of equal ones) is read-only.
func mountedRO(mountinfo, path string) bool {
	ro, best := false, -1
	for _, l := range strings.Split(mountinfo, "\n") {
		f := strings.Fields(l)
		if len(f) < 6 {
			continue
		}
		mp := f[4]
		if mp != path && mp != "/" && !strings.HasPrefix(path, mp+"/") {
			continue
		}
		if len(mp) >= best {
			best = len(mp)
			ro = f[5] == "ro" || strings.HasPrefix(f[5], "ro,")
		}
	}
	return ro
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}
