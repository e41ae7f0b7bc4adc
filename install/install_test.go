package install

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"teamtalk/appliance/ctlapi"
	"teamtalk/client"
)

const (
	prefix = "/opt/teamtalk" // a non-default prefix, so the test sees it honoured
	// member is a uid/gid with no passwd entry that runs ttctl with the teamtalk
	// group as a supplementary group; stranger runs it without.
	member   = 4242
	stranger = 4243
	nobody   = 65534
)

// need skips (or, under CI=true, fails) the test when a tool or root is missing.
func need(t *testing.T, root bool, tools ...string) {
	t.Helper()
	var missing []string
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if root && os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	if len(missing) == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("missing %v (CI=true: .ci/run installs the tools and runs as root)", missing)
	}
	t.Skipf("missing %v", missing)
}

// tempDir is t.TempDir made traversable by the unprivileged users the test runs as.
func tempDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	for _, p := range []string{d, filepath.Dir(d)} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func repoRoot(t *testing.T) string {
	t.Helper()
	r, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tarball runs `make dist` for this machine's architecture and unpacks the result
// into dir; it returns the unpacked directory.
func tarball(t *testing.T, dir, version string) string {
	t.Helper()
	dist := filepath.Join(dir, "dist")
	cmd := exec.Command("make", "-s", "-C", repoRoot(t), "dist", "DIST="+dist, "DIST_ARCHES="+runtime.GOARCH, "VERSION="+version)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make dist: %v\n%s", err, out)
	}
	name := "teamtalk-" + version + "-linux-" + runtime.GOARCH
	sums, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	tgz := filepath.Join(dist, name+".tar.gz")
	if want := fileHash(t, tgz) + "  " + name + ".tar.gz"; !strings.Contains(string(sums), want) {
		t.Errorf("SHA256SUMS %q lacks %q", sums, want)
	}
	out, err := exec.Command("tar", "-tzf", tgz).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"bin/teamtalkd", "bin/ttctl", "install.sh", "README.md", "teamtalkd.example.toml",
		"systemd/teamtalkd.service", "systemd/teamtalk.sysusers.conf", "systemd/teamtalk.tmpfiles.conf"} {
		if !strings.Contains(string(out), name+"/"+f+"\n") {
			t.Errorf("tarball lacks %s:\n%s", f, out)
		}
	}
	if out, err := exec.Command("tar", "-xzf", tgz, "-C", dir).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	return filepath.Join(dir, name)
}

// newRoot makes a fresh root filesystem holding what debootstrap seeds /etc with
// (base-passwd's passwd and group), so install.sh creates the user for real in it.
func newRoot(t *testing.T, dir string) string {
	t.Helper()
	root := filepath.Join(dir, "root")
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\n",
	}
	for f, master := range map[string]string{"etc/passwd": "passwd.master", "etc/group": "group.master"} {
		if b, err := os.ReadFile("/usr/share/base-passwd/" + master); err == nil {
			files[f] = string(b)
		}
	}
	files["etc/shadow"] = shadowOf(files["etc/passwd"])
	files["etc/gshadow"] = shadowOf(files["etc/group"])
	for f, body := range files {
		mode := os.FileMode(0o644)
		if strings.Contains(f, "shadow") {
			mode = 0o640
		}
		writeFile(t, filepath.Join(root, f), body, mode)
	}
	return root
}

// shadowOf makes a locked shadow (or gshadow) entry for every name in a passwd (or group) file.
func shadowOf(db string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(db), "\n") {
		name, _, _ := strings.Cut(l, ":")
		if strings.Count(l, ":") == 6 {
			fmt.Fprintf(&b, "%s:*:19000:0:99999:7:::\n", name)
		} else {
			fmt.Fprintf(&b, "%s:*::\n", name)
		}
	}
	return b.String()
}

func writeFile(t *testing.T, path, body string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func fileHash(t *testing.T, path string) string {
	t.Helper()
	s := sha256.Sum256([]byte(readFile(t, path)))
	return hex.EncodeToString(s[:])
}

// run is one invocation of a script or program.
type run struct {
	path   string
	args   []string
	env    []string
	cred   *syscall.Credential // nil: as the test (root)
	root   string              // chroot into this directory first
	setsid bool                // no controlling terminal
}

// exec runs r and returns its combined output and exit code.
func (r run) exec(t *testing.T) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.path, r.args...)
	cmd.Env = append(os.Environ(), r.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: r.cred, Chroot: r.root, Setsid: r.setsid}
	if r.root != "" {
		cmd.Dir = "/"
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %v: %v", r.path, r.args, err)
	}
	return out.String(), 0
}

