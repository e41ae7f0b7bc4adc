package push

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"teamtalk/appliance/config"
	"teamtalk/daemons"
	"teamtalk/daemons/internal/servicetest"
	"teamtalk/wire"
	"teamtalk/wire/pb"
)

const waitLong = 10 * time.Second

const (
	keyID  = "ABC123DEFG"
	teamID = "TEAM456XYZ"
	topic  = "com.example.teamtalk"
)

// Device tokens the fake APNs treats specially.
var (
	tokOK      = strings.Repeat("ab", 32)
	tokSilent  = strings.Repeat("cd", 32)
	tokFlaky   = strings.Repeat("ef", 32) // 503 twice, then 200
	tokGone    = strings.Repeat("01", 32) // 410 Unregistered
	tokExpired = strings.Repeat("02", 32) // 403 ExpiredProviderToken once, then 200
)

// apnsCall is one request the fake APNs accepted.
type apnsCall struct {
	token, jwt, pushType, priority string
	payload                        map[string]any
}

// fakeAPNs is an HTTP/2 TLS server that checks requests as APNs would.
type fakeAPNs struct {
	t   *testing.T
	pub *ecdsa.PublicKey
	srv *httptest.Server

	mu    sync.Mutex
	calls []apnsCall
	hits  map[string]int
	conns int // open connections
}

func newFakeAPNs(t *testing.T, pub *ecdsa.PublicKey) *fakeAPNs {
	f := &fakeAPNs{t: t, pub: pub, hits: map[string]int{}}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.EnableHTTP2 = true
	f.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		f.mu.Lock()
		defer f.mu.Unlock()
		switch st {
		case http.StateNew:
			f.conns++
		case http.StateClosed, http.StateHijacked:
			f.conns--
		}
	}
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

// fail answers an error status with an APNs reason, as APNs does.
func fail(w http.ResponseWriter, status int, reason string) {
	w.Header().Set("content-type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `{"reason":"`+reason+`"}`)
}

func (f *fakeAPNs) serve(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor != 2 {
		fail(w, 400, "NotHTTP2")
		return
	}
	tok, ok := strings.CutPrefix(r.URL.Path, "/3/device/")
	if r.Method != http.MethodPost || !ok {
		fail(w, 404, "BadPath")
		return
	}
	jwt, ok := strings.CutPrefix(r.Header.Get("authorization"), "bearer ")
	if !ok {
		fail(w, 403, "MissingProviderToken")
		return
	}
	if err := verifyJWT(f.pub, jwt); err != nil {
		f.t.Errorf("fake APNs: %v", err)
		fail(w, 403, "InvalidProviderToken")
		return
	}
	if got := r.Header.Get("apns-topic"); got != topic {
		f.t.Errorf("apns-topic %q, want %q", got, topic)
		fail(w, 400, "BadTopic")
		return
	}
	body, _ := io.ReadAll(r.Body)
	var payload map[string]any
	if err := json.Unmarshal(body, &payload); err != nil {
		f.t.Errorf("payload %q: %v", body, err)
		fail(w, 400, "PayloadEmpty")
		return
	}
	f.mu.Lock()
	f.hits[tok]++
	n := f.hits[tok]
	f.calls = append(f.calls, apnsCall{token: tok, jwt: jwt, pushType: r.Header.Get("apns-push-type"),
		priority: r.Header.Get("apns-priority"), payload: payload})
	f.mu.Unlock()
	switch {
	case tok == tokFlaky && n <= 2:
		fail(w, 503, "ServiceUnavailable")
	case tok == tokGone:
		fail(w, 410, "Unregistered")
	case tok == tokExpired && n == 1:
		fail(w, 403, "ExpiredProviderToken")
	default:
		w.Header().Set("apns-id", "00000000-0000-0000-0000-000000000001")
		w.WriteHeader(200)
	}
}

func (f *fakeAPNs) callsFor(tok string) []apnsCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []apnsCall
	for _, c := range f.calls {
		if c.token == tok {
			out = append(out, c)
		}
	}
	return out
}

