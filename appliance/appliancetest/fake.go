// Package appliancetest provides fake services for tests of the supervisor,
// the control API and ttctl: each listens on its configured address (port 0
// in tests), echoes what clients send, reports status, and can be told to fail
// at start, fail later or panic. Fakes reach the supervisor through a
// daemons.Table, the same constructor mechanism as the real services.
package appliancetest

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"teamtalk/appliance/config"
	"teamtalk/appliance/ctlapi"
	"teamtalk/daemons"
)

// Behavior says how the next runs of one instance misbehave.
type Behavior struct {
	CtorErr   error // the constructor fails with this
	StartErr  error // Run returns this before ready
	FailRuns  int   // this many runs (counting down) misbehave; 0: every run
	NeverDone bool  // Run ignores cancellation (tests the stop bound)
}

// Fakes builds and tracks fake services. Its zero value is ready to use.
type Fakes struct {
	mu        sync.Mutex
	behaviors map[string]*Behavior
	live      map[string]*Fake // instance → current run
	log       []string         // "start NAME", "stop NAME", in order
	runs      map[string]int
}

// Set gives an instance a behavior for its next runs.
func (f *Fakes) Set(name string, b Behavior) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.behaviors == nil {
		f.behaviors = map[string]*Behavior{}
	}
	f.behaviors[name] = &b
}

// Log returns the start/stop log so far.
func (f *Fakes) Log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

// Runs returns how many times the instance's Run was called.
func (f *Fakes) Runs(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.runs[name]
}

// Live returns the instance's current Fake, or nil.
func (f *Fakes) Live(name string) *Fake {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.live[name]
}

func (f *Fakes) note(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, s)
}

// take consumes one misbehaving run of name, if any.
func (f *Fakes) take(name string) *Behavior {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.behaviors[name]
	if b == nil {
		return nil
	}
	if b.FailRuns > 0 {
		b.FailRuns--
		if b.FailRuns == 0 {
			delete(f.behaviors, name)
		}
	}
	return b
}

// Table returns constructors of fakes for the given kinds (all eight when none).
func (f *Fakes) Table(kinds ...string) daemons.Table {
	if len(kinds) == 0 {
		kinds = config.ServiceNames()
	}
	t := daemons.Table{}
	for _, k := range kinds {
		t[k] = f.New
	}
	return t
}

// New is a daemons.Constructor for a fake.
func (f *Fakes) New(d daemons.Deps) (daemons.Service, error) {
	f.mu.Lock()
	b := f.behaviors[d.Name]
	f.mu.Unlock()
	if b != nil && b.CtorErr != nil {
		f.take(d.Name)
		return nil, b.CtorErr
	}
	fk := &Fake{f: f, d: d, panicc: make(chan string, 1), conns: map[net.Conn]time.Time{}}
	if d.Kind == config.Msg {
		return MsgFake{fk}, nil
	}
	return fk, nil
}

// MsgFake is a Fake of kind msg: it also implements daemons.Kicker.
type MsgFake struct{ *Fake }

// Fake is one fake service run.
type Fake struct {
	f      *Fakes
	d      daemons.Deps
	panicc chan string
	echoed atomic.Uint64

	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]time.Time
	listen map[string]string
}

// Name implements daemons.Service.
func (s *Fake) Name() string { return s.d.Name }

// Config returns the configuration this run was built with (Deps.Config).
func (s *Fake) Config() *config.Config { return s.d.Config }

// Panic makes Run panic with msg (a failure the supervisor must restart).
func (s *Fake) Panic(msg string) { s.panicc <- msg }

