// Package servicetest holds the test helpers of the services and their
// shared pieces: Start runs a daemons.Service for a test (it starts Run,
// waits for ready, and cancels Run and checks its result when the test
// ends); Eventually waits for a condition.
package servicetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"teamtalk/daemons"
)

// Wait bounds how long Start waits for ready, stop waits for Run to return
// and Eventually waits for its condition.
const Wait = 10 * time.Second

// Start runs svc until the test ends. It fails t when Run returns before
// calling ready or ready does not come within Wait. The stop it returns
// cancels Run and waits up to Wait for it to return, failing t when it
// returns an error or does not return; stop runs once however often it is
// called, and t.Cleanup calls it.
func Start(t testing.TB, svc daemons.Service) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	readyc, done := make(chan struct{}), make(chan error, 1)
	go func() { done <- svc.Run(ctx, func() { close(readyc) }) }()
	select {
	case <-readyc:
	case err := <-done:
		cancel()
		t.Fatalf("%s exited before ready: %v", svc.Name(), err)
	case <-time.After(Wait):
		cancel()
		t.Fatalf("%s not ready after %v", svc.Name(), Wait)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("%s: Run: %v", svc.Name(), err)
				}
			case <-time.After(Wait):
				t.Errorf("%s: Run did not return within %v of cancel", svc.Name(), Wait)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// Eventually polls cond every 5 ms until it holds, and fails t ("timed out
// waiting for what") when it does not within Wait.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
