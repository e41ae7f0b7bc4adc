package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// apnsRequest is what the test's APNs saw.
type apnsRequest struct {
	path, topic, pushType, auth string
	proto                       int
	payload                     map[string]any
}

// TestPushToOfflineIOS: a user registers an iOS device token, disconnects,
// and a message to them produces exactly one APNs request (HTTP/2, token
// path, topic, a bearer JWT, alert payload with the sender's text).
func TestPushToOfflineIOS(t *testing.T) {
	dir := t.TempDir()
	seed(t, dir, 0)

	var mu sync.Mutex
	var got []apnsRequest
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var p map[string]any
		_ = json.Unmarshal(b, &p)
		mu.Lock()
		got = append(got, apnsRequest{path: r.URL.Path, topic: r.Header.Get("apns-topic"), pushType: r.Header.Get("apns-push-type"),
			auth: r.Header.Get("authorization"), proto: r.ProtoMajor, payload: p})
		mu.Unlock()
		w.WriteHeader(200)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()

	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	keyFile, caFile := filepath.Join(dir, "AuthKey.p8"), filepath.Join(dir, "apns-ca.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	a := start(t, "A", dir,
		"-set", "push.apns_key_file="+keyFile, "-set", "push.apns_key_id=KEY1234567", "-set", "push.apns_team_id=TEAM123456",
		"-set", "push.apns_topic=com.example.tt", "-set", "push.apns_url="+srv.URL, "-set", "push.apns_ca_file="+caFile)
	msg := a.addr("msg.listen")
	// msg reaches push after READY (push starts last); pushes before the
	// link is up are skipped, as in the reference.
	eventually(t, 10*time.Second, "msg linked to push", func() bool {
		ctx, cancel := ctx10()
		defer cancel()
		ss, err := a.ctl.Services(ctx)
		for _, s := range ss {
			if s.Name == "push" {
				return err == nil && s.Counters["links"] == 1
			}
		}
		return false
	})

	token := strings.Repeat("5a", 32)
	alice := login(t, msg, "alice", ios)
	aliceID := alice.UserID()
	ctx, cancel := ctx10()
	defer cancel()
	if err := alice.DeviceToken(ctx, token); err != nil {
		t.Fatalf("device token: %v", err)
	}
	alice.Close()
	bob := login(t, msg, "bob", android)
	eventually(t, 10*time.Second, "alice offline", func() bool {
		st, err := bob.UsersStat(ctx, []uint32{aliceID})
		return err == nil && len(st) == 1 && st[0].GetStatus() != 1
	})
	if _, err := bob.SendText(ctx, aliceID, "are you there?"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "an APNs request", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) > 0
	})
	time.Sleep(time.Second) // any duplicate would arrive by now
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("%d APNs requests, want exactly 1: %+v", len(got), got)
	}
	r := got[0]
	if r.proto != 2 || r.path != "/3/device/"+token || r.topic != "com.example.tt" || r.pushType != "alert" || !strings.HasPrefix(r.auth, "bearer ey") {
		t.Errorf("request %+v", r)
	}
	aps, _ := r.payload["aps"].(map[string]any)
	alert, _ := aps["alert"].(map[string]any)
	if alert["body"] != "Bob:are you there?" || aps["badge"] != 1.0 || aps["sound"] != "bingbong.aiff" {
		t.Errorf("payload %v", r.payload)
	}
	if c, _ := r.payload["custom"].(map[string]any); c["from_id"] != float64(bob.UserID()) {
		t.Errorf("custom %v", r.payload["custom"])
	}
}
