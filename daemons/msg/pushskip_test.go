package msg

import (
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"teamtalk/appliance/config"
	"teamtalk/wire/pb"
)

// TestPushRoundOnlyWhenNoPhoneHere: a 1:1 message to a user whose phone is
// connected to this msg server asks db for no device token (the phone got
// the message); a receiver here on PC only, or not here at all, still gets
// the push round of §4.5.
func TestPushRoundOnlyWhenNoPhoneHere(t *testing.T) {
	push := newFakePeer(t, nil)
	e := startEnv(t, func(c *config.Config) { c.Msg.Push = push.addr() })
	alice := dialClient(t, e.addr)
	alice.login("alice", "pw", pb.ClientType_CLIENT_TYPE_WINDOWS, 1)
	bobPhone := dialClient(t, e.addr)
	bobPhone.login("bob", "pw", pb.ClientType_CLIENT_TYPE_ANDROID, 1)
	carolPC := dialClient(t, e.addr)
	carolPC.login("carol", "pw", pb.ClientType_CLIENT_TYPE_MAC, 1)

	tests := []struct {
		name     string
		to       uint32
		wantPush bool
	}{
		{"receiver's phone here: no token request", 2, false},
		{"receiver here on PC only: token request", 3, true},
		{"receiver not here: token request", 4, true},
	}
	seq := uint16(10)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seq++
			sendText(alice, seq, 1, tt.to, pb.MsgType_MSG_TYPE_SINGLE_TEXT, "hi")
			if g := alice.expect(pb.CmdMsgDataAck); g.h.Seq != seq {
				t.Fatalf("ack seq %d, want %d", g.h.Seq, seq)
			}
			if !tt.wantPush {
				return // the next cases check nothing was asked for this one
			}
			e.db.waitFor(pb.CmdOtherGetDeviceTokenReq, func(m proto.Message) bool {
				ids := m.(*pb.IMGetDeviceTokenReq).GetUserId()
				if slices.Contains(ids, 2) {
					t.Errorf("device tokens asked for bob, whose phone is here: %v", ids)
				}
				return slices.Contains(ids, tt.to)
			})
		})
	}
}
