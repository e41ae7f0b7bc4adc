package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"teamtalk/client"
	"teamtalk/wire/pb"
)

const apiKey = "e2e-api-key-0123456789"

// apiPost posts a JSON body to httpmsg and decodes the styled JSON answer.
func apiPost(t *testing.T, a *appliance, name, body string) map[string]any {
	t.Helper()
	rsp, err := http.Post("http://"+a.addr("httpmsg.listen")+"/query/"+name, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	defer rsp.Body.Close()
	b, _ := io.ReadAll(rsp.Body)
	if rsp.StatusCode != 200 || rsp.Header.Get("Content-Type") != "text/html;charset=utf-8" {
		t.Fatalf("%s: status %d, content type %q", name, rsp.StatusCode, rsp.Header.Get("Content-Type"))
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %q: %v", name, b, err)
	}
	return m
}

func TestHTTPMsg(t *testing.T) {
	dir := t.TempDir()
	seed(t, dir, 0)
	a := start(t, "A", dir, "-set", `httpmsg.api_keys=["`+apiKey+`"]`, "-set", "httpmsg.request_timeout=1s")
	msg := a.addr("msg.listen")
	eventually(t, 10*time.Second, "httpmsg linked to dbproxy and route", func() bool {
		ctx, cancel := ctx10()
		defer cancel()
		ss, err := a.ctl.Services(ctx)
		for _, s := range ss {
			if s.Name == "httpmsg" && err == nil && len(s.Peers) == 2 {
				return s.Peers[0].Connected && s.Peers[1].Connected
			}
		}
		return false
	})
	alice := login(t, msg, "alice", android)
	bob := login(t, msg, "bob", android)
	carol := login(t, msg, "carol", android)
	aliceID, bobID, carolID := alice.UserID(), bob.UserID(), carol.UserID()
	ids := func(us ...uint32) string {
		b, _ := json.Marshal(us)
		return string(b)
	}

	t.Run("wrong key refused, nothing created", func(t *testing.T) {
		got := apiPost(t, a, "CreateGroup", `{"req_user_id":1,"app_key":"e2e-api-key-WRONG-000","group_name":"nope","group_type":1,"group_avatar":"","user_id_list":`+ids(aliceID, bobID)+`}`)
		if got["error_code"] != 2.0 {
			t.Fatalf("answer %v, want error_code 2", got)
		}
		ctx, cancel := ctx10()
		defer cancel()
		if gs, err := bob.GroupList(ctx); err != nil || len(gs) != 0 {
			t.Fatalf("bob's groups %v (%v), want none", gs, err)
		}
	})

	var gid uint32
	t.Run("right key creates a group a member sees", func(t *testing.T) {
		got := apiPost(t, a, "CreateGroup", `{"req_user_id":1,"app_key":"`+apiKey+`","group_name":"ops","group_type":1,"group_avatar":"","user_id_list":`+ids(aliceID, bobID)+`}`)
		if got["error_code"] != 0.0 || got["error_msg"] != "成功" {
			t.Fatalf("answer %v", got)
		}
		gid = uint32(got["group_id"].(float64))
		ctx, cancel := ctx10()
		defer cancel()
		gs, err := bob.GroupList(ctx)
		if err != nil || len(gs) != 1 || gs[0].GetGroupId() != gid {
			t.Fatalf("bob's groups %v (%v), want [%d]", gs, err, gid)
		}
		info, err := bob.GroupInfo(ctx, []*pb.GroupVersionInfo{{GroupId: &gid, Version: new(uint32(0))}}) // 0 forces the details
		if err != nil || len(info) != 1 || info[0].GetGroupName() != "ops" || len(info[0].GetGroupMemberList()) != 2 {
			t.Fatalf("group info %v (%v)", info, err)
		}
	})

	t.Run("change members notifies and adds", func(t *testing.T) {
		got := apiPost(t, a, "ChangeMembers", `{"req_user_id":1,"app_key":"`+apiKey+`","group_id":`+ids(gid)[1:len(ids(gid))-1]+`,"modify_type":1,"user_id_list":`+ids(carolID)+`}`)
		if got["error_code"] != 0.0 {
			t.Fatalf("answer %v", got)
		}
		ev := carol.next("group change notify", 10*time.Second, func(ev client.Event) bool {
			_, ok := ev.(*client.GroupChangeEvent)
			return ok
		}).(*client.GroupChangeEvent)
		if ev.Notify.GetGroupId() != gid || len(ev.Notify.GetChgUserIdList()) != 1 || ev.Notify.GetChgUserIdList()[0] != carolID {
			t.Fatalf("notify %v", ev.Notify)
		}
		bad := apiPost(t, a, "ChangeMembers", `{"req_user_id":1,"app_key":"`+apiKey+`","group_id":999999,"modify_type":1,"user_id_list":[1]}`)
		if bad["error_code"] != 12.0 {
			t.Fatalf("unknown group: %v, want error_code 12", bad)
		}
	})

	t.Run("send message to a user and to the group", func(t *testing.T) {
		got := apiPost(t, a, "SendMessage", `{"req_user_id":`+ids(aliceID)[1:len(ids(aliceID))-1]+`,"app_key":"`+apiKey+`","to_session_id":`+ids(bobID)[1:len(ids(bobID))-1]+`,"session_type":1,"msg_data":"maintenance at 22:00"}`)
		if got["error_code"] != 0.0 || got["msg_id"] == nil {
			t.Fatalf("answer %v", got)
		}
		m, text := bob.message(aliceID)
		if text != "maintenance at 22:00" || m.GetMsgId() != uint32(got["msg_id"].(float64)) || m.GetMsgType() != pb.MsgType_MSG_TYPE_SINGLE_TEXT {
			t.Fatalf("bob got %q %v", text, m)
		}
		got = apiPost(t, a, "SendMessage", `{"req_user_id":`+ids(aliceID)[1:len(ids(aliceID))-1]+`,"app_key":"`+apiKey+`","to_session_id":`+ids(gid)[1:len(ids(gid))-1]+`,"session_type":2,"msg_data":"hello group"}`)
		if got["error_code"] != 0.0 {
			t.Fatalf("group answer %v", got)
		}
		for _, u := range []*user{bob, carol} {
			if m, text := u.message(aliceID); text != "hello group" || m.GetToSessionId() != gid {
				t.Fatalf("%s got %q %v", u.name, text, m)
			}
		}
		bad := apiPost(t, a, "SendMessage", `{"req_user_id":999,"app_key":"`+apiKey+`","to_session_id":`+ids(gid)[1:len(ids(gid))-1]+`,"session_type":2,"msg_data":"intruder"}`)
		if bad["error_code"] != 4.0 {
			t.Fatalf("non-member: %v, want error_code 4", bad)
		}
	})
}
