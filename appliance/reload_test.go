package appliance

import (
	"slices"
	"testing"

	"teamtalk/appliance/appliancetest"
	"teamtalk/appliance/config"
	"teamtalk/daemons"
	"teamtalk/daemons/login"
	"teamtalk/daemons/msg"
)

// TestReloadReachesRunningMsg: the supervisor's reload path hands the live
// keys to a running real msg (daemons.Reloader), which reports its new
// msg.max_conns to the real login it is registered with at once.
func TestReloadReachesRunningMsg(t *testing.T) {
	fakes := &appliancetest.Fakes{}
	h := newHarness(t, fakes, func(o *Options) {
		o.Table = daemons.Table{config.Login: login.New, config.Msg: msg.New}
		o.Config.Msg.DBProxy, o.Config.Msg.Route, o.Config.Msg.File, o.Config.Msg.Push = nil, nil, nil, ""
		o.Instances = []Instance{{Name: "login", Kind: config.Login}, {Name: "msg", Kind: config.Msg}}
	})
	h.waitReady(t)
	maxConns := func() uint32 {
		ms, err := h.sup.MsgServers()
		if err != nil || len(ms) != 1 {
			return 0
		}
		return ms[0].MaxConns
	}
	eventually(t, "msg registered with login", func() bool { return maxConns() == 100000 })
	next := *h.sup.config()
	next.Msg.MaxConns = 1234
	next.Msg.MaxMsgsPerSecond = 3
	applied, restart := h.sup.Reload(&next)
	if !slices.Equal(applied, []string{"msg.max_conns", "msg.max_msgs_per_second"}) || len(restart) != 0 {
		t.Fatalf("applied %v, needs restart %v", applied, restart)
	}
	eventually(t, "login sees the reloaded max_conns", func() bool { return maxConns() == 1234 })
}
