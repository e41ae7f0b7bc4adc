package httpmsg

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"teamtalk/appliance/config"
	"teamtalk/daemons"
	"teamtalk/daemons/internal/servicetest"
)

const goodKey = "0123456789abcdef-test-key"

// startNoDB runs httpmsg whose db proxy and route never answer (a closed
// port), so only the answers made before any db call are reachable.
func startNoDB(t *testing.T, keys []string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	cfg := config.Default()
	cfg.HTTPMsg.Listen = "127.0.0.1:0"
	cfg.HTTPMsg.DBProxy, cfg.HTTPMsg.Route = []string{dead}, []string{dead}
	cfg.HTTPMsg.APIKeys = keys
	cfg.HTTPMsg.RequestTimeout = config.Duration(200 * time.Millisecond)
	d := daemons.Deps{Name: "httpmsg", Kind: config.HTTPMsg, Config: cfg, Logger: slog.New(slog.DiscardHandler), Addrs: &daemons.AddressBook{}}
	svc, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	servicetest.Start(t, svc)
	addr, _ := d.Addrs.Lookup("httpmsg.listen")
	return addr
}

// post sends a raw request and returns everything the server wrote before
// closing.
func post(t *testing.T, addr, path, body string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(c)
	return string(out)
}

// reply builds the reference's exact answer for a body.
func reply(body string) string { return string(response([]byte(body))) }

func TestAnswers(t *testing.T) {
	addr := startNoDB(t, []string{goodKey})
	create := func(key string, typ string) string {
		return `{"req_user_id":1,"app_key":"` + key + `","group_name":"g","group_type":` + typ + `,"group_avatar":"","user_id_list":[1,2]}`
	}
	cases := []struct {
		name, path, body, want string
	}{
		{"wrong key refused", "/query/CreateGroup", create("0123456789abcdef-WRONG-key", "2"),
			reply("{\n   \"error_code\" : 2,\n   \"error_msg\" : \"app_key无效\"\n}\n")},
		{"missing key is a bad parameter", "/query/CreateGroup", `{"req_user_id":1}`,
			reply("{\n   \"error_code\" : 1,\n   \"error_msg\" : \"参数错误\"\n}\n")},
		{"bad group type", "/query/CreateGroup", create(goodKey, "3"),
			reply("{\n   \"error_code\" : 1,\n   \"error_msg\" : \"参数错误\"\n}\n")},
		{"string where a number belongs", "/query/ChangeMembers", `{"req_user_id":1,"app_key":"` + goodKey + `","group_id":"1","modify_type":1,"user_id_list":[2]}`,
			reply("{\n   \"error_code\" : 1,\n   \"error_msg\" : \"参数错误\"\n}\n")},
		{"no db link is a server error", "/query/CreateGroup", create(goodKey, "2"),
			reply("{\n   \"error_code\" : 10,\n   \"error_msg\" : \"服务器异常\",\n   \"group_id\" : 0\n}\n")},
		{"send message without db", "/query/SendMessage", `{"req_user_id":1,"app_key":"` + goodKey + `","to_session_id":2,"session_type":1,"msg_data":"hi"}`,
			reply("{\n   \"error_code\" : 10,\n   \"error_msg\" : \"服务器异常\"\n}\n")},
		{"unknown query name closed", "/query/DropTables", create(goodKey, "2"), ""},
		{"other path closed", "/msg_server", create(goodKey, "2"), ""},
		{"bad json closed", "/query/CreateGroup", `{"app_key":`, ""},
		{"huge body closed", "/query/CreateGroup", `{"x":"` + strings.Repeat("a", maxBody) + `"}`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := post(t, addr, tc.path, tc.body); got != tc.want {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestNoKeysRefusesEverything(t *testing.T) {
	addr := startNoDB(t, nil)
	got := post(t, addr, "/query/CreateGroup", `{"req_user_id":1,"app_key":"","group_name":"g","group_type":2,"group_avatar":"","user_id_list":[1]}`)
	if want := reply("{\n   \"error_code\" : 2,\n   \"error_msg\" : \"app_key无效\"\n}\n"); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestResponseMatchesVector(t *testing.T) {
	// vectors/http_msg_creategroup.txt, byte for byte.
	want := "HTTP/1.1 200 OK\r\nCache-Control:no-cache\r\nConnection:close\r\nContent-Length:70\r\nContent-Type:text/html;charset=utf-8\r\n\r\n" +
		"{\n   \"error_code\" : 0,\n   \"error_msg\" : \"成功\",\n   \"group_id\" : 1\n}\n"
	got := response(answer{code: codeOK, extra: map[string]string{"group_id": "1"}}.body())
	if !bytes.Equal(got, []byte(want)) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestEncryptMatchesClients(t *testing.T) {
	// Round trip through the reference's decryption rule (§7.1), with the
	// cipher New builds from msg.aes_key.
	cfg := config.Default()
	svc, err := New(daemons.Deps{Name: "httpmsg", Kind: config.HTTPMsg, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	c := svc.(*Service).text
	for _, plain := range []string{"a", "twelve bytes", "thirteen byte", "sixteen bytes!!!", "系统通知：维护"} {
		if got := decryptForTest(t, cfg.Msg.AESKey, string(c.Encrypt([]byte(plain)))); got != plain {
			t.Errorf("round trip %q → %q", plain, got)
		}
	}
	cfg.Msg.AESKey = "short"
	if _, err := New(daemons.Deps{Name: "httpmsg", Kind: config.HTTPMsg, Config: cfg}); err == nil {
		t.Error("New accepted a 5-byte msg.aes_key")
	}
}
