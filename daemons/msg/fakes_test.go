package msg

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// got is one frame a fake peer or test client received.
type got struct {
	h   wire.Header
	m   proto.Message
	raw []byte
}

// fakePeer is a TCP server speaking the wire protocol: it records every
// frame (heartbeats aside) and may answer through its handler.
type fakePeer struct {
	t      *testing.T
	ln     net.Listener
	frames chan got
	handle func(p *fakePeer, c net.Conn, g got)
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newFakePeer(t *testing.T, handle func(p *fakePeer, c net.Conn, g got)) *fakePeer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &fakePeer{t: t, ln: ln, frames: make(chan got, 1024), handle: handle}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *fakePeer) addr() string { return p.ln.Addr().String() }

func (p *fakePeer) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns = append(p.conns, c)
		p.mu.Unlock()
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *fakePeer) serve(c net.Conn) {
	defer p.wg.Done()
	d := wire.NewDecoder(wire.MaxServerFrame)
	for {
		if _, err := d.Fill(c); err != nil {
			return
		}
		for {
			f, err := d.Next()
			if err != nil || f == nil {
				break
			}
			h := wire.ParseHeader(f)
			if h.CommandID == pb.CmdOtherHeartbeat {
				continue
			}
			m, _ := wire.DecodeBody(h.CommandID, f[wire.HeaderLen:])
			g := got{h: h, m: m, raw: append([]byte(nil), f...)}
			if p.handle != nil && m != nil {
				p.handle(p, c, g)
			}
			select {
			case p.frames <- g:
			default:
			}
		}
	}
}

// dropConns closes every accepted connection (the peer stays listening).
func (p *fakePeer) dropConns() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *fakePeer) close() {
	p.ln.Close()
	p.dropConns()
	p.wg.Wait()
}

// waitFor returns the next recorded frame with cmd that satisfies ok.
func (p *fakePeer) waitFor(cmd uint16, ok func(proto.Message) bool) got {
	p.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case g := <-p.frames:
			if g.h.CommandID == cmd && (ok == nil || ok(g.m)) {
				return g
			}
		case <-deadline:
			p.t.Fatalf("fake peer: no %s within 10s", pb.CommandName(cmd))
		}
	}
}

func reply(c net.Conn, h wire.Header, m proto.Message) {
	f, err := wire.Marshal(h, m)
	if err != nil {
		panic(err)
	}
	c.Write(f)
}

// fakeDB answers like dbproxy for the users alice (1), bob (2), carol (3)
// with password "pw", numbers messages per conversation, and knows group
// 100 = {1, 2, 3}.
func fakeDB(t *testing.T) *fakePeer {
	var mu sync.Mutex
	ids := map[uint64]uint32{}
	users := map[string]uint32{"alice": 1, "bob": 2, "carol": 3}
	return newFakePeer(t, func(p *fakePeer, c net.Conn, g got) {
		switch q := g.m.(type) {
		case *pb.IMValidateReq:
			rsp := &pb.IMValidateRsp{UserName: q.UserName, AttachData: q.AttachData}
			if id, ok := users[q.GetUserName()]; ok && q.GetPassword() == "pw" {
				rsp.ResultCode = proto.Uint32(0)
				rsp.ResultString = proto.String("成功")
				rsp.UserInfo = &pb.UserInfo{
					UserId: proto.Uint32(id), UserGender: proto.Uint32(1), UserNickName: q.UserName,
					AvatarUrl: proto.String(""), DepartmentId: proto.Uint32(1), Email: proto.String(""),
					UserRealName: q.UserName, UserTel: proto.String(""), UserDomain: q.UserName, Status: proto.Uint32(0),
				}
			} else {
				rsp.ResultCode = proto.Uint32(1)
				rsp.ResultString = proto.String("用户名/密码错误")
			}
			reply(c, g.h.Reply(pb.CmdOtherValidateRsp), rsp)
		case *pb.IMMsgData:
			mu.Lock()
			k := sessionKey(isGroupMsg(q.GetMsgType()), q.GetFromUserId(), q.GetToSessionId())
			ids[k]++
			q.MsgId = proto.Uint32(ids[k])
			mu.Unlock()
			reply(c, g.h.Forward(), q)
		case *pb.IMGroupInfoListReq:
			var list []*pb.GroupInfo
			for _, v := range q.GetGroupVersionList() {
				if v.GetGroupId() == 100 && v.GetVersion() < 1 { // version 1: nothing newer
					list = append(list, &pb.GroupInfo{
						GroupId: proto.Uint32(100), Version: proto.Uint32(1), GroupName: proto.String("g"),
						GroupAvatar: proto.String(""), GroupCreatorId: proto.Uint32(1),
						GroupType: pb.GroupType_GROUP_TYPE_NORMAL.Enum(), ShieldStatus: proto.Uint32(0),
						GroupMemberList: []uint32{1, 2, 3},
					})
				}
			}
			reply(c, g.h.Reply(pb.CmdGroupInfoResponse), &pb.IMGroupInfoListRsp{UserId: q.UserId, GroupInfoList: list, AttachData: q.AttachData})
		case *pb.IMUnreadMsgCntReq:
			reply(c, g.h.Reply(pb.CmdMsgUnreadCntResponse), &pb.IMUnreadMsgCntRsp{
				UserId: q.UserId, TotalCnt: proto.Uint32(0), AttachData: q.AttachData,
			})
		}
	})
}