// ids returns the uid and gid of name in root's /etc/passwd, or ok false.
func ids(t *testing.T, root, name string) (uid, gid uint32, ok bool) {
	t.Helper()
	for _, l := range strings.Split(readFile(t, filepath.Join(root, "etc/passwd")), "\n") {
		f := strings.Split(l, ":")
		if len(f) == 7 && f[0] == name {
			u, _ := strconv.Atoi(f[2])
			g, _ := strconv.Atoi(f[3])
			return uint32(u), uint32(g), true
		}
	}
	return 0, 0, false
}

// entry is an installed path with its expected mode and owner.
type entry struct {
	path     string
	mode     fs.FileMode
	uid, gid uint32
}

func checkEntries(t *testing.T, root string, want []entry) {
	t.Helper()
	for _, e := range want {
		fi, err := os.Lstat(filepath.Join(root, e.path))
		if err != nil {
			t.Errorf("%s: %v", e.path, err)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm() != e.mode || st.Uid != e.uid || st.Gid != e.gid {
			t.Errorf("%s: mode %o owner %d:%d, want %o %d:%d", e.path, fi.Mode().Perm(), st.Uid, st.Gid, e.mode, e.uid, e.gid)
		}
	}
}

func checkAbsent(t *testing.T, root string, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Lstat(filepath.Join(root, p)); !os.IsNotExist(err) {
			t.Errorf("%s: still there (%v)", p, err)
		}
	}
}

func mustContain(t *testing.T, what, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("%s: output lacks %q:\n%s", what, w, out)
		}
	}
}

// setKeys rewrites "key = value" lines of a TOML file by "section.key".
func setKeys(t *testing.T, conf string, keys map[string]string) string {
	t.Helper()
	seen := map[string]bool{}
	sect := ""
	lines := strings.Split(conf, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "[") {
			sect = strings.Trim(l, "[]") + "."
			continue
		}
		k, _, ok := strings.Cut(l, " = ")
		if v, want := keys[sect+k]; ok && want {
			lines[i] = k + " = " + v
			seen[sect+k] = true
		}
	}
	for k := range keys {
		if !seen[k] {
			t.Fatalf("config has no key %s", k)
		}
	}
	return strings.Join(lines, "\n")
}

// appliance is teamtalkd started from the installed layout, inside the root, as teamtalk.
type appliance struct {
	cmd  *exec.Cmd
	logs *bytes.Buffer
	done chan error
}

func start(t *testing.T, root string, uid, gid uint32) *appliance {
	t.Helper()
	a := &appliance{logs: &bytes.Buffer{}, done: make(chan error, 1)}
	// As the unit runs it: ExecStart, User/Group, RuntimeDirectory, no NOTIFY_SOCKET.
	a.cmd = &exec.Cmd{
		Path: prefix + "/bin/teamtalkd",
		Args: []string{"teamtalkd", "-config", "/etc/teamtalk/teamtalkd.toml"},
		Dir:  "/",
		Env:  []string{"RUNTIME_DIRECTORY=/run/teamtalk", "PATH=/usr/bin:/bin"},
		SysProcAttr: &syscall.SysProcAttr{
			Chroot:     root,
			Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}},
			Setpgid:    true,
		},
		Stdout: a.logs,
		Stderr: a.logs,
	}
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("start teamtalkd: %v", err)
	}
	go func() { a.done <- a.cmd.Wait() }()
	t.Cleanup(func() {
		if a.cmd.ProcessState == nil {
			a.cmd.Process.Kill()
			<-a.done
		}
	})
	return a
}

// stop sends SIGTERM and requires a clean exit.
func (a *appliance) stop(t *testing.T) {
	t.Helper()
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-a.done:
		a.done <- err
		if err != nil {
			t.Fatalf("teamtalkd exit after SIGTERM: %v; logs:\n%s", err, a.logs)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("teamtalkd did not exit after SIGTERM; logs:\n%s", a.logs)
	}
}

