package builtin_test

import (
	"testing"

	"teamtalk/appliance"
	"teamtalk/appliance/config"
	"teamtalk/daemons"
	"teamtalk/daemons/builtin"
	"teamtalk/daemons/dbproxy"
)

var _ appliance.NetStatser = (*dbproxy.Service)(nil)

// Every netloop service built in exposes its group's statistics to /metrics.
func TestNetStatsers(t *testing.T) {
	for _, kind := range []string{config.DBProxy, config.Route, config.Login, config.Msg} {
		c, ok := builtin.Table()[kind]
		if !ok {
			t.Errorf("%s not built in", kind)
			continue
		}
		svc, err := c(daemons.Deps{Name: kind, Kind: kind, Config: config.Default(), Addrs: &daemons.AddressBook{}, Store: nil})
		if err != nil {
			if kind == config.DBProxy {
				continue // needs a store; the assertion above covers it
			}
			t.Fatalf("%s: %v", kind, err)
		}
		if _, ok := svc.(appliance.NetStatser); !ok {
			t.Errorf("%s does not implement appliance.NetStatser", kind)
		}
	}
}