// fakeRoute records frames and answers users-status queries (everyone
// online).
func fakeRoute(t *testing.T) *fakePeer {
	return newFakePeer(t, func(p *fakePeer, c net.Conn, g got) {
		if q, ok := g.m.(*pb.IMUsersStatReq); ok {
			var st []*pb.UserStat
			for _, id := range q.GetUserIdList() {
				st = append(st, &pb.UserStat{UserId: proto.Uint32(id), Status: pb.UserStatType_USER_STATUS_ONLINE.Enum()})
			}
			reply(c, g.h.Reply(pb.CmdBuddyListUsersStatusResponse), &pb.IMUsersStatRsp{UserId: q.UserId, UserStatList: st, AttachData: q.AttachData})
		}
	})
}

// tclient is a test TeamTalk client on a real socket.
type tclient struct {
	t *testing.T
	c net.Conn
	d *wire.Decoder
}

func dialClient(t *testing.T, addr string) *tclient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &tclient{t: t, c: c, d: wire.NewDecoder(wire.MaxServerFrame)}
}

func (tc *tclient) send(cmd, seq uint16, m proto.Message) {
	tc.t.Helper()
	f, err := wire.Marshal(wire.NewHeader(cmd, seq), m)
	if err != nil {
		tc.t.Fatal(err)
	}
	if _, err := tc.c.Write(f); err != nil {
		tc.t.Fatal(err)
	}
}

// next reads the next frame; err is io.EOF (or a reset) when the server
// closed the connection.
func (tc *tclient) next(timeout time.Duration) (got, error) {
	tc.c.SetReadDeadline(time.Now().Add(timeout))
	for {
		f, err := tc.d.Next()
		if err != nil {
			return got{}, err
		}
		if f != nil {
			h := wire.ParseHeader(f)
			m, _ := wire.DecodeBody(h.CommandID, f[wire.HeaderLen:])
			return got{h: h, m: m, raw: append([]byte(nil), f...)}, nil
		}
		if _, err := tc.d.Fill(tc.c); err != nil {
			return got{}, err
		}
	}
}

// expect reads frames until one with cmd arrives, failing on anything else
// in skip-free mode.
func (tc *tclient) expect(cmd uint16) got {
	tc.t.Helper()
	for {
		g, err := tc.next(10 * time.Second)
		if err != nil {
			tc.t.Fatalf("waiting for %s: %v", pb.CommandName(cmd), err)
		}
		if g.h.CommandID == cmd {
			return g
		}
		tc.t.Logf("skipping %s while waiting for %s", pb.CommandName(g.h.CommandID), pb.CommandName(cmd))
	}
}

// expectClosed reads until the server closes the connection.
func (tc *tclient) expectClosed() {
	tc.t.Helper()
	for {
		_, err := tc.next(10 * time.Second)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			tc.t.Fatal("connection not closed within 10s")
		}
		if !errors.Is(err, io.EOF) {
			tc.t.Logf("closed with %v", err)
		}
		return
	}
}

// login logs in and returns the reply.
func (tc *tclient) login(name, pw string, ct pb.ClientType, seq uint16) *pb.IMLoginRes {
	tc.t.Helper()
	tc.send(pb.CmdLoginReqUserlogin, seq, &pb.IMLoginReq{
		UserName: proto.String(name), Password: proto.String(pw),
		OnlineStatus: pb.UserStatType_USER_STATUS_ONLINE.Enum(), ClientType: ct.Enum(), ClientVersion: proto.String("1.0"),
	})
	g := tc.expect(pb.CmdLoginResUserlogin)
	if g.h.Seq != seq {
		tc.t.Fatalf("login reply seq %d, want %d", g.h.Seq, seq)
	}
	return g.m.(*pb.IMLoginRes)
}