// status runs the installed ttctl inside the root as a member of the teamtalk
// group, on its default socket (/run/teamtalk/teamtalkd.sock), until teamtalkd is ready.
func (a *appliance) status(t *testing.T, root string, gid uint32) ctlapi.Status {
	t.Helper()
	ttctl := run{path: prefix + "/bin/ttctl", args: []string{"-json", "status"}, root: root,
		cred: &syscall.Credential{Uid: member, Gid: member, Groups: []uint32{gid}}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, code := ttctl.exec(t)
		var st ctlapi.Status
		if code == 0 {
			if err := json.Unmarshal([]byte(out), &st); err != nil {
				t.Fatalf("ttctl -json status: %v\n%s", err, out)
			}
			if st.Ready {
				return st
			}
		}
		select {
		case err := <-a.done:
			a.done <- err
			t.Fatalf("teamtalkd exited (%v); logs:\n%s", err, a.logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("teamtalkd not ready: ttctl exit %d: %s\nlogs:\n%s", code, out, a.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestLifecycle drives the operator's path on a fresh root filesystem: install from
// the tarball, run teamtalkd from the installed layout, upgrade (keeping config and
// data), the refusals, then uninstall and purge.
//
// It runs twice: with systemd-sysusers creating the user, and with it hidden from
// PATH, as on a box without systemd, where install.sh falls back to useradd.
func TestLifecycle(t *testing.T) {
	need(t, true, "make", "tar", "sha256sum", "shellcheck", "systemd-analyze", "systemd-sysusers", "useradd", "go")
	dir := tempDir(t)
	v1 := tarball(t, filepath.Join(dir, "v1"), "v0.0.1-test")
	v2 := tarball(t, filepath.Join(dir, "v2"), "v0.0.2-test")
	for _, tc := range []struct{ name, hide string }{
		{name: "systemd-sysusers"},
		{name: "useradd", hide: "systemd-sysusers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tempDir(t)
			var env []string
			if tc.hide != "" {
				env = []string{"PATH=" + pathWithout(t, dir, tc.hide)}
			}
			lifecycle(t, dir, v1, v2, env)
		})
	}
}

// pathWithout returns a PATH of one directory holding links to every program on
// the current PATH except hide.
func pathWithout(t *testing.T, dir, hide string) string {
	t.Helper()
	bin := filepath.Join(dir, "path")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if e.Name() == hide {
				continue
			}
			os.Symlink(filepath.Join(d, e.Name()), filepath.Join(bin, e.Name())) // the first on PATH wins
		}
	}
	if _, err := os.Lstat(filepath.Join(bin, hide)); !os.IsNotExist(err) {
		t.Fatalf("%s still on the PATH", hide)
	}
	return bin
}

func lifecycle(t *testing.T, dir, v1, v2 string, env []string) {
	root := newRoot(t, dir)
	install := func(pkg string, args ...string) run {
		return run{path: filepath.Join(pkg, "install.sh"), args: append([]string{"--root", root, "--prefix", prefix}, args...), env: env}
	}
	conf := filepath.Join(root, "etc/teamtalk/teamtalkd.toml")
	teamtalkd := filepath.Join(root, prefix, "bin/teamtalkd")

	out, code := install(v1).exec(t)
	if code != 0 {
		t.Fatalf("install: exit %d\n%s", code, out)
	}
	mustContain(t, "install", out, "created the system user and group teamtalk", "wrote the config /etc/teamtalk/teamtalkd.toml",
		"systemd is not running here", prefix+"/bin/ttctl status")
	// systemd-sysusers says so when it creates the user; useradd is silent.
	if bySysusers := strings.Contains(out, "Creating user 'teamtalk'"); bySysusers != (env == nil) {
		t.Errorf("user created by systemd-sysusers: %v, want %v:\n%s", bySysusers, env == nil, out)
	}
	uid, gid, ok := ids(t, root, "teamtalk")
	if !ok || uid == 0 || gid == 0 {
		t.Fatalf("no teamtalk system user in %s/etc/passwd:\n%s", root, readFile(t, filepath.Join(root, "etc/passwd")))
	}
	if !regexp.MustCompile(`(?m)^teamtalk:x:\d+:\d+:[^:]*:/var/lib/teamtalk:/usr/sbin/nologin$`).MatchString(readFile(t, filepath.Join(root, "etc/passwd"))) ||
		!regexp.MustCompile(`(?m)^teamtalk:x:`+strconv.Itoa(int(gid))+`:`).MatchString(readFile(t, filepath.Join(root, "etc/group"))) {
		t.Errorf("teamtalk user or group entry wrong:\n%s\n%s", readFile(t, filepath.Join(root, "etc/passwd")), readFile(t, filepath.Join(root, "etc/group")))
	}
	installed := []entry{
		{prefix + "/bin/teamtalkd", 0o755, 0, 0},
		{prefix + "/bin/ttctl", 0o755, 0, 0},
		{prefix + "/bin/teamtalk-uninstall.sh", 0o755, 0, 0},
		{prefix + "/share/teamtalk/install.sh", 0o755, 0, 0},
		{prefix + "/share/teamtalk/teamtalkd.example.toml", 0o644, 0, 0},
		{"etc/systemd/system/teamtalkd.service", 0o644, 0, 0},
		{"etc/sysusers.d/teamtalk.conf", 0o644, 0, 0},
		{"etc/tmpfiles.d/teamtalk.conf", 0o644, 0, 0},
	}
	checkEntries(t, root, append(installed,
		entry{"etc/teamtalk", 0o750, 0, gid},
		entry{"etc/teamtalk/teamtalkd.toml", 0o640, 0, gid},
		entry{"var/lib/teamtalk", 0o750, uid, gid},
		entry{"run/teamtalk", 0o750, uid, gid},
	))
	checkAbsent(t, root, "etc/systemd/system/teamtalkd.service.d")
	example := readFile(t, filepath.Join(v1, "teamtalkd.example.toml"))
	if want := strings.Replace(example, `data_dir = "./var"`, `data_dir = "/var/lib/teamtalk"`, 1); readFile(t, conf) != want || want == example {
		t.Errorf("installed config is not the example with data_dir = /var/lib/teamtalk:\n%s", readFile(t, conf))
	}
	unit := readFile(t, filepath.Join(root, "etc/systemd/system/teamtalkd.service"))
	mustContain(t, "unit", unit, "\nExecStart="+prefix+"/bin/teamtalkd -config /etc/teamtalk/teamtalkd.toml\n",
		"\nType=notify\n", "\nRestart=on-failure\n", "\nUser=teamtalk\n", "\nRuntimeDirectory=teamtalk\n",
		"\nStateDirectory=teamtalk\n", "\nLimitNOFILE=1048576\n", "\nNoNewPrivileges=yes\n", "\nProtectSystem=strict\n",
		"\nRestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n", "\nSystemCallFilter=@system-service\n", "\nWantedBy=multi-user.target\n")
	if strings.Contains(unit, "/usr/local/bin") {
		t.Errorf("unit still names /usr/local/bin:\n%s", unit)
	}
	// The installed unit verifies with its ExecStart pointing at the installed binary.
	verifyUnit(t, strings.Replace(unit, "ExecStart="+prefix, "ExecStart="+filepath.Join(root, prefix), 1), "")
	if out, err := exec.Command("shellcheck", filepath.Join(root, prefix, "bin/teamtalk-uninstall.sh")).CombinedOutput(); err != nil {
		t.Errorf("shellcheck teamtalk-uninstall.sh: %v\n%s", err, out)
	}

	// The operator edits the config: every listener on a kernel-picked port, peers by name.
	edited := setKeys(t, readFile(t, conf), zeroPorts())
	writeFile(t, conf, edited, 0o640)

	a := start(t, root, uid, gid)
	st := a.status(t, root, gid)
	if st.Version != "v0.0.1-test" || st.DataDir != "/var/lib/teamtalk" || st.ConfigFile != "/etc/teamtalk/teamtalkd.toml" || st.Socket != "/run/teamtalk/teamtalkd.sock" {
		t.Errorf("status: version %q data %q config %q socket %q", st.Version, st.DataDir, st.ConfigFile, st.Socket)
	}
	checkEntries(t, root, []entry{
		{"run/teamtalk/teamtalkd.sock", 0o660 | 0, uid, gid},
		{"var/lib/teamtalk/appliance.db", 0o600, uid, gid},
	})
	// Without the teamtalk group the socket is closed to a local user.
	if out, code := (run{path: prefix + "/bin/ttctl", args: []string{"status"}, root: root,
		cred: &syscall.Credential{Uid: stranger, Gid: stranger, Groups: []uint32{}}}).exec(t); code == 0 {
		t.Errorf("ttctl status as a user outside group teamtalk succeeded:\n%s", out)
	}
	// An admin command writes the IM store in the data dir as the teamtalk user.
	ttctl := func(args ...string) string {
		t.Helper()
		out, code := run{path: prefix + "/bin/ttctl", args: args, root: root,
			cred: &syscall.Credential{Uid: member, Gid: member, Groups: []uint32{gid}}}.exec(t)
		if code != 0 {
			t.Fatalf("ttctl %v: exit %d\n%s\nlogs:\n%s", args, code, out, a.logs)
		}
		return out
	}
	ttctl("user", "add", "alice", "-password", "secret")
	checkEntries(t, root, []entry{{"var/lib/teamtalk/im.db", 0o600, uid, gid}})
	clientLogin(t, a.status(t, root, gid), "alice", "secret")
	writeFile(t, filepath.Join(root, "var/lib/teamtalk/marker"), "kept", 0o640)
	dataBefore := fileHash(t, filepath.Join(root, "var/lib/teamtalk/marker"))
	confBefore := readFile(t, conf)

	// Upgrade while it runs: binaries replaced, config and data kept, no second user.
	out, code = install(v2).exec(t)
	if code != 0 {
		t.Fatalf("upgrade: exit %d\n%s", code, out)
	}
	mustContain(t, "upgrade", out, "keeping the config", "teamtalkd is running the old version: restart it")
	if strings.Contains(out, "created the system user") {
		t.Errorf("upgrade created the user again:\n%s", out)
	}
	if got := readFile(t, conf); got != confBefore {
		t.Errorf("upgrade changed the config:\n%s", got)
	}
	if fileHash(t, filepath.Join(root, "var/lib/teamtalk/marker")) != dataBefore {
		t.Error("upgrade changed the data")
	}
	if n := strings.Count(readFile(t, filepath.Join(root, "etc/passwd")), "\nteamtalk:"); n != 1 {
		t.Errorf("%d teamtalk entries in passwd", n)
	}
	if st := a.status(t, root, gid); st.Version != "v0.0.1-test" {
		t.Errorf("running teamtalkd changed under the upgrade: %q", st.Version)
	}
	a.stop(t)
	if _, err := os.Stat(filepath.Join(root, "run/teamtalk/teamtalkd.sock")); !os.IsNotExist(err) {
		t.Errorf("control socket left behind: %v", err)
	}
	a = start(t, root, uid, gid)
	if st := a.status(t, root, gid); st.Version != "v0.0.2-test" {
		t.Errorf("after the upgrade teamtalkd is %q", st.Version)
	}
	if out := ttctl("user", "list"); !strings.Contains(out, "alice") {
		t.Errorf("the user added before the upgrade is gone:\n%s", out)
	}
	a.stop(t)
	checkEntries(t, root, append(installed, entry{"etc/teamtalk/teamtalkd.toml", 0o640, 0, gid}, entry{"var/lib/teamtalk", 0o750, uid, gid}))

	// The refusals leave the installation as it is.
	binBefore := fileHash(t, teamtalkd)
	shim := filepath.Join(dir, "shim")
	writeFile(t, filepath.Join(shim, "uname"), "#!/bin/sh\necho mips64\n", 0o755)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().String()
	refusals := []struct {
		name   string
		r      run
		config string // written to the config for this case, restored after
		code   int
		want   []string
	}{
		{name: "not root", r: run{path: filepath.Join(v2, "install.sh"), env: env, cred: &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}},
			code: 1, want: []string{"must be run as root"}},
		{name: "unknown option", r: install(v2, "--frobnicate"), code: 1, want: []string{"unknown option --frobnicate"}},
		{name: "unsupported architecture", r: withEnv(install(v2), "PATH="+shim+":"+os.Getenv("PATH")), code: 1,
			want: []string{"unsupported architecture mips64"}},
		{name: "config that does not parse", r: install(v1), config: "bogus_key = 1\n" + edited, code: 1,
			want: []string{"does not pass teamtalkd -check-config", "bogus_key", "nothing was changed"}},
		{name: "port already taken", r: install(v2),
			config: setKeys(t, edited, map[string]string{"metrics.listen": strconv.Quote(taken)}),
			code:   0, want: []string{taken + " (port " + taken[strings.LastIndex(taken, ":")+1:] + " is already in use)"}},
		{name: "purge without a terminal or --yes", r: func() run { r := install(v2, "--purge"); r.setsid = true; return r }(),
			code: 1, want: []string{"add --yes"}},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			if tc.config != "" {
				writeFile(t, conf, tc.config, 0o640)
				defer writeFile(t, conf, edited, 0o640)
			}
			out, code := tc.r.exec(t)
			if code != tc.code {
				t.Errorf("exit %d, want %d:\n%s", code, tc.code, out)
			}
			mustContain(t, tc.name, out, tc.want...)
			if fileHash(t, teamtalkd) != binBefore {
				t.Error("teamtalkd was replaced")
			}
			if tc.config != "" && readFile(t, conf) != tc.config {
				t.Error("the config was changed")
			}
			checkEntries(t, root, []entry{{"var/lib/teamtalk", 0o750, uid, gid}, {"var/lib/teamtalk/marker", 0o640, 0, 0}})
		})
	}

	// Uninstall with the generated script: config, data and the user stay.
	out, code = run{path: filepath.Join(root, prefix, "bin/teamtalk-uninstall.sh"), env: append([]string{"INSTALL_ROOT=" + root}, env...)}.exec(t)
	if code != 0 {
		t.Fatalf("uninstall: exit %d\n%s", code, out)
	}
	mustContain(t, "uninstall", out, "kept /etc/teamtalk and /var/lib/teamtalk")
	for _, e := range installed {
		checkAbsent(t, root, e.path)
	}
	checkAbsent(t, root, prefix+"/share/teamtalk")
	checkEntries(t, root, []entry{{"etc/teamtalk/teamtalkd.toml", 0o640, 0, gid}, {"var/lib/teamtalk/marker", 0o640, 0, 0}})
	if _, _, ok := ids(t, root, "teamtalk"); !ok {
		t.Error("uninstall removed the teamtalk user")
	}

	// Purge: data, config and the user go.
	out, code = install(v2, "--purge", "--yes").exec(t)
	if code != 0 {
		t.Fatalf("purge: exit %d\n%s", code, out)
	}
	mustContain(t, "purge", out, "purged teamtalk")
	checkAbsent(t, root, "var/lib/teamtalk", "etc/teamtalk", "run/teamtalk")
	if _, _, ok := ids(t, root, "teamtalk"); ok || strings.Contains(readFile(t, filepath.Join(root, "etc/group")), "\nteamtalk:") {
		t.Error("purge left the teamtalk user or group")
	}
}

