package msg

import (
	"math/rand/v2"

	"teamtalk/daemons/internal/attach"
	"teamtalk/daemons/internal/link"
	"teamtalk/netloop"
	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// onFileConfirmed asks a new file link which addresses clients should use
// (§4.13).
func (s *Service) onFileConfirmed(l *link.Link) {
	_ = l.Send(frame(wire.NewHeader(pb.CmdOtherFileServerIpReq, 0), &pb.IMFileServerIPReq{}))
}

// onFileClosed forgets a file link's addresses.
func (s *Service) onFileClosed(l *link.Link, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.fileIPs, l)
}

// pickFile returns a random usable file link that told us its addresses.
func (s *Service) pickFile() (*link.Link, []*pb.IpAddr) {
	_, _, _, _, file, _, _ := s.pools()
	if file == nil {
		return nil, nil
	}
	ls := file.Usable()
	s.mu.Lock()
	defer s.mu.Unlock()
	var ok []*link.Link
	for _, l := range ls {
		if s.fileIPs[l] != nil {
			ok = append(ok, l)
		}
	}
	l := randomLinkOf(ok)
	if l == nil {
		return nil, nil
	}
	return l, s.fileIPs[l]
}

func randomLinkOf(ls []*link.Link) *link.Link {
	if len(ls) == 0 {
		return nil
	}
	return ls[rand.IntN(len(ls))]
}

// onFileFrame handles the file server's answers.
func (s *Service) onFileFrame(l *link.Link, f []byte) {
	h := wire.ParseHeader(f)
	m, err := wire.DecodeBody(h.CommandID, f[wire.HeaderLen:])
	if err != nil {
		s.badBody("file", h.CommandID, err)
		return
	}
	switch h.CommandID {
	case pb.CmdOtherFileServerIpRsp:
		s.mu.Lock()
		s.fileIPs[l] = m.(*pb.IMFileServerIPRsp).GetIpAddrList()
		s.mu.Unlock()
	case pb.CmdOtherFileTransferRsp:
		s.onFileTransfer(h, m.(*pb.IMFileTransferRsp), l)
	default:
		s.c.dropped.Add(1)
	}
}

// clientFileReq starts a transfer (§4.13 steps 1-3).
func (s *Service) clientFileReq(r req, m *pb.IMFileReq) {
	l, _ := s.pickFile()
	if l == nil {
		one := uint32(1)
		s.writeClient(r.cl.id, frame(r.h.Reply(pb.CmdFileResponse), &pb.IMFileRsp{
			ResultCode: &one, FromUserId: &r.uid, ToUserId: m.ToUserId, FileName: m.FileName,
			TaskId: new(string), TransMode: m.TransMode,
		}))
		return
	}
	t := &pb.IMFileTransferReq{
		FromUserId: &r.uid, ToUserId: m.ToUserId, FileName: m.FileName, FileSize: m.FileSize,
		TransMode: m.TransMode,
	}
	if m.GetTransMode() == pb.TransferFileType_FILE_TYPE_ONLINE && len(s.reg.userConns(m.GetToUserId())) == 0 {
		// Online only if the receiver has a PC client somewhere: ask route.
		body, err := wire.MarshalBody(t)
		if err == nil && s.toRoute(frame(wire.NewHeader(pb.CmdBuddyListUsersStatusRequest, r.h.Seq), &pb.IMUsersStatReq{
			UserId: &r.uid, UserIdList: []uint32{m.GetToUserId()},
			AttachData: attach.PDU(attach.TypeHandleAndPDUForFile, uint32(r.cl.id), body),
		})) {
			return
		}
		t.TransMode = pb.TransferFileType_FILE_TYPE_OFFLINE.Enum()
	}
	t.AttachData = attach.Handle(attach.TypeHandle, uint32(r.cl.id))
	_ = l.Send(frame(wire.NewHeader(pb.CmdOtherFileTransferReq, r.h.Seq), t))
}

