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
	anon, file, err := rssParts(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	total, err := rssKB(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if anon == 0 || file == 0 {
		t.Errorf("RssAnon %d KiB, RssFile %d KiB: want both non-zero for a running Go test", anon, file)
	}
	if anon+file > total+1024 { // RssShmem is the third part; read at another moment
		t.Errorf("RssAnon %d + RssFile %d KiB > VmRSS %d KiB", anon, file, total)
	}
	if _, _, err := rssParts(-1); err == nil {
		t.Error("rssParts(-1): no error")
	}
}
