package dbproxy

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"teamtalk/appliance/config"
	"teamtalk/daemons"
	"teamtalk/state"
	"teamtalk/state/boltstore"
	"teamtalk/wire"
	"teamtalk/wire/pb"
	"teamtalk/wire/textcrypt"
)

func validateCode(t *testing.T, p *peer, name, pw string) uint32 {
	t.Helper()
	rep := p.call(pb.CmdOtherValidateReq, 9,
		&pb.IMValidateReq{UserName: proto.String(name), Password: proto.String(pw), AttachData: handleAttach(1)},
		pb.CmdOtherValidateRsp)
	return rep.(*pb.IMValidateRsp).GetResultCode()
}

// TestLoginLimiter: more than the configured number of failures of one name
// within the window refuse that name (result 6, even with the right
// password) until the oldest failure expires; other names are unaffected; a
// success clears the count.
func TestLoginLimiter(t *testing.T) {
	clk := newClock(time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC))
	f := newFixture(t, func(c *config.Config) {
		c.DBProxy.LoginFailLimit = 3
		c.DBProxy.LoginFailWindow = config.Duration(10 * time.Minute)
	}, clk.install())
	f.seed()
	p := f.dial()
	good := state.MD5Hex("123456")
	steps := []struct {
		name    string
		advance time.Duration
		user    string
		pw      string
		want    uint32
	}{
		{"fail 1", 0, "alice", "x", 1},
		{"fail 2", time.Minute, "alice", "x", 1},
		{"fail 3", time.Minute, "alice", "x", 1},
		{"fail 4 still checked", time.Minute, "alice", "x", 1},
		{"limited with the right password", 0, "alice", good, 6},
		{"other names unaffected", 0, "bob", good, 0},
		{"still limited before the oldest expires", 6*time.Minute + 59*time.Second, "alice", good, 6},
		{"oldest expired", time.Second, "alice", good, 0},
		{"success cleared the count", 0, "alice", "x", 1},
		{"unknown user counts as a failure", 0, "nosuchuser", "x", 1},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			clk.add(s.advance)
			if got := validateCode(t, p, s.user, s.pw); got != s.want {
				t.Errorf("result %d, want %d", got, s.want)
			}
		})
	}
	f.svc.limiter.sweep(clk.now().Add(time.Hour))
	if n := f.svc.limiter.size(); n != 0 {
		t.Errorf("%d names remembered after the sweep", n)
	}
}

// TestQuietHours: iOS tokens of users with the push shield on are left out
// from 22:00 to 07:59; Android tokens and unshielded users always get theirs.
func TestQuietHours(t *testing.T) {
	clk := newClock(time.Now())
	f := newFixture(t, clk.install())
	f.seed()
	ctx := context.Background()
	for _, x := range []struct {
		uid    uint32
		ct     state.ClientType
		tok    string
		shield bool
	}{{1, state.ClientIOS, "ios-alice", true}, {2, state.ClientAndroid, "android-bob", true}, {3, state.ClientIOS, "ios-carol", false}} {
		if err := f.store.SetDeviceToken(ctx, x.uid, x.ct, x.tok); err != nil {
			t.Fatal(err)
		}
		if err := f.store.SetPushShield(ctx, x.uid, x.shield); err != nil {
			t.Fatal(err)
		}
	}
	p := f.dial()
	cases := []struct {
		name string
		hour int
		want []string
	}{
		{"noon", 12, []string{"ios-alice", "android-bob", "ios-carol"}},
		{"21:59", 21, []string{"ios-alice", "android-bob", "ios-carol"}},
		{"22:00", 22, []string{"android-bob", "ios-carol"}},
		{"03:00", 3, []string{"android-bob", "ios-carol"}},
		{"07:59", 7, []string{"android-bob", "ios-carol"}},
		{"08:00", 8, []string{"ios-alice", "android-bob", "ios-carol"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			now := time.Now()
			clk.set(time.Date(now.Year(), now.Month(), now.Day(), c.hour, 30, 0, 0, time.Local))
			rep := p.call(pb.CmdOtherGetDeviceTokenReq, 0, &pb.IMGetDeviceTokenReq{UserId: []uint32{1, 2, 3}},
				pb.CmdOtherGetDeviceTokenRsp)
			var got []string
			for _, ti := range rep.(*pb.IMGetDeviceTokenRsp).GetUserTokenInfo() {
				got = append(got, ti.GetToken())
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("tokens %v, want %v", got, c.want)
			}
		})
	}
}

