package file

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"teamtalk/appliance/config"
	"teamtalk/daemons"
	"teamtalk/daemons/internal/servicetest"
	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// running is a Service under test with its bound addresses.
type running struct {
	s            *Service
	client, msgs string
}

func startService(t *testing.T, dir string, edit func(*config.Config)) *running {
	t.Helper()
	cfg := config.Default()
	cfg.File.ClientListen, cfg.File.MsgListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.File.Advertise = []string{"127.0.0.1:0"}
	cfg.File.Dir = dir
	cfg.Netloop.Loops = 1
	if edit != nil {
		edit(cfg)
	}
	svc, err := New(daemons.Deps{Name: "file", Kind: config.File, Config: cfg, Addrs: &daemons.AddressBook{}})
	if err != nil {
		t.Fatal(err)
	}
	servicetest.Start(t, svc)
	l := svc.Status().Listen
	return &running{s: svc.(*Service), client: l["client_listen"], msgs: l["msg_listen"]}
}

// raw is a test connection speaking frames.
type raw struct {
	t   *testing.T
	c   net.Conn
	dec *wire.Decoder
}

func dial(t *testing.T, addr string) *raw {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &raw{t: t, c: c, dec: wire.NewDecoder(wire.MaxServerFrame)}
}

func (r *raw) send(cmd, seq uint16, m proto.Message) {
	r.t.Helper()
	f, err := wire.Marshal(wire.NewHeader(cmd, seq), m)
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.c.Write(f); err != nil {
		r.t.Fatal(err)
	}
}

// recv returns the next frame, or nil at EOF.
func (r *raw) recv() (wire.Header, proto.Message) {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		f, err := r.dec.Next()
		if err != nil {
			r.t.Fatal(err)
		}
		if f != nil {
			h, m, err := wire.DecodeFrame(f)
			if err != nil {
				r.t.Fatalf("decode %x: %v", f[:16], err)
			}
			return h, m
		}
		if _, err := r.dec.Fill(r.c); err != nil {
			if err == io.EOF {
				return wire.Header{}, nil
			}
			r.t.Fatalf("read: %v", err)
		}
	}
}

func (r *raw) closed() {
	r.t.Helper()
	if h, m := r.recv(); m != nil {
		r.t.Fatalf("got %s %v, want the connection closed", pb.CommandName(h.CommandID), m)
	}
}

func transfer(t *testing.T, m *raw, seq uint16, from, to, size uint32, mode pb.TransferFileType) *pb.IMFileTransferRsp {
	t.Helper()
	att := []byte{0, 0, 0, 1, 0, 0, 0, 42, 0, 0, 0, 0}
	m.send(pb.CmdOtherFileTransferReq, seq, &pb.IMFileTransferReq{FromUserId: &from, ToUserId: &to, FileName: proto.String("f.bin"),
		FileSize: &size, TransMode: mode.Enum(), AttachData: att})
	h, rsp := m.recv()
	if h.CommandID != pb.CmdOtherFileTransferRsp || h.Seq != seq || !bytes.Equal(rsp.(*pb.IMFileTransferRsp).GetAttachData(), att) {
		t.Fatalf("transfer reply %+v %v", h, rsp)
	}
	return rsp.(*pb.IMFileTransferRsp)
}

func fileLogin(t *testing.T, addr string, uid uint32, task string, role pb.ClientFileRole) (*raw, uint32) {
	t.Helper()
	c := dial(t, addr)
	c.send(pb.CmdFileLoginReq, 77, &pb.IMFileLoginReq{UserId: &uid, TaskId: &task, FileRole: role.Enum()})
	h, m := c.recv()
	if h.CommandID != pb.CmdFileLoginRes || h.Seq != 77 {
		t.Fatalf("login reply %+v %v", h, m)
	}
	return c, m.(*pb.IMFileLoginRsp).GetResultCode()
}

