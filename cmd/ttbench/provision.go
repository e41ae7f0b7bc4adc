package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"teamtalk/state"
	"teamtalk/state/boltstore"
)

// importRow and importReq are the JSON of POST /v1/users/import (the
// control API's UserImport).
type importRow struct {
	Line int    `json:"line"`
	Name string `json:"name"`
	Nick string `json:"nick,omitempty"`
}

type importReq struct {
	Password string      `json:"password"`
	Rows     []importRow `json:"rows"`
}

type importRes struct {
	Added   int    `json:"added"`
	FirstID uint32 `json:"first_id"`
	LastID  uint32 `json:"last_id"`
}

const importPath = "/v1/users/import"

// runProvision creates users PREFIX1..PREFIXN with one password, through
// the control API of a running teamtalkd (-socket) or straight into the
// im.db of a stopped one (-data).
func runProvision(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ttbench provision", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 1000, "number of users")
	from := fs.Int("from", 1, "number of the first user")
	prefix := fs.String("prefix", "bench", "user name prefix")
	password := fs.String("password", "bench", "password of every user")
	socket := fs.String("socket", "", "control socket of a running teamtalkd (POST "+importPath+")")
	data := fs.String("data", "", "data directory of a STOPPED teamtalkd: write DATA/im.db directly")
	batch := fs.Int("batch", 5000, "users per import request (each is one transaction)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if (*socket == "") == (*data == "") {
		fmt.Fprintln(stderr, "ttbench provision: give exactly one of -socket or -data")
		return errUsage
	}
	if *n < 1 || *batch < 1 || *from < 1 {
		fmt.Fprintln(stderr, "ttbench provision: -n, -from and -batch must be positive")
		return errUsage
	}
	start := time.Now()
	var (
		added       int
		first, last uint32
	)
	for lo := *from; lo < *from+*n; lo += *batch {
		hi := min(lo+*batch, *from+*n)
		var (
			res importRes
			err error
		)
		if *socket != "" {
			res, err = importViaAPI(ctx, *socket, *prefix, *password, lo, hi)
		} else {
			res, err = importIntoStore(ctx, filepath.Join(*data, "im.db"), *prefix, *password, lo, hi)
		}
		if err != nil {
			return fmt.Errorf("provision %s%d..%s%d: %w", *prefix, lo, *prefix, hi-1, err)
		}
		if first == 0 {
			first = res.FirstID
		}
		last = res.LastID
		added += res.Added
	}
	fmt.Fprintf(stdout, "provisioned %d users %s%d..%s%d (ids %d..%d, password %q) in %.2fs\n",
		added, *prefix, *from, *prefix, *from+*n-1, first, last, *password, time.Since(start).Seconds())
	return nil
}

// importViaAPI posts one batch to the control API.
func importViaAPI(ctx context.Context, socket, prefix, password string, lo, hi int) (importRes, error) {
	req := importReq{Password: password}
	for i := lo; i < hi; i++ {
		req.Rows = append(req.Rows, importRow{Line: i - lo + 1, Name: fmt.Sprintf("%s%d", prefix, i)})
	}
	body, err := json.Marshal(req)
	if err != nil {
		return importRes{}, err
	}
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
	defer hc.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://teamtalkd"+importPath, bytes.NewReader(body))
	if err != nil {
		return importRes{}, err
	}
	hr.Header.Set("Content-Type", "application/json")
	rsp, err := hc.Do(hr)
	if err != nil {
		return importRes{}, fmt.Errorf("control API %s: %w", socket, err)
	}
	defer rsp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(rsp.Body, 1<<20))
	if err != nil {
		return importRes{}, fmt.Errorf("control API %s: read: %w", socket, err)
	}
	if rsp.StatusCode != http.StatusOK && rsp.StatusCode != http.StatusCreated {
		var e struct {
			Error string `json:"error"`
		}
		json.Unmarshal(rb, &e)
		if e.Error == "" {
			e.Error = string(bytes.TrimSpace(rb))
		}
		hint := ""
		if rsp.StatusCode == http.StatusNotFound {
			hint = " (this teamtalkd has no user import endpoint: stop it and use -data DIR)"
		}
		return importRes{}, fmt.Errorf("POST %s: %s: %s%s", importPath, rsp.Status, e.Error, hint)
	}
	var res importRes
	if err := json.Unmarshal(rb, &res); err != nil {
		return importRes{}, fmt.Errorf("POST %s: bad reply %q: %w", importPath, rb, err)
	}
	return res, nil
}

// importIntoStore writes one batch into the bolt file at path, which no
// running teamtalkd may hold: bbolt's lock is checked first so a held file
// is an error rather than a wait.
func importIntoStore(ctx context.Context, path, prefix, password string, lo, hi int) (importRes, error) {
	if err := checkUnlocked(path); err != nil {
		return importRes{}, err
	}
	st, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		return importRes{}, fmt.Errorf("open %s: %w", path, err)
	}
	defer st.Close()
	us := make([]state.NewUser, 0, hi-lo)
	for i := lo; i < hi; i++ {
		name := fmt.Sprintf("%s%d", prefix, i)
		us = append(us, state.NewUser{Name: name, Password: password, Nick: name})
	}
	got, err := st.ImportUsers(ctx, us)
	if err != nil {
		return importRes{}, fmt.Errorf("import: %w", err)
	}
	res := importRes{Added: len(got)}
	if len(got) > 0 {
		res.FirstID, res.LastID = got[0].ID, got[len(got)-1].ID
	}
	return res, nil
}

// checkUnlocked fails when another process holds bbolt's flock on path.
func checkUnlocked(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return fmt.Errorf("%s is locked (is teamtalkd running on it? stop it, or use -socket): %w", path, err)
	}
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