// onFileProbe finishes the mode choice once route answered (§4.13 step 2).
// seq is the route reply's, i.e. the client's request seq, which the transfer
// request carries so the IMFileRsp matches the client's IMFileReq (§1.6).
func (s *Service) onFileProbe(q *pb.IMUsersStatRsp, d attach.Data, seq uint16) {
	var t pb.IMFileTransferReq
	if err := wire.Unmarshal(d.PDU, &t); err != nil {
		s.badBody("route-attach", pb.CmdOtherFileTransferReq, err)
		return
	}
	mode := pb.TransferFileType_FILE_TYPE_OFFLINE
	for _, st := range q.GetUserStatList() {
		if st.GetUserId() == t.GetToUserId() && st.GetStatus() == pb.UserStatType_USER_STATUS_ONLINE {
			mode = pb.TransferFileType_FILE_TYPE_ONLINE
		}
	}
	t.TransMode = mode.Enum()
	t.AttachData = attach.Handle(attach.TypeHandle, d.Handle)
	if l, _ := s.pickFile(); l != nil {
		_ = l.Send(frame(wire.NewHeader(pb.CmdOtherFileTransferReq, seq), &t))
		return
	}
	// No file server any more: answer the client now rather than never.
	one := uint32(1)
	s.writeClient(netloop.ConnID(d.Handle), frame(wire.NewHeader(pb.CmdFileResponse, seq), &pb.IMFileRsp{
		ResultCode: &one, FromUserId: t.FromUserId, ToUserId: t.ToUserId, FileName: t.FileName,
		TaskId: new(string), TransMode: t.TransMode,
	}))
}

// onFileTransfer answers the sender and notifies the receiver (§4.13 step 5).
func (s *Service) onFileTransfer(h wire.Header, m *pb.IMFileTransferRsp, l *link.Link) {
	d, ok := decodeAttach(m)
	if !ok {
		return
	}
	s.mu.Lock()
	ips := s.fileIPs[l]
	s.mu.Unlock()
	s.writeClient(netloop.ConnID(d.Handle), frame(h.Reply(pb.CmdFileResponse), &pb.IMFileRsp{
		ResultCode: m.ResultCode, FromUserId: m.FromUserId, ToUserId: m.ToUserId,
		FileName: strp(m.GetFileName()), TaskId: strp(m.GetTaskId()), IpAddrList: ips,
		TransMode: m.GetTransMode().Enum(),
	}))
	if m.GetResultCode() != 0 {
		return
	}
	zero := uint32(0)
	s.fileNotify(&pb.IMFileNotify{
		FromUserId: m.FromUserId, ToUserId: m.ToUserId, FileName: strp(m.GetFileName()),
		FileSize: u32p(m.GetFileSize()), TaskId: strp(m.GetTaskId()), IpAddrList: ips,
		TransMode: m.GetTransMode().Enum(), OfflineReady: &zero,
	})
}

// clientFileAddOffline records a finished offline upload and notifies the
// receiver (§4.13 step 8).
func (s *Service) clientFileAddOffline(r req, m *pb.IMFileAddOfflineReq) {
	m.FromUserId = &r.uid
	s.sendDB(s.dbGeneral(), frame(r.h.Forward(), m))
	_, ips := s.pickFile()
	one := uint32(1)
	s.fileNotify(&pb.IMFileNotify{
		FromUserId: &r.uid, ToUserId: m.ToUserId, FileName: m.FileName, FileSize: m.FileSize,
		TaskId: m.TaskId, IpAddrList: ips, TransMode: pb.TransferFileType_FILE_TYPE_OFFLINE.Enum(),
		OfflineReady: &one,
	})
}

// fileNotify sends IMFileNotify to the receiver's local PC connections and
// to the master route.
func (s *Service) fileNotify(n *pb.IMFileNotify) {
	f := frame(wire.NewHeader(pb.CmdFileNotify, 0), n)
	var pcs []*client
	for _, c := range s.reg.userConns(n.GetToUserId()) {
		if _, ct, ok := c.session(); ok && !mobile(ct) {
			pcs = append(pcs, c)
		}
	}
	s.deliver(f, pcs, 0)
	s.toRoute(f)
}

func strp(s string) *string { return &s }
func u32p(v uint32) *uint32 { return &v }
