package main

import (
	"os"
	"testing"
)

func TestPerConn(t *testing.T) {
	for _, tc := range []struct {
		before, after, conns uint64
		want                 float64
	}{
		{1000, 2000, 1024, 1000},
		{2000, 1000, 1024, -1000}, // the server shrank: reported as such
		{5, 5, 10, 0},
	} {
		if got := perConn(tc.before, tc.after, tc.conns); got != tc.want {
			t.Errorf("perConn(%d, %d, %d) = %g, want %g", tc.before, tc.after, tc.conns, got, tc.want)
		}
	}
}

func TestRSSParts(t *testing.T) {
	total, anon, file, err := rssAll(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if kb, err := rssKB(os.Getpid()); err != nil || kb == 0 {
		t.Fatalf("rssKB: %d KiB, %v", kb, err)
	}
	if anon == 0 || file == 0 {
		t.Errorf("RssAnon %d KiB, RssFile %d KiB: want both non-zero for a running Go test", anon, file)
	}
	if anon+file > total+1024 { // RssShmem is the third part
		t.Errorf("RssAnon %d + RssFile %d KiB > VmRSS %d KiB", anon, file, total)
	}
	if _, _, _, err := rssAll(-1); err == nil {
		t.Error("rssAll(-1): no error")
	}
}

// TestIdleMarginal holds 16 connections in two halves against a teamtalkd and
// checks that the marginal section covers the second half and is read from
// the server's pid.
func TestIdleMarginal(t *testing.T) {
	sock := provisioned(t, 16)
	for _, tc := range []struct {
		name     string
		args     []string
		marginal bool
	}{
		{"whole run only", nil, false},
		{"marginal", []string{"-marginal"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"idle", "-socket", sock, "-n", "16", "-c", "4", "-heartbeat", "200ms", "-duration", "300ms"}, tc.args...)
			code, out, errb := ttbench(t, args...)
			if code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errb)
			}
			i := lastResult(t, out).Idle
			if i == nil || i.Alive != 16 || i.Conns != 16 {
				t.Fatalf("idle: %+v", i)
			}
			if i.RSSAnon.AfterKB == 0 || i.RSSFile.AfterKB == 0 || i.RSSAnon.BeforeKB == 0 {
				t.Errorf("anon/file split not read: %+v %+v", i.RSSAnon, i.RSSFile)
			}
			if m := i.Marginal; (m != nil) != tc.marginal {
				t.Fatalf("marginal section %+v, want present %v", m, tc.marginal)
			}
			if m := i.Marginal; m != nil && (m.Conns != 8 || m.MidKB == 0 || m.AnonMidKB == 0 || m.FileMidKB == 0) {
				t.Errorf("marginal: %+v, want 8 conns and the middle readings", *m)
			}
		})
	}
}