// Addr returns the bound address of its first listen key.
func (s *Fake) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Run implements daemons.Service: listen, publish, ready, echo until ctx is done.
func (s *Fake) Run(ctx context.Context, ready func()) error {
	s.f.mu.Lock()
	if s.f.runs == nil {
		s.f.runs, s.f.live = map[string]int{}, map[string]*Fake{}
	}
	s.f.runs[s.d.Name]++
	s.f.live[s.d.Name] = s
	s.f.mu.Unlock()
	s.f.note("start " + s.d.Name)
	defer s.f.note("stop " + s.d.Name)

	if b := s.f.take(s.d.Name); b != nil {
		if b.StartErr != nil {
			return b.StartErr
		}
		if b.NeverDone {
			ready()
			select {}
		}
	}
	keys := s.d.Config.ListenKeys(s.d.Kind)
	key, conf := keys[0][0], keys[0][1]
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.d.ListenAddr(key, conf))
	if err != nil {
		return fmt.Errorf("%s: listen: %w", s.d.Name, err)
	}
	s.d.Publish(key, ln.Addr().String())
	s.mu.Lock()
	s.ln = ln
	s.listen = map[string]string{key: ln.Addr().String()}
	s.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.accept(ln, &wg)
	}()
	ready()
	select {
	case <-ctx.Done():
	case msg := <-s.panicc:
		ln.Close()
		s.closeAll()
		wg.Wait()
		panic(msg)
	}
	ln.Close()
	s.closeAll() // drain: close client connections
	wg.Wait()
	return nil
}

func (s *Fake) accept(ln net.Listener, wg *sync.WaitGroup) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = time.Now()
		s.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			buf := make([]byte, 4096)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					s.echoed.Add(1)
					if _, werr := c.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return // EOF or closed by a drain or kick
				}
			}
		}()
	}
}

func (s *Fake) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

// Status implements daemons.Service.
func (s *Fake) Status() ctlapi.ServiceStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ctlapi.ServiceStatus{
		Listen:   s.listen,
		Counters: map[string]uint64{ctlapi.CounterMsgs: s.echoed.Load(), ctlapi.CounterOnline: uint64(len(s.conns))},
	}
}

// Sockets implements daemons.SocketLister.
func (s *Fake) Sockets() []ctlapi.Socket {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ctlapi.Socket
	if s.ln != nil {
		out = append(out, ctlapi.Socket{Service: s.d.Name, Kind: "listen", Local: s.ln.Addr().String()})
	}
	for c, t := range s.conns {
		out = append(out, ctlapi.Socket{Service: s.d.Name, Kind: "client", Local: c.LocalAddr().String(), Remote: c.RemoteAddr().String(), Opened: t})
	}
	return out
}

// Kick implements daemons.Kicker: it closes every client connection.
func (s MsgFake) Kick(_ context.Context, userID, _ uint32) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.conns)
	for c := range s.conns {
		c.Close()
	}
	return n, nil
}

// Config returns a configuration for tests: every listen address on
// 127.0.0.1 port 0, peers by reference, and short timeouts and backoffs.
func Config(dataDir string) *config.Config {
	c := config.Default()
	c.DataDir = dataDir
	any0 := "127.0.0.1:0"
	c.Login.HTTPListen, c.Login.ClientListen, c.Login.MsgServerListen = any0, any0, any0
	c.Msg.Listen, c.Route.Listen, c.DBProxy.Listen = any0, any0, any0
	c.File.ClientListen, c.File.MsgListen, c.Msfs.Listen = any0, any0, any0
	c.HTTPMsg.Listen, c.Push.Listen, c.Metrics.Listen = any0, any0, any0
	c.Msg.DBProxy, c.Msg.Route, c.Msg.Login, c.Msg.File, c.Msg.Push = []string{"dbproxy"}, []string{"route"}, []string{"login"}, []string{"file"}, "push"
	c.HTTPMsg.DBProxy, c.HTTPMsg.Route = []string{"dbproxy"}, []string{"route"}
	c.Supervisor.StopTimeout = config.Duration(5 * time.Second)
	c.Supervisor.StartTimeout = config.Duration(5 * time.Second)
	c.Supervisor.RestartBackoffMin = config.Duration(10 * time.Millisecond)
	c.Supervisor.RestartBackoffMax = config.Duration(80 * time.Millisecond)
	return c
}