func withEnv(r run, env ...string) run {
	r.env = append(r.env, env...)
	return r
}

// TestStaging installs as an unprivileged user into a tree (--root --no-user) with the
// default prefix, and checks the bind capability drop-in follows the configured ports.
func TestStaging(t *testing.T) {
	need(t, true, "make", "tar", "sha256sum", "systemd-analyze", "go")
	dir := tempDir(t)
	pkg := tarball(t, filepath.Join(dir, "v"), "v0.0.3-test")
	root := filepath.Join(dir, "stage")
	conf := filepath.Join(root, "etc/teamtalk/teamtalkd.toml")
	dropin := "etc/systemd/system/teamtalkd.service.d/10-bind.conf"
	cases := []struct {
		name   string
		config string // the operator's config, present before the install; empty: none
		bind   bool
	}{
		{name: "fresh", bind: false},
		{name: "port 80", config: "services = [\"login\"]\n[login]\nhttp_listen = \"0.0.0.0:80\"\n", bind: true},
		{name: "port 8080 again", config: "services = [\"login\"]\n[login]\nhttp_listen = \"0.0.0.0:8080\"\n", bind: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.MkdirAll(root, 0o755); err != nil {
				t.Fatal(err)
			}
			if tc.config != "" {
				writeFile(t, conf, tc.config, 0o640)
			}
			if out, err := exec.Command("chown", "-R", fmt.Sprintf("%d:%d", nobody, nobody), root).CombinedOutput(); err != nil {
				t.Fatalf("chown: %v %s", err, out)
			}
			out, code := run{path: filepath.Join(pkg, "install.sh"), args: []string{"--root", root, "--no-user"},
				cred: &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}}.exec(t)
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, out)
			}
			checkEntries(t, root, []entry{
				{"usr/local/bin/teamtalkd", 0o755, nobody, nobody},
				{"etc/teamtalk/teamtalkd.toml", 0o640, nobody, nobody},
				{"var/lib/teamtalk", 0o750, nobody, nobody},
			})
			checkAbsent(t, root, "etc/passwd")
			mustContain(t, "unit", readFile(t, filepath.Join(root, "etc/systemd/system/teamtalkd.service")),
				"\nExecStart=/usr/local/bin/teamtalkd -config /etc/teamtalk/teamtalkd.toml\n")
			if tc.config != "" && readFile(t, conf) != tc.config {
				t.Errorf("config replaced:\n%s", readFile(t, conf))
			}
			if _, err := os.Stat(filepath.Join(root, dropin)); (err == nil) != tc.bind {
				t.Errorf("10-bind.conf present %v, want %v", err == nil, tc.bind)
			}
			if tc.bind {
				d := readFile(t, filepath.Join(root, dropin))
				mustContain(t, "drop-in", d, "\nAmbientCapabilities=CAP_NET_BIND_SERVICE\n", "\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\n")
				unit := readFile(t, filepath.Join(root, "etc/systemd/system/teamtalkd.service"))
				verifyUnit(t, strings.Replace(unit, "ExecStart=/usr/local/bin/teamtalkd", "ExecStart="+filepath.Join(root, "usr/local/bin/teamtalkd"), 1), d)
			}
		})
	}
}