// TestLinkHeartbeatAndTimeout: the proxy sends heartbeats on an idle link,
// never echoes the peer's, and closes a link that stays silent.
func TestLinkHeartbeatAndTimeout(t *testing.T) {
	f := newFixture(t, func(c *config.Config) {
		c.Link.Heartbeat = config.Duration(100 * time.Millisecond)
		c.Link.Timeout = config.Duration(600 * time.Millisecond)
	})
	t.Run("heartbeat sent when idle", func(t *testing.T) {
		p := f.dial()
		fr, err := p.readFrame(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if h := wire.ParseHeader(fr); h.CommandID != pb.CmdOtherHeartbeat || h.ServiceID != 7 || len(fr) != wire.HeaderLen {
			t.Errorf("got %+v", h)
		}
	})
	t.Run("peer heartbeats keep the link and are not echoed", func(t *testing.T) {
		p := f.dial()
		hb := wire.AppendFrame(nil, wire.Header{Version: 1, ServiceID: 7, CommandID: pb.CmdOtherHeartbeat, Seq: 4242}, nil)
		for range 12 { // 1.2 s, twice the timeout
			p.writeRaw(hb)
			deadline := time.Now().Add(100 * time.Millisecond)
			for time.Now().Before(deadline) {
				fr, err := p.readFrame(time.Until(deadline))
				if err != nil {
					break
				}
				if h := wire.ParseHeader(fr); h.Seq == 4242 {
					t.Fatal("the peer's heartbeat was echoed")
				}
			}
		}
		p.writeRaw(hb)
		rep := p.call(pb.CmdLoginReqQueryPushShield, 3, &pb.IMQueryPushShieldReq{UserId: u32(1)},
			pb.CmdLoginResQueryPushShield)
		if rep == nil {
			t.Fatal("no reply")
		}
	})
	t.Run("silent link closed", func(t *testing.T) {
		p := f.dial()
		if err := p.waitClosed(5 * time.Second); err != nil {
			t.Fatal(err)
		}
	})
}

// TestGracefulStop: on stop every link gets IMStopReceivePacket, requests
// already received are answered, then the links close.
func TestGracefulStop(t *testing.T) {
	f := newFixture(t)
	f.seed()
	p := f.dial()
	const n = 50
	var batch []byte
	for i := range n {
		fr, err := wire.Marshal(wire.NewHeader(pb.CmdMsgData, uint16(i)), textMsg(1, 2, pb.MsgType_MSG_TYPE_SINGLE_TEXT, "m"))
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, fr...)
	}
	p.writeRaw(batch)
	// Wait until the proxy has them all queued or done, then stop.
	deadline := time.Now().Add(10 * time.Second)
	for f.svc.counters()["IMMsgData.requests"] < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	stopped := make(chan struct{})
	go func() { f.stop(); close(stopped) }()
	replies, stops := 0, 0
	for {
		fr, err := p.readFrame(10 * time.Second)
		if err != nil {
			break // closed
		}
		h, m, err := wire.DecodeFrame(fr)
		if err != nil {
			t.Fatal(err)
		}
		switch h.CommandID {
		case pb.CmdMsgData:
			if m.(*pb.IMMsgData).GetMsgId() == 0 {
				t.Errorf("reply %d without an id", h.Seq)
			}
			replies++
		case pb.CmdOtherStopRecvPacket:
			if m.(*pb.IMStopReceivePacket).GetResult() != 0 || h.ServiceID != 7 {
				t.Errorf("stop packet %+v %v", h, m)
			}
			stops++
		}
	}
	<-stopped
	if replies != n || stops != 1 {
		t.Errorf("%d replies and %d stop packets; want %d and 1", replies, stops, n)
	}
	if got, err := f.store.LatestMsgID(context.Background(), 1, state.SessionSingle, 2); err != nil || got != n {
		t.Errorf("latest id %d (%v), want %d", got, err, n)
	}
}

// TestAudioPreview: the preview of audio messages is "[语音]" encrypted
// with dbproxy.aes_key (PROTOCOL.md §7.1's vector for the default key); a
// key of the wrong length fails the constructor.
func TestAudioPreview(t *testing.T) {
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "im.db"), boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tests := []struct {
		name, key, want string
	}{
		{"default key", textcrypt.DefaultKey, "QhGXlpFjvMFUNrtl1aaPzA=="},
		{"short key", "short", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.DBProxy.AESKey = tc.key
			s, err := newService(daemons.Deps{Name: "dbproxy", Kind: config.DBProxy, Config: cfg, Store: st})
			if tc.want == "" {
				if err == nil || !strings.Contains(err.Error(), "audio preview") {
					t.Fatalf("New with a %d-byte key: %v", len(tc.key), err)
				}
				return
			}
			if err != nil || string(s.audioPreview) != tc.want {
				t.Fatalf("preview %q, %v; want %q", s.audioPreview, err, tc.want)
			}
		})
	}
}

// TestNewNeedsStore: without a local store the constructor fails.
func TestNewNeedsStore(t *testing.T) {
	if _, err := New(depsWithoutStore()); err == nil {
		t.Error("New accepted Deps without a store")
	}
}
