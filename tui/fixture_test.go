package tui

import (
	"time"

	"teamtalk/appliance/ctlapi"
)

// t0 is the fixed time of the test snapshots.
var t0 = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

// fixture returns the n-th snapshot (n from 0) of a small appliance: four
// services (route in backoff), two registrations (one silent, so stale), sockets whose
// byte counts grow by n, timers (one overdue), events and history.
func fixture(n int) ctlapi.Snapshot {
	now := t0.Add(time.Duration(n) * time.Second)
	up := t0.Add(-2*time.Hour - 3*time.Minute)
	u := uint64(n)
	svc := func(name string, state ctlapi.State, restarts int, errText string, since time.Time, c map[string]uint64) ctlapi.ServiceStatus {
		return ctlapi.ServiceStatus{Name: name, Kind: name, State: state, Since: since, Restarts: restarts, LastError: errText, Counters: c,
			Listen: map[string]string{"listen": "127.0.0.1:8000"}}
	}
	services := []ctlapi.ServiceStatus{
		svc("dbproxy", ctlapi.StateRunning, 0, "", up, map[string]uint64{"frames_in": 100 + 40*u, "frames_out": 100 + 40*u}),
		svc("route", ctlapi.StateBackoff, 3, "route: listen 127.0.0.1:8200: address already in use", now.Add(-2*time.Second), nil),
		svc("login", ctlapi.StateRunning, 0, "", up, map[string]uint64{"msg_servers": 2}),
		svc("msg", ctlapi.StateRunning, 1, "", t0.Add(-5*time.Minute), map[string]uint64{
			ctlapi.CounterMsgs: 1000 + 12*u, "msgs_delivered": 900 + 10*u*u, ctlapi.CounterOnline: 3, "slow_reader_closes": 2}),
	}
	st := ctlapi.Status{Version: "v0.3.0", PID: 4242, Started: up, Ready: true, ConfigFile: "/etc/teamtalk/teamtalkd.toml",
		DataDir: "/var/lib/teamtalk", Counters: ctlapi.CounterSample{Time: now, MsgsPerSec: 12, LoginsPerSec: 0.5, Online: 3}}
	for _, s := range services {
		st.Services = append(st.Services, ctlapi.ServiceSummary{Name: s.Name, Kind: s.Kind, State: s.State, Since: s.Since, Restarts: s.Restarts, LastError: s.LastError})
	}
	var hist []ctlapi.CounterSample
	for i := 0; i < 40; i++ {
		hist = append(hist, ctlapi.CounterSample{Time: now.Add(time.Duration(i-40) * time.Second),
			MsgsPerSec: float64((i * 7) % 20), LoginsPerSec: float64(i%5) / 2, Online: uint64(i / 10)})
	}
	return ctlapi.Snapshot{
		Time:     now,
		Status:   st,
		Services: services,
		MsgServers: []ctlapi.MsgServer{
			{Addr: "10.0.0.7:8000", IP1: "10.0.0.7", IP2: "10.0.0.7", Port: 8000, Hostname: "im-b", MaxConns: 100000, CurConns: 1,
				Login: "login", Registered: t0.Add(-3 * time.Hour), Updated: t0.Add(-10 * time.Minute), LastHeard: t0.Add(-10 * time.Minute)},
			{Addr: "127.0.0.1:8000", IP1: "127.0.0.1", IP2: "127.0.0.1", Port: 8000, Hostname: "im-a", MaxConns: 100000, CurConns: 3,
				Login: "login", Registered: up, Updated: now.Add(-4 * time.Second), LastHeard: now.Add(-time.Second)},
		},
		Sockets: []ctlapi.Socket{
			{Service: "msg", Loop: 0, ID: 1, Kind: "listen", Local: "127.0.0.1:8000"},
			{Service: "msg", Loop: 0, ID: 2, Kind: "client", Local: "127.0.0.1:8000", Remote: "127.0.0.1:50001", UserID: 1,
				BytesIn: 1000 + 2048*u, BytesOut: 5000 + 4096*u},
			{Service: "msg", Loop: 1, ID: 3, Kind: "client", Local: "127.0.0.1:8000", Remote: "127.0.0.1:50002", UserID: 2,
				BytesIn: 1000 + 100*u, BytesOut: 800, Queued: 65536},
			{Service: "msg", Loop: 1, ID: 4, Kind: "peer-out", Local: "127.0.0.1:40001", Remote: "127.0.0.1:10600",
				BytesIn: 20000 + 50000*u, BytesOut: 30000 + 60000*u},
			{Service: "dbproxy", Loop: 0, ID: 1, Kind: "listen", Local: "127.0.0.1:10600"},
			{Service: "dbproxy", Loop: 0, ID: 2, Kind: "peer-in", Local: "127.0.0.1:10600", Remote: "127.0.0.1:40001",
				BytesIn: 30000 + 60000*u, BytesOut: 20000 + 50000*u},
		},
		Timers: []ctlapi.Timer{
			{Service: "msg", Loop: 0, Name: "heartbeat-sweep", Interval: time.Second, Next: now.Add(400 * time.Millisecond), Fired: 7380},
			{Service: "msg", Loop: 0, Name: "login-report", Interval: 30 * time.Second, Next: now.Add(-5 * time.Second), Fired: 246},
			{Service: "dbproxy", Loop: 0, Name: "link-sweep", Interval: 5 * time.Second, Next: now.Add(3 * time.Second), Fired: 1476},
			{Service: "route", Loop: 0, Name: "restart", Next: now.Add(2 * time.Minute)},
		},
		Online: []ctlapi.OnlineUser{
			{UserID: 1, MsgServer: "msg", Clients: []ctlapi.Client{{Type: 1, Status: 1}, {Type: 17, Status: 1}}},
			{UserID: 2, MsgServer: "msg", Clients: []ctlapi.Client{{Type: 1, Status: 1}}},
			{UserID: 3, MsgServer: "msg", Clients: []ctlapi.Client{{Type: 18, Status: 1}}},
		},
		Events: []ctlapi.Event{
			{Seq: 1, Time: up, Kind: ctlapi.EventStarted, Message: "teamtalkd v0.3.0 started"},
			{Seq: 2, Time: up.Add(time.Second), Service: "msg", Kind: ctlapi.EventStarted, Message: "ready"},
			{Seq: 3, Time: t0.Add(-5 * time.Minute), Service: "msg", Kind: ctlapi.EventRestarted, Message: "restart requested by the control API"},
			{Seq: 4, Time: t0.Add(-90 * time.Second), Kind: ctlapi.EventWarning, Message: "msg server 10.0.0.7:8000 has not reported for 8m30s"},
			{Seq: 5, Time: now.Add(-3 * time.Second), Service: "route", Kind: ctlapi.EventFailed, Message: "listen 127.0.0.1:8200: address already in use"},
		},
		History: hist,
	}
}