func TestMsgPort(t *testing.T) {
	r := startService(t, t.TempDir(), func(c *config.Config) { c.File.MaxFileSize = 1000 })
	m := dial(t, r.msgs)
	hb := []byte{0, 0, 0, 16, 0, 6, 0, 0, 0, 7, 7, 1, 0x12, 0x34, 0, 0x30}
	m.c.Write(hb)
	got := make([]byte, 16)
	m.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(m.c, got); err != nil || !bytes.Equal(got, hb) {
		t.Fatalf("heartbeat echo %x, %v", got, err)
	}
	m.send(pb.CmdOtherFileServerIpReq, 3, &pb.IMFileServerIPReq{})
	h, ips := m.recv()
	list := ips.(*pb.IMFileServerIPRsp).GetIpAddrList()
	_, port, _ := net.SplitHostPort(r.client)
	if h.Seq != 3 || len(list) != 1 || list[0].GetIp() != "127.0.0.1" || port == "0" || strconv.Itoa(int(list[0].GetPort())) != port {
		t.Fatalf("addresses %v (client port %s)", list, port)
	}
	for _, c := range []struct {
		name     string
		from, to uint32
		size     uint32
		ok       bool
	}{
		{"ok", 1, 2, 1000, true},
		{"too large", 1, 2, 1001, false},
		{"no sender", 0, 2, 10, false},
		{"still served after refusals", 1, 2, 10, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			rsp := transfer(t, m, 9, c.from, c.to, c.size, pb.TransferFileType_FILE_TYPE_OFFLINE)
			if ok := rsp.GetResultCode() == 0; ok != c.ok || ok != validTaskID(rsp.GetTaskId()) {
				t.Fatalf("reply %v", rsp)
			}
		})
	}
}

func TestOnlineRelay(t *testing.T) {
	r := startService(t, t.TempDir(), nil)
	m := dial(t, r.msgs)
	task := transfer(t, m, 1, 1, 2, 100, pb.TransferFileType_FILE_TYPE_ONLINE).GetTaskId()
	if _, code := fileLogin(t, r.client, 2, task, pb.ClientFileRole_CLIENT_REALTIME_SENDER); code != 1 {
		t.Fatal("receiver logged in as sender")
	}
	snd, code := fileLogin(t, r.client, 1, task, pb.ClientFileRole_CLIENT_REALTIME_SENDER)
	if code != 0 {
		t.Fatal("sender refused")
	}
	rcv, code := fileLogin(t, r.client, 2, task, pb.ClientFileRole_CLIENT_REALTIME_RECVER)
	if code != 0 {
		t.Fatal("receiver refused")
	}
	if h, st := rcv.recv(); h.CommandID != pb.CmdFileState || st.(*pb.IMFileState).GetState() != pb.ClientFileState_CLIENT_FILE_PEER_READY || st.(*pb.IMFileState).GetUserId() != 1 {
		t.Fatalf("receiver got %v", st)
	}
	uid2, uid1 := uint32(2), uint32(1)
	online := pb.TransferFileType_FILE_TYPE_ONLINE
	for i, seq := range []uint16{501, 502} {
		off, n := uint32(i*50), uint32(50)
		rcv.send(pb.CmdFilePullDataReq, seq, &pb.IMFilePullDataReq{TaskId: &task, UserId: &uid2, TransMode: &online, Offset: &off, DataSize: &n})
	}
	for range 2 {
		h, q := snd.recv()
		pq := q.(*pb.IMFilePullDataReq)
		zero := uint32(0)
		snd.send(pb.CmdFilePullDataRsp, 9000+h.Seq, &pb.IMFilePullDataRsp{ResultCode: &zero, TaskId: &task, UserId: &uid1, Offset: pq.Offset,
			FileData: bytes.Repeat([]byte{byte(pq.GetOffset())}, 50)})
	}
	for i, seq := range []uint16{501, 502} {
		h, b := rcv.recv()
		if h.Seq != seq || b.(*pb.IMFilePullDataRsp).GetOffset() != uint32(i*50) {
			t.Fatalf("block %d: seq %d %v", i, h.Seq, b)
		}
	}
	done := pb.ClientFileState_CLIENT_FILE_DONE
	rcv.send(pb.CmdFileState, 4, &pb.IMFileState{State: &done, TaskId: &task, UserId: &uid2})
	if _, st := snd.recv(); st.(*pb.IMFileState).GetState() != done {
		t.Fatalf("sender got %v", st)
	}
	rcv.c.Close()
	snd.closed() // the other side is closed once one leaves
	servicetest.Eventually(t, "task freed", func() bool { return r.s.Status().Counters["tasks_online"] == 0 })
}

// upload runs an offline upload of content through a raw uploader; bad
// makes the second block one byte short.
func rawUpload(t *testing.T, r *running, task string, content []byte, bad bool) *raw {
	t.Helper()
	up, code := fileLogin(t, r.client, 1, task, pb.ClientFileRole_CLIENT_OFFLINE_UPLOAD)
	if code != 0 {
		t.Fatal("uploader refused")
	}
	for i := 0; ; i++ {
		h, m := up.recv()
		if m == nil {
			return up
		}
		if h.CommandID == pb.CmdFileState {
			if st := m.(*pb.IMFileState).GetState(); st != pb.ClientFileState_CLIENT_FILE_DONE {
				t.Fatalf("upload ended with %v", st)
			}
			return up
		}
		q := m.(*pb.IMFilePullDataReq)
		data := content[q.GetOffset() : q.GetOffset()+q.GetDataSize()]
		if bad && i == 1 {
			data = data[1:]
		}
		zero, uid := uint32(0), uint32(1)
		up.send(pb.CmdFilePullDataRsp, h.Seq, &pb.IMFilePullDataRsp{ResultCode: &zero, TaskId: &task, UserId: &uid, Offset: q.Offset, FileData: data})
	}
}

