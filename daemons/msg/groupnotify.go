package msg

import (
	"google.golang.org/protobuf/proto"

	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// NotifyGroupChange tells the online members of a group about a membership
// change made outside a client (the control API's group admin): it delivers
// IMGroupChangeMemberNotify (requester 0, as httpmsg's) to the connections
// here of every user in cur (the members after the change) and changed (the
// users added or removed), and sends it to route, which relays it to the
// other msg servers holding them. It returns the connections reached here
// and whether route took the notify.
func (s *Service) NotifyGroupChange(groupID uint32, add bool, cur, changed []uint32) (reached int, routed bool) {
	op := pb.GroupModifyType_GROUP_MODIFY_TYPE_DEL
	if add {
		op = pb.GroupModifyType_GROUP_MODIFY_TYPE_ADD
	}
	n := frame(wire.NewHeader(pb.CmdGroupChangeMemberNotify, 0), &pb.IMGroupChangeMemberNotify{
		UserId: proto.Uint32(0), ChangeType: op.Enum(), GroupId: proto.Uint32(groupID),
		CurUserIdList: cur, ChgUserIdList: changed,
	})
	s.gc.invalidate(groupID) // before anyone hears of the change
	routed = s.toRoute(n)
	told := make(map[uint32]bool, len(cur)+len(changed))
	for _, ids := range [][]uint32{cur, changed} {
		for _, id := range ids {
			if !told[id] { // an added user is in both lists: once
				told[id] = true
				reached += s.deliver(n, s.reg.userConns(id), 0)
			}
		}
	}
	return reached, routed
}
