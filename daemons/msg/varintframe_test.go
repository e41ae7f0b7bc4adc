package msg

import (
	"bytes"
	"math"
	"testing"

	"google.golang.org/protobuf/proto"

	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// TestVarintFrame checks that varintFrame writes the very bytes wire.Marshal
// writes for the messages it stands in for.
func TestVarintFrame(t *testing.T) {
	u32 := proto.Uint32
	for _, tc := range []struct {
		name   string
		h      wire.Header
		fields []uint64
		m      proto.Message
	}{
		{"cnt update online", wire.NewHeader(pb.CmdOtherUserCntUpdate, 0), []uint64{1, 7},
			&pb.IMUserCntUpdate{UserAction: u32(1), UserId: u32(7)}},
		{"cnt update big uid", wire.NewHeader(pb.CmdOtherUserCntUpdate, 0), []uint64{2, math.MaxUint32},
			&pb.IMUserCntUpdate{UserAction: u32(2), UserId: u32(math.MaxUint32)}},
		{"status offline android", wire.NewHeader(pb.CmdOtherUserStatusUpdate, 0), []uint64{2, 300, uint64(pb.ClientType_CLIENT_TYPE_ANDROID)},
			&pb.IMUserStatusUpdate{UserStatus: u32(2), UserId: u32(300), ClientType: pb.ClientType_CLIENT_TYPE_ANDROID.Enum()}},
		{"status zero uid", wire.NewHeader(pb.CmdOtherUserStatusUpdate, 0), []uint64{1, 0, uint64(pb.ClientType_CLIENT_TYPE_WINDOWS)},
			&pb.IMUserStatusUpdate{UserStatus: u32(1), UserId: u32(0), ClientType: pb.ClientType_CLIENT_TYPE_WINDOWS.Enum()}},
		{"kick", wire.NewHeader(pb.CmdOtherServerKickUser, 0), []uint64{123456, uint64(pb.ClientType_CLIENT_TYPE_IOS), uint64(pb.KickReasonType_KICK_REASON_DUPLICATE_USER)},
			&pb.IMServerKickUser{UserId: u32(123456), ClientType: pb.ClientType_CLIENT_TYPE_IOS.Enum(), Reason: u32(uint32(pb.KickReasonType_KICK_REASON_DUPLICATE_USER))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := wire.Marshal(tc.h, tc.m)
			if err != nil {
				t.Fatal(err)
			}
			if got := varintFrame(tc.h, tc.fields...); !bytes.Equal(got, want) {
				t.Errorf("varintFrame = %x, want %x", got, want)
			}
		})
	}
}