func TestOfflineStoreAndReload(t *testing.T) {
	dir := t.TempDir()
	content := bytes.Repeat([]byte("0123456789abcdef"), 5000) // 80000 bytes: 3 blocks
	r := startService(t, dir, nil)
	m := dial(t, r.msgs)
	task := transfer(t, m, 1, 1, 2, uint32(len(content)), pb.TransferFileType_FILE_TYPE_OFFLINE).GetTaskId()

	bad := transfer(t, m, 2, 1, 2, uint32(len(content)), pb.TransferFileType_FILE_TYPE_OFFLINE).GetTaskId()
	rawUpload(t, r, bad, content, true).closed()
	servicetest.Eventually(t, "bad upload dropped", func() bool {
		_, err := os.Stat(Disk{Dir: dir}.Path(bad) + partSuffix)
		return os.IsNotExist(err)
	})

	rawUpload(t, r, task, content, false)
	stored, err := os.ReadFile(filepath.Join(dir, task[:2], task))
	if err != nil || !bytes.Equal(stored[HeaderSize:], content) {
		t.Fatalf("stored file: %v", err)
	}

	// A new server on the same directory serves it from disk.
	r2 := startService(t, dir, nil)
	if _, code := fileLogin(t, r2.client, 3, task, pb.ClientFileRole_CLIENT_OFFLINE_DOWNLOAD); code != 1 {
		t.Fatal("download by a user other than the receiver")
	}
	if _, code := fileLogin(t, r2.client, 2, "../../etc/passwd", pb.ClientFileRole_CLIENT_OFFLINE_DOWNLOAD); code != 1 {
		t.Fatal("download of a path")
	}
	dl, code := fileLogin(t, r2.client, 2, task, pb.ClientFileRole_CLIENT_OFFLINE_DOWNLOAD)
	if code != 0 {
		t.Fatal("receiver refused")
	}
	var got []byte
	uid, mode := uint32(2), pb.TransferFileType_FILE_TYPE_OFFLINE
	for off := uint32(0); off < uint32(len(content)); {
		n := uint32(BlockSize)
		dl.send(pb.CmdFilePullDataReq, uint16(off/BlockSize+1), &pb.IMFilePullDataReq{TaskId: &task, UserId: &uid, TransMode: &mode, Offset: &off, DataSize: &n})
		h, b := dl.recv()
		rsp := b.(*pb.IMFilePullDataRsp)
		if h.Seq != uint16(off/BlockSize+1) || rsp.GetOffset() != off {
			t.Fatalf("block at %d: %+v %v", off, h, rsp)
		}
		got = append(got, rsp.GetFileData()...)
		off += uint32(len(rsp.GetFileData()))
	}
	if _, st := dl.recv(); st.(*pb.IMFileState).GetState() != pb.ClientFileState_CLIENT_FILE_DONE || st.(*pb.IMFileState).GetUserId() != 1 {
		t.Fatalf("after the last block: %v", st)
	}
	if !bytes.Equal(got, content) {
		t.Fatal("downloaded content differs")
	}
}

func TestTaskTimeoutAndLoginWait(t *testing.T) {
	r := startService(t, t.TempDir(), func(c *config.Config) {
		c.File.TaskTimeout = config.Duration(300 * time.Millisecond)
		c.File.ClientIdleTimeout = config.Duration(400 * time.Millisecond)
	})
	m := dial(t, r.msgs)
	task := transfer(t, m, 1, 1, 2, 10, pb.TransferFileType_FILE_TYPE_ONLINE).GetTaskId()
	snd, _ := fileLogin(t, r.client, 1, task, pb.ClientFileRole_CLIENT_REALTIME_SENDER)
	snd.closed() // the receiver never came: the task timed out and its sender was closed
	if r.s.Status().Counters["tasks_expired"] != 1 {
		t.Fatalf("counters %v", r.s.Status().Counters)
	}
	if _, code := fileLogin(t, r.client, 2, task, pb.ClientFileRole_CLIENT_REALTIME_RECVER); code != 1 {
		t.Fatal("login to an expired task")
	}
	idle := dial(t, r.client)
	idle.closed() // never logged in
}