// verifyJWT checks an APNs provider token: ES256 over header.claims with
// the public key, kid, iss and a current iat.
func verifyJWT(pub *ecdsa.PublicKey, jwt string) error {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return errors.New("jwt: not three parts")
	}
	enc := base64.RawURLEncoding
	hb, err1 := enc.DecodeString(parts[0])
	cb, err2 := enc.DecodeString(parts[1])
	sig, err3 := enc.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	var h struct{ Alg, Kid string }
	var c struct {
		Iss string
		Iat int64
	}
	if err := errors.Join(json.Unmarshal(hb, &h), json.Unmarshal(cb, &c)); err != nil {
		return err
	}
	if h.Alg != "ES256" || h.Kid != keyID {
		return errors.New("jwt: header " + string(hb))
	}
	if c.Iss != teamID || time.Since(time.Unix(c.Iat, 0)).Abs() > time.Minute {
		return errors.New("jwt: claims " + string(cb))
	}
	if len(sig) != 64 {
		return errors.New("jwt: signature is not 64 bytes")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(pub, sum[:], r, s) {
		return errors.New("jwt: bad signature")
	}
	return nil
}

// fakeHook is a webhook receiver.
type fakeHook struct {
	srv    *httptest.Server
	mu     sync.Mutex
	events []WebhookEvent
	fails  int // answer 500 to this many requests first
}

func newFakeHook(t *testing.T) *fakeHook {
	h := &fakeHook{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var e WebhookEvent
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(400)
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&e); err != nil {
			w.WriteHeader(400)
			return
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.fails > 0 {
			h.fails--
			w.WriteHeader(500)
			return
		}
		h.events = append(h.events, e)
		w.WriteHeader(204)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *fakeHook) got() []WebhookEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]WebhookEvent(nil), h.events...)
}

// writeKey writes a fresh P-256 key as a .p8 file and returns it.
func writeKey(t *testing.T, dir string) (*ecdsa.PrivateKey, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "AuthKey_"+keyID+".p8")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return k, p
}

// writeCA writes the test server's certificate as a PEM root.
func writeCA(t *testing.T, dir string, srv *httptest.Server) string {
	t.Helper()
	p := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type env struct {
	svc  *Service
	addr string
	apns *fakeAPNs
	hook *fakeHook
	stop func() // cancels Run and waits for it (also done at cleanup)
}

// startPush runs a push service with APNs (when withAPNs) and a webhook.
func startPush(t *testing.T, withAPNs bool, edit func(*config.Config)) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{hook: newFakeHook(t)}
	cfg := config.Default()
	cfg.Push.Listen = "127.0.0.1:0"
	cfg.Push.WebhookURL = e.hook.srv.URL + "/push"
	cfg.Link.Heartbeat = config.Duration(time.Second)
	cfg.Link.Timeout = config.Duration(10 * time.Second)
	if withAPNs {
		k, kp := writeKey(t, dir)
		e.apns = newFakeAPNs(t, &k.PublicKey)
		cfg.Push.APNsKeyFile, cfg.Push.APNsKeyID, cfg.Push.APNsTeamID, cfg.Push.APNsTopic = kp, keyID, teamID, topic
		cfg.Push.APNsURL = e.apns.srv.URL
		cfg.Push.APNsCAFile = writeCA(t, dir, e.apns.srv)
	}
	if edit != nil {
		edit(cfg)
	}
	if errs := cfg.Validate(); len(errs) > 0 {
		t.Fatalf("config: %v", errs)
	}
	d := daemons.Deps{Name: "push", Kind: config.Push, Config: cfg, Logger: slog.New(slog.DiscardHandler), Addrs: &daemons.AddressBook{}}
	svc, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc.(*Service)
	e.svc.backoff = 5 * time.Millisecond
	e.stop = servicetest.Start(t, svc)
	e.addr, _ = d.Addrs.Lookup("push.listen")
	return e
}

// msgLink is a fake msg server's link to push.
type msgLink struct {
	t   *testing.T
	c   net.Conn
	dec *wire.Decoder
}

func dial(t *testing.T, addr string) *msgLink {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &msgLink{t: t, c: c, dec: wire.NewDecoder(wire.MaxServerFrame)}
}

func (l *msgLink) raw(f []byte) {
	l.t.Helper()
	if _, err := l.c.Write(f); err != nil {
		l.t.Fatal(err)
	}
}

