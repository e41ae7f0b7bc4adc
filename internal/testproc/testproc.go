// Package testproc is for tests that run the project's own programs: Main
// builds them once per test binary (not once per test) and removes them
// afterwards, and Buffer collects a running program's output so the test can
// read it while exec's copying goroutine still writes.
package testproc

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// Main is a TestMain body: it builds pkgs (import paths, e.g.
// "teamtalk/cmd/teamtalkd") into a fresh temporary directory, stores that
// directory in *dir, runs the tests, calls each of after, removes the
// directory and exits with the tests' code. A build failure exits 1 with
// the compiler's output.
func Main(m *testing.M, dir *string, pkgs []string, after ...func()) {
	d, err := os.MkdirTemp("", "teamtalk-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	args := append([]string{"build", "-o", d + "/"}, pkgs...)
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build %v: %v\n%s", pkgs, err, out)
		os.RemoveAll(d)
		os.Exit(1)
	}
	*dir = d
	code := m.Run()
	for _, f := range after {
		f()
	}
	os.RemoveAll(d)
	os.Exit(code)
}

// Buffer is a bytes.Buffer safe for one writer (exec's output copier) and
// readers at the same time. The zero value is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