// verifyUnit runs systemd-analyze verify on a unit's text and, if not empty, the
// text of its drop-in 10-bind.conf; any complaint fails the test.
func verifyUnit(t *testing.T, unit, dropin string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "teamtalkd.service")
	writeFile(t, path, unit, 0o644)
	if dropin != "" {
		writeFile(t, filepath.Join(dir, "teamtalkd.service.d/10-bind.conf"), dropin, 0o644)
	}
	cmd := exec.Command("systemd-analyze", "verify", path)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SYSTEMD_UNIT_PATH="+dir+":") // the trailing ':' keeps the system paths
	out, err := cmd.CombinedOutput()
	if err != nil || strings.Contains(string(out), "teamtalkd.service") {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestUnitVerify checks systemd/teamtalkd.service with systemd-analyze, its
// ExecStart pointed at a freshly built teamtalkd.
func TestUnitVerify(t *testing.T) {
	need(t, false, "systemd-analyze", "go")
	bin := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", bin+"/", "teamtalk/cmd/teamtalkd").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	unit := readFile(t, filepath.Join(repoRoot(t), "systemd/teamtalkd.service"))
	if !strings.Contains(unit, "\nExecStart=/usr/local/bin/teamtalkd ") {
		t.Fatal("install.sh rewrites ExecStart=/usr/local/bin/teamtalkd: the unit must keep that path")
	}
	verifyUnit(t, strings.Replace(unit, "/usr/local/bin/teamtalkd", filepath.Join(bin, "teamtalkd"), 1), "")
}

// TestShellcheck runs shellcheck on install.sh.
func TestShellcheck(t *testing.T) {
	need(t, false, "shellcheck")
	out, err := exec.Command("shellcheck", filepath.Join(repoRoot(t), "install.sh")).CombinedOutput()
	if err != nil {
		t.Fatalf("shellcheck install.sh: %v\n%s", err, out)
	}
}

// clientLogin logs a TeamTalk client in to the installed appliance the way a
// real one does: the login server's HTTP answer names the msg server.
func clientLogin(t *testing.T, st ctlapi.Status, name, password string) {
	t.Helper()
	httpAddr, ok := st.Addresses["login.http_listen"]
	if !ok {
		t.Fatalf("no login.http_listen in the status: %v", st.Addresses)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	info, err := client.Resolve(ctx, "http://"+httpAddr+"/msg_server")
	if err != nil {
		t.Fatalf("login server: %v", err)
	}
	c, err := client.Dial(ctx, info.Addr(), client.Options{DropEvents: true})
	if err != nil {
		t.Fatalf("dial the msg server %s: %v", info.Addr(), err)
	}
	defer c.Close()
	if _, err := c.Login(ctx, name, password); err != nil {
		t.Fatalf("client login as %s: %v", name, err)
	}
}