// next returns the next frame; heartbeats too when withHB.
func (l *msgLink) next(withHB bool) ([]byte, error) {
	_ = l.c.SetReadDeadline(time.Now().Add(waitLong))
	for {
		f, err := l.dec.Next()
		if err != nil {
			return nil, err
		}
		if f != nil {
			if !withHB && wire.ParseHeader(f).CommandID == pb.CmdOtherHeartbeat {
				continue
			}
			return append([]byte(nil), f...), nil
		}
		if _, err := l.dec.Fill(l.c); err != nil {
			return nil, err
		}
	}
}

// push sends a request and returns the reply's header and results by token.
func (l *msgLink) push(seq uint16, req *pb.IMPushToUserReq) (wire.Header, map[string]uint32) {
	l.t.Helper()
	f, err := wire.Marshal(wire.NewHeader(pb.CmdOtherPushToUserReq, seq), req)
	if err != nil {
		l.t.Fatal(err)
	}
	l.raw(f)
	rf, err := l.next(false)
	if err != nil {
		l.t.Fatalf("reply: %v", err)
	}
	h := wire.ParseHeader(rf)
	if h.CommandID != pb.CmdOtherPushToUserRsp {
		l.t.Fatalf("reply command 0x%04x", h.CommandID)
	}
	var rsp pb.IMPushToUserRsp
	if err := proto.Unmarshal(rf[wire.HeaderLen:], &rsp); err != nil {
		l.t.Fatal(err)
	}
	out := map[string]uint32{}
	for _, r := range rsp.GetPushResultList() {
		out[r.GetUserToken()] = r.GetResultCode()
	}
	return h, out
}

func tok(uid uint32, ct pb.ClientType, token string, badge, typ uint32) *pb.UserTokenInfo {
	return &pb.UserTokenInfo{UserId: proto.Uint32(uid), UserType: ct.Enum(), Token: proto.String(token),
		PushCount: proto.Uint32(badge), PushType: proto.Uint32(typ)}
}

const data = `{"from_id":1,"msg_type":1}`

func TestDeliveries(t *testing.T) {
	e := startPush(t, true, nil)
	l := dial(t, e.addr)
	ios, android := pb.ClientType_CLIENT_TYPE_IOS, pb.ClientType_CLIENT_TYPE_ANDROID
	cases := []struct {
		name      string
		tok       *pb.UserTokenInfo
		want      uint32
		apnsCalls int
		check     func(t *testing.T, calls []apnsCall)
	}{
		{"ios alert", tok(2, ios, tokOK, 3, 1), 0, 1, func(t *testing.T, calls []apnsCall) {
			c := calls[0]
			if c.pushType != "alert" || c.priority != "10" {
				t.Errorf("push type %q priority %q", c.pushType, c.priority)
			}
			want := map[string]any{"aps": map[string]any{"alert": map[string]any{"body": "Alice:hi <b>"}, "badge": 3.0, "sound": "bingbong.aiff"},
				"custom": map[string]any{"from_id": 1.0, "msg_type": 1.0}}
			if !jsonEqual(c.payload, want) {
				t.Errorf("payload %v, want %v", c.payload, want)
			}
		}},
		{"ios badge only", tok(3, ios, tokSilent, 7, 2), 0, 1, func(t *testing.T, calls []apnsCall) {
			want := map[string]any{"aps": map[string]any{"badge": 7.0}, "custom": map[string]any{"from_id": 1.0, "msg_type": 1.0}}
			if !jsonEqual(calls[0].payload, want) || calls[0].priority != "5" {
				t.Errorf("payload %v priority %q, want %v", calls[0].payload, calls[0].priority, want)
			}
		}},
		{"ios retried after 503", tok(4, ios, tokFlaky, 1, 1), 0, 3, nil},
		{"ios unregistered is final", tok(5, ios, tokGone, 1, 1), 1, 1, nil},
		{"ios expired jwt re-signed", tok(6, ios, tokExpired, 1, 1), 0, 2, func(t *testing.T, calls []apnsCall) {
			if calls[0].jwt == calls[1].jwt {
				t.Error("the retry after ExpiredProviderToken reused the old JWT")
			}
		}},
		{"ios bad token never sent", tok(7, ios, "not-hex", 1, 1), 1, 0, nil},
		{"android to webhook", tok(8, android, "fcm:xyz", 4, 1), 0, 0, nil},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, res := l.push(uint16(100+i), &pb.IMPushToUserReq{Flash: proto.String("Alice:hi <b>"), Data: proto.String(data),
				UserTokenList: []*pb.UserTokenInfo{tc.tok}})
			if h.Seq != uint16(100+i) {
				t.Errorf("reply seq %d, want %d", h.Seq, 100+i)
			}
			if got, ok := res[tc.tok.GetToken()]; !ok || got != tc.want {
				t.Errorf("result %d (present %v), want %d", got, ok, tc.want)
			}
			calls := e.apns.callsFor(tc.tok.GetToken())
			if len(calls) != tc.apnsCalls {
				t.Fatalf("%d APNs requests, want %d", len(calls), tc.apnsCalls)
			}
			if tc.check != nil {
				tc.check(t, calls)
			}
		})
	}
	ev := e.hook.got()
	if len(ev) != 1 {
		t.Fatalf("webhook got %d events, want 1: %+v", len(ev), ev)
	}
	want := WebhookEvent{Token: "fcm:xyz", Kind: "android", UserID: 8, Alert: "Alice:hi <b>", Badge: 4, Data: json.RawMessage(data)}
	if ev[0].Token != want.Token || ev[0].Kind != want.Kind || ev[0].UserID != want.UserID || ev[0].Alert != want.Alert ||
		ev[0].Badge != want.Badge || ev[0].Silent || !bytes.Equal(ev[0].Data, want.Data) {
		t.Errorf("webhook event %+v, want %+v", ev[0], want)
	}
	st := e.svc.Status().Counters
	for k, v := range map[string]uint64{"apns_ok": 4, "apns_failed": 1, "apns_retries": 2, "apns_bad_tokens": 1, "webhook_ok": 1, "requests": 7, "tokens": 7, "replies": 7} {
		if st[k] != v {
			t.Errorf("counter %s = %d, want %d", k, st[k], v)
		}
	}
	if st["apns_jwt_signed"] != 2 { // the first, then the forced re-sign; otherwise cached
		t.Errorf("apns_jwt_signed = %d, want 2", st["apns_jwt_signed"])
	}
}

