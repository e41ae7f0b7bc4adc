package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"teamtalk/appliance/ctlapi"
	"teamtalk/appliance/ctlclient"
	"teamtalk/state"
	"teamtalk/state/boltstore"
)

// importRes is what one batch created.
type importRes = ctlapi.ImportResult

const importPath = ctlapi.PathUserImport

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
	req := ctlapi.UserImport{Password: password}
	for i := lo; i < hi; i++ {
		req.Rows = append(req.Rows, ctlapi.ImportRow{Line: i - lo + 1, Name: fmt.Sprintf("%s%d", prefix, i)})
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	c := &ctlclient.Client{Socket: socket}
	res, err := c.ImportUsers(ctx, req)
	if err != nil {
		return res, fmt.Errorf("POST %s on %s: %w", importPath, socket, err)
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
