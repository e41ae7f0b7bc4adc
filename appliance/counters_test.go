package appliance

import (
	"context"
	"testing"

	"teamtalk/appliance/ctlapi"
)

// countingService is a daemons.Service that is also a CounterSource and
// counts how often its Status was built.
type countingService struct {
	statuses int
	counters map[string]uint64
	panics   bool
}

func (c *countingService) Name() string { return "msg" }
func (c *countingService) Run(ctx context.Context, ready func()) error {
	ready()
	<-ctx.Done()
	return nil
}
func (c *countingService) Status() ctlapi.ServiceStatus {
	c.statuses++
	return ctlapi.ServiceStatus{Counters: map[string]uint64{ctlapi.CounterMsgs: 999}}
}
func (c *countingService) Counters() map[string]uint64 {
	if c.panics {
		panic("counters")
	}
	return c.counters
}

// TestSafeCounters: a CounterSource's counters are read without building
// its Status (the 1-second sampler's garbage at 10,000 connections), and a
// panic there yields no counters instead of taking the supervisor down.
func TestSafeCounters(t *testing.T) {
	svc := &countingService{counters: map[string]uint64{ctlapi.CounterMsgs: 7}}
	if c := safeCounters(svc); c[ctlapi.CounterMsgs] != 7 || svc.statuses != 0 {
		t.Errorf("counters %v after %d Status calls, want msgs 7 and none", c, svc.statuses)
	}
	svc.panics = true
	if c := safeCounters(svc); c != nil {
		t.Errorf("counters %v from a panicking Counters, want nil", c)
	}
}