// TestStopClosesAPNsConnections: a stopped run leaves no connection to APNs
// behind (each run builds its own HTTP/2 transport; a restarted push must
// not keep the old one's connections for their idle timeout).
func TestStopClosesAPNsConnections(t *testing.T) {
	e := startPush(t, true, nil)
	l := dial(t, e.addr)
	_, res := l.push(1, &pb.IMPushToUserReq{Flash: proto.String("hi"), Data: proto.String(data),
		UserTokenList: []*pb.UserTokenInfo{tok(2, pb.ClientType_CLIENT_TYPE_IOS, tokOK, 1, 1)}})
	if res[tokOK] != 0 {
		t.Fatalf("delivery failed: %v", res)
	}
	e.stop()
	deadline := time.Now().Add(waitLong)
	for {
		e.apns.mu.Lock()
		n := e.apns.conns
		e.apns.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections to APNs still open after Run returned", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestManyTokensOneReply(t *testing.T) {
	e := startPush(t, true, nil)
	l := dial(t, e.addr)
	var toks []*pb.UserTokenInfo
	for i := range 20 {
		toks = append(toks, tok(uint32(10+i), pb.ClientType_CLIENT_TYPE_IOS, strings.Repeat("a", 62)+string("0123456789abcdefghij"[i])+"0", 1, 1))
	}
	toks = append(toks, tok(99, pb.ClientType_CLIENT_TYPE_ANDROID, "droid", 1, 2))
	_, res := l.push(0, &pb.IMPushToUserReq{Flash: proto.String("x"), Data: proto.String(data), UserTokenList: toks})
	if len(res) != len(toks) {
		t.Fatalf("%d results, want %d", len(res), len(toks))
	}
	for i, tk := range toks {
		want := uint32(0)
		if i >= 16 && i < 20 { // g..j are not hex
			want = 1
		}
		if res[tk.GetToken()] != want {
			t.Errorf("token %d (%s): result %d, want %d", i, tk.GetToken(), res[tk.GetToken()], want)
		}
	}
	if ev := e.hook.got(); len(ev) != 1 || !ev[0].Silent || ev[0].Alert != "" {
		t.Errorf("webhook events %+v, want one silent", ev)
	}
}

func TestWithoutAPNsIOSGoesToWebhookWithRetries(t *testing.T) {
	e := startPush(t, false, nil)
	e.hook.fails = 2
	l := dial(t, e.addr)
	_, res := l.push(1, &pb.IMPushToUserReq{Flash: proto.String("hello"), Data: proto.String("not json"),
		UserTokenList: []*pb.UserTokenInfo{tok(2, pb.ClientType_CLIENT_TYPE_IOS, tokOK, 5, 1)}})
	if res[tokOK] != 0 {
		t.Fatalf("result %d, want 0", res[tokOK])
	}
	ev := e.hook.got()
	if len(ev) != 1 || ev[0].Kind != "ios" || string(ev[0].Data) != `"not json"` {
		t.Errorf("events %+v", ev)
	}
	if got := e.svc.Status().Counters["webhook_retries"]; got != 2 {
		t.Errorf("webhook_retries %d, want 2", got)
	}
}

func TestNothingConfiguredFails(t *testing.T) {
	e := startPush(t, false, func(c *config.Config) { c.Push.WebhookURL = "" })
	l := dial(t, e.addr)
	_, res := l.push(1, &pb.IMPushToUserReq{Flash: proto.String("x"), Data: proto.String(data),
		UserTokenList: []*pb.UserTokenInfo{tok(2, pb.ClientType_CLIENT_TYPE_ANDROID, "t", 5, 1)}})
	if res["t"] != 1 {
		t.Errorf("result %d, want 1", res["t"])
	}
	if e.svc.Status().Counters["unroutable"] != 1 {
		t.Error("unroutable not counted")
	}
}

func TestLinkRules(t *testing.T) {
	e := startPush(t, false, nil)
	cases := []struct {
		name   string
		frame  []byte
		closed bool
	}{
		{"heartbeat echoed byte for byte", headerBytes(wire.Header{Length: 16, Version: 6, Flag: 3, ServiceID: 7, CommandID: pb.CmdOtherHeartbeat, Seq: 77, Reserved: 9}), false},
		{"unknown command closes", mustFrame(t, wire.NewHeader(pb.CmdOtherRoleSet, 0), &pb.IMRoleSet{Master: proto.Uint32(1)}), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := dial(t, e.addr)
			l.raw(tc.frame)
			f, err := l.next(true)
			if tc.closed {
				if err == nil {
					t.Fatalf("got a frame %x, want the link closed", f)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(f, tc.frame) {
				t.Errorf("echo %x, want %x", f, tc.frame)
			}
		})
	}
}

func TestBadKeyFailsRun(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.p8")
	if err := os.WriteFile(bad, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Push.Listen = "127.0.0.1:0"
	cfg.Push.APNsKeyFile, cfg.Push.APNsKeyID, cfg.Push.APNsTeamID, cfg.Push.APNsTopic = bad, keyID, teamID, topic
	svc, err := New(daemons.Deps{Name: "push", Kind: config.Push, Config: cfg, Addrs: &daemons.AddressBook{}})
	if err != nil {
		t.Fatal(err)
	}
	err = svc.Run(context.Background(), func() { t.Error("ready with a bad key") })
	if err == nil || !strings.Contains(err.Error(), "apns key") {
		t.Fatalf("Run: %v, want an apns key error", err)
	}
}

func TestSignerCachesAndRefreshes(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	s := &signer{key: k, keyID: keyID, teamID: teamID, now: func() time.Time { return now }, ttl: jwtRefresh}
	a, _ := s.token(false)
	now = now.Add(49 * time.Minute)
	b, _ := s.token(false)
	if a != b {
		t.Error("token re-signed before the refresh interval")
	}
	now = now.Add(2 * time.Minute)
	c, _ := s.token(false)
	if c == b {
		t.Error("token not re-signed after 51 minutes")
	}
	if s.refreshes != 2 {
		t.Errorf("refreshes %d, want 2", s.refreshes)
	}
}

func mustFrame(t *testing.T, h wire.Header, m proto.Message) []byte {
	t.Helper()
	f, err := wire.Marshal(h, m)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func headerBytes(h wire.Header) []byte {
	b := make([]byte, wire.HeaderLen)
	h.Put(b)
	return b
}
