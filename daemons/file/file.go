// Package file is file_server (PROTOCOL.md §4.13, §5.6): msg servers link to
// its msg port (8601) to learn the client addresses and to create transfer
// tasks; clients connect to its client port (8600), log in to a task by role
// and move the file through it.
//
// Online transfers are relayed: the receiver pulls blocks by offset, the pull
// goes to the sender unchanged and the sender's block comes back to the
// receiver with the pull's seq. Offline transfers are stored: the server
// pulls the uploader's file in 32 KiB blocks into a temporary file, renames
// it into place under [file].dir in the reference's layout (a 960-byte header,
// then the content) and serves it to the receiver (role 4) from disk later.
//
// Fixes over the reference (§10.2): a block of the wrong length is refused
// (not padded from past the buffer); the task timeout works (a task with no
// login or data for [file].task_timeout is dropped and its connections
// closed); offline files past [file].retention are deleted by a periodic
// sweep; the stored header keeps the file name; a task that cannot be
// created is answered with result 1 and the msg link stays open; an
// IMFileState from a client is forwarded without closing its connection;
// pipelined online pulls get their own seqs back; task ids are checked
// before they reach a path; files over [file].max_file_size are refused.
//
// Disk I/O never runs on a netloop loop: each offline connection (uploader or
// downloader) has a worker goroutine that owns its open file, fed in order
// by the connection's callbacks and stopped when it closes.
package file

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"teamtalk/appliance/ctlapi"
	"teamtalk/daemons"
	"teamtalk/daemons/internal/link"
	"teamtalk/daemons/internal/ratelog"
	"teamtalk/netloop"
	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// loginWait is how long a client connection may stay without a task login.
const loginWait = 15 * time.Second

// Service is a running file server. Create it with New.
type Service struct {
	d           daemons.Deps
	log         *slog.Logger
	cfg         link.Config
	loops       int
	disk        Disk
	maxSize     int64
	retention   time.Duration
	taskTimeout time.Duration
	clientIdle  time.Duration
	now         func() time.Time

	net    link.Served
	listen atomic.Pointer[map[string]string]
	ips    atomic.Pointer[[]*pb.IpAddr]

	mu    sync.Mutex
	tasks map[string]*task
	conns map[netloop.ConnID]*cconn

	wg       sync.WaitGroup // workers and the retention sweep
	sweeping atomic.Bool
	timers   [2]timerInfo

	c counters
}

// counters are the Status counters.
type counters struct {
	tasksCreated, tasksRefused, tasksExpired       atomic.Uint64
	logins, loginsRefused, transfersDone           atomic.Uint64
	bytesRelayed, bytesUploaded, bytesDownloaded   atomic.Uint64
	uploadsDone, uploadsFailed, downloadsDone      atomic.Uint64
	offlineRemoved, badBodies, unexpected, dropped atomic.Uint64
	badLog                                         ratelog.Gate
}

// timerInfo describes one service timer for the console.
type timerInfo struct {
	name     string
	interval time.Duration
	next     atomic.Int64
	fired    atomic.Uint64
}

// cconn is a client connection. uid, role and taskID are guarded by
// Service.mu; up and dl belong to the worker.
type cconn struct {
	id     netloop.ConnID
	opened time.Time
	uid    uint32
	role   pb.ClientFileRole
	taskID string
	w      *worker
	up     *Upload
	dl     *Download
}

// worker runs an offline connection's disk work in order, off the loops.
type worker struct{ jobs chan func() }

// do queues f; false when the connection has too much queued (a client
// pipelining far ahead), which closes it.
func (w *worker) do(f func()) bool {
	select {
	case w.jobs <- f:
		return true
	default:
		return false
	}
}

// New builds the file service from its dependencies; it starts nothing.
func New(d daemons.Deps) (daemons.Service, error) {
	if d.Config == nil {
		return nil, fmt.Errorf("file: %s: no config", d.Name)
	}
	lg := d.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	fc := d.Config.File
	dir := fc.Dir
	if dir == "" {
		dir = filepath.Join(d.Config.DataDir, "offline_file")
	}
	s := &Service{
		d: d, log: lg, cfg: link.ConfigFrom(d.Config), loops: d.Config.Netloop.Loops,
		disk: Disk{Dir: dir}, maxSize: fc.MaxFileSize, retention: time.Duration(fc.Retention),
		taskTimeout: time.Duration(fc.TaskTimeout), clientIdle: time.Duration(fc.ClientIdleTimeout),
		now:   time.Now,
		tasks: map[string]*task{}, conns: map[netloop.ConnID]*cconn{},
	}
	s.timers[0].name = "task-sweep"
	s.timers[0].interval = min(max(s.taskTimeout/4, 10*time.Millisecond), time.Second)
	s.timers[1].name = "offline-retention"
	s.timers[1].interval = min(max(s.retention/8, time.Second), time.Hour)
	return s, nil
}

// Name returns the instance name.
func (s *Service) Name() string { return s.d.Name }

// Dir returns the offline file directory.
func (s *Service) Dir() string { return s.disk.Dir }

// Run listens on [file].client_listen and [file].msg_listen, serves until
// ctx is done, then closes every connection, waits for the disk workers and
// returns.
func (s *Service) Run(ctx context.Context, ready func()) error {
	if err := mkdirAll(s.disk.Dir); err != nil {
		return err
	}
	tick := s.cfg.Tick()
	if s.timers[0].interval < tick {
		tick = s.timers[0].interval
	}
	g, in, err := s.net.Start("file", netloop.Options{Owner: s.d.Name, Loops: s.loops, Logger: s.log, Tick: tick}, s.cfg)
	if err != nil {
		return err
	}
	defer s.wg.Wait() // the disk workers, after the loops have stopped
	defer s.net.Stop()

	caddr := s.d.ListenAddr("client_listen", s.d.Config.File.ClientListen)
	cln, err := g.Listen(caddr, clientHandler{s}, netloop.ListenOptions{IdleTimeout: s.clientIdle})
	if err != nil {
		return fmt.Errorf("file: listen %s: %w", caddr, err)
	}
	maddr := s.d.ListenAddr("msg_listen", s.d.Config.File.MsgListen)
	mln, err := g.Listen(maddr, msgHandler{s}, in.ListenOptions())
	if err != nil {
		return fmt.Errorf("file: listen %s: %w", maddr, err)
	}
	cb, mb := cln.Addr().String(), mln.Addr().String()
	ips := advertised(s.d.Config.File.Advertise, cb, s.log)
	s.ips.Store(&ips)
	s.listen.Store(&map[string]string{"client_listen": cb, "msg_listen": mb})
	s.d.Publish("client_listen", cb)
	s.d.Publish("msg_listen", mb)

	for i := range s.timers {
		ti := &s.timers[i]
		fn := s.sweepTasks
		if i == 1 {
			fn = s.startRetention
		}
		ti.next.Store(s.now().Add(ti.interval).UnixNano())
		g.AddTimer(ti.interval, true, func() {
			ti.fired.Add(1)
			ti.next.Store(s.now().Add(ti.interval).UnixNano())
			fn()
		})
	}
	s.startRetention()
	s.log.Info("file: listening", "client", cb, "msg", mb, "advertise", ipStrings(ips), "dir", s.disk.Dir)
	ready()
	<-ctx.Done()
	return nil
}

// advertised builds the addresses handed to clients: the configured ones,
// a port 0 replaced by the bound client port; none configured means the
// bound client address (a wildcard host becomes 127.0.0.1, with a warning:
// 0.0.0.0 is never handed out).
func advertised(cfg []string, bound string, lg *slog.Logger) []*pb.IpAddr {
	bh, bp, _ := net.SplitHostPort(bound)
	port, _ := strconv.ParseUint(bp, 10, 16)
	var out []*pb.IpAddr
	for _, a := range cfg {
		h, p, err := net.SplitHostPort(a)
		if err != nil {
			continue
		}
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			continue
		}
		if n == 0 {
			n = port
		}
		if ip := net.ParseIP(h); h == "" || ip != nil && ip.IsUnspecified() {
			h = bh
		}
		out = append(out, &pb.IpAddr{Ip: proto.String(h), Port: proto.Uint32(uint32(n))})
	}
	if len(out) > 0 {
		return out
	}
	if ip := net.ParseIP(bh); bh == "" || ip != nil && ip.IsUnspecified() {
		lg.Warn("file: client_listen is a wildcard and file.advertise is empty: advertising 127.0.0.1; set file.advertise")
		bh = "127.0.0.1"
	}
	return []*pb.IpAddr{{Ip: proto.String(bh), Port: proto.Uint32(uint32(port))}}
}

func ipStrings(ips []*pb.IpAddr) []string {
	var out []string
	for _, ip := range ips {
		out = append(out, net.JoinHostPort(ip.GetIp(), strconv.Itoa(int(ip.GetPort()))))
	}
	return out
}

// newTaskID returns a random (version 4) UUID in lowercase text.
func newTaskID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// encode builds a frame, logging (not failing) on the impossible error.
func (s *Service) encode(h wire.Header, m proto.Message) []byte {
	f, err := wire.Marshal(h, m)
	if err != nil {
		s.log.Error("file: encode", "cmd", pb.CommandName(h.CommandID), "err", err)
		return nil
	}
	return f
}

// write sends a frame on a connection; closed ids are a no-op.
func (s *Service) write(id netloop.ConnID, f []byte) bool {
	g := s.net.Group()
	return f != nil && g != nil && g.Write(id, f) == nil
}

// close closes a connection after its queued frames.
func (s *Service) close(id netloop.ConnID) {
	if g := s.net.Group(); g != nil && id != 0 {
		g.Close(id)
	}
}

// bad counts a dropped frame and logs it at most once a second.
func (s *Service) bad(id netloop.ConnID, cmd uint16, what string, err error) {
	if !s.c.badLog.Allow(time.Second) {
		return
	}
	s.log.Warn("file: frame dropped", "why", what, "cmd", pb.CommandName(cmd), "conn", id, "err", err)
}

// echo returns a heartbeat frame byte for byte.
func echo(c *netloop.Conn, frame []byte) {
	_ = c.Write(frame)
}

// decode reads a frame on a port that serves only the commands in want: it
// echoes a heartbeat, counts and logs (as unexpected) any other command or a
// body that does not decode, and returns the header and body of the rest; ok
// is false when the frame needs nothing more.
func (s *Service) decode(c *netloop.Conn, frame []byte, unexpected string, want ...uint16) (hdr wire.Header, m proto.Message, ok bool) {
	hdr = wire.ParseHeader(frame)
	if hdr.CommandID == pb.CmdOtherHeartbeat {
		echo(c, frame)
		return hdr, nil, false
	}
	if !slices.Contains(want, hdr.CommandID) {
		s.c.unexpected.Add(1)
		s.bad(c.ID(), hdr.CommandID, unexpected, nil)
		return hdr, nil, false
	}
	m, err := wire.DecodeBody(hdr.CommandID, frame[wire.HeaderLen:])
	if err != nil {
		s.c.badBodies.Add(1)
		s.bad(c.ID(), hdr.CommandID, "bad body", err)
		return hdr, nil, false
	}
	return hdr, m, true
}

// msgHandler serves msg server links (8601).
type msgHandler struct{ s *Service }

func (h msgHandler) OnOpen(c *netloop.Conn) {
	h.s.net.Opened(c)
	h.s.log.Info("file: msg server linked", "conn", c.ID(), "remote", c.RemoteAddr())
}

func (h msgHandler) OnClose(c *netloop.Conn, err error) {
	h.s.net.Closed(c.ID())
	h.s.log.Info("file: msg server link closed", "conn", c.ID(), "err", err)
}

func (h msgHandler) OnFrame(c *netloop.Conn, frame []byte) {
	s := h.s
	hdr, m, ok := s.decode(c, frame, "unexpected command on the msg port", pb.CmdOtherFileServerIpReq, pb.CmdOtherFileTransferReq)
	if !ok {
		return
	}
	switch m := m.(type) {
	case *pb.IMFileServerIPReq:
		var ips []*pb.IpAddr
		if p := s.ips.Load(); p != nil {
			ips = *p
		}
		_ = c.Write(s.encode(hdr.Reply(pb.CmdOtherFileServerIpRsp), &pb.IMFileServerIPRsp{IpAddrList: ips}))
	case *pb.IMFileTransferReq:
		_ = c.Write(s.encode(hdr.Reply(pb.CmdOtherFileTransferRsp), s.createTask(m)))
	}
}

// createTask answers IMFileTransferReq: a new task, or result 1 (the link
// stays open, unlike the reference).
func (s *Service) createTask(m *pb.IMFileTransferReq) *pb.IMFileTransferRsp {
	rsp := &pb.IMFileTransferRsp{
		ResultCode: proto.Uint32(1), FromUserId: m.FromUserId, ToUserId: m.ToUserId,
		FileName: m.FileName, FileSize: m.FileSize, TaskId: proto.String(""), TransMode: m.TransMode,
		AttachData: m.AttachData,
	}
	mode := m.GetTransMode()
	switch {
	case m.GetFromUserId() == 0 || m.GetToUserId() == 0:
		s.log.Warn("file: transfer refused: user id 0", "from", m.GetFromUserId(), "to", m.GetToUserId())
	case int64(m.GetFileSize()) > s.maxSize:
		s.log.Info("file: transfer refused: file too large", "from", m.GetFromUserId(), "size", m.GetFileSize(), "max", s.maxSize)
	case mode != pb.TransferFileType_FILE_TYPE_ONLINE && mode != pb.TransferFileType_FILE_TYPE_OFFLINE:
	default:
		id := newTaskID()
		t := newTask(id, m.GetFromUserId(), m.GetToUserId(), m.GetFileName(), m.GetFileSize(),
			mode == pb.TransferFileType_FILE_TYPE_OFFLINE, s.now())
		s.mu.Lock()
		s.tasks[id] = t
		s.mu.Unlock()
		s.c.tasksCreated.Add(1)
		rsp.ResultCode, rsp.TaskId = proto.Uint32(0), proto.String(id)
		s.log.Debug("file: task created", "task", id, "from", t.from, "to", t.to, "size", t.size, "offline", t.offline)
		return rsp
	}
	s.c.tasksRefused.Add(1)
	return rsp
}

// clientHandler serves client connections (8600).
type clientHandler struct{ s *Service }

func (h clientHandler) OnOpen(c *netloop.Conn) {
	s := h.s
	cc := &cconn{id: c.ID(), opened: s.now()}
	c.SetContext(cc)
	s.mu.Lock()
	s.conns[c.ID()] = cc
	s.mu.Unlock()
}

func (h clientHandler) OnClose(c *netloop.Conn, err error) {
	s := h.s
	cc, _ := c.Context().(*cconn)
	if cc == nil {
		return
	}
	var peer netloop.ConnID
	s.mu.Lock()
	delete(s.conns, cc.id)
	if t := s.tasks[cc.taskID]; t != nil && cc.role != pb.ClientFileRole_CLIENT_OFFLINE_DOWNLOAD {
		var gone bool
		peer, gone = t.leave(cc.id)
		if gone {
			delete(s.tasks, t.id)
		}
	}
	w := cc.w
	cc.w = nil
	s.mu.Unlock()
	if w != nil {
		close(w.jobs) // only this connection's loop sends on it
	}
	s.close(peer)
}

func (h clientHandler) OnFrame(c *netloop.Conn, frame []byte) {
	s := h.s
	cc, _ := c.Context().(*cconn)
	hdr, m, ok := s.decode(c, frame, "unexpected command on the client port",
		pb.CmdFileLoginReq, pb.CmdFilePullDataReq, pb.CmdFilePullDataRsp, pb.CmdFileState)
	if !ok {
		return
	}
	s.mu.Lock()
	role, taskID, uid, w := cc.role, cc.taskID, cc.uid, cc.w
	s.mu.Unlock()
	if login, ok := m.(*pb.IMFileLoginReq); ok {
		s.login(c, cc, hdr, login)
		return
	}
	if role == 0 {
		s.c.dropped.Add(1)
		s.bad(c.ID(), hdr.CommandID, "before login", nil)
		return
	}
	var tid string
	switch m := m.(type) {
	case *pb.IMFilePullDataReq:
		tid = m.GetTaskId()
	case *pb.IMFilePullDataRsp:
		tid = m.GetTaskId()
	case *pb.IMFileState:
		tid = m.GetTaskId()
	}
	if tid != taskID {
		s.c.dropped.Add(1)
		s.bad(c.ID(), hdr.CommandID, "another task's id", nil)
		return
	}
	switch role {
	case pb.ClientFileRole_CLIENT_REALTIME_SENDER, pb.ClientFileRole_CLIENT_REALTIME_RECVER:
		s.online(c, hdr, frame, m)
	case pb.ClientFileRole_CLIENT_OFFLINE_UPLOAD:
		s.uploadFrame(c, cc, w, uid, m)
	case pb.ClientFileRole_CLIENT_OFFLINE_DOWNLOAD:
		s.downloadFrame(c, cc, w, uid, hdr, m)
	}
}

// login handles IMFileLoginReq (§4.13 online 6, offline 6 and 10). A refusal
// is answered with result 1 and the connection closed.
func (s *Service) login(c *netloop.Conn, cc *cconn, hdr wire.Header, m *pb.IMFileLoginReq) {
	id, uid, role := m.GetTaskId(), m.GetUserId(), m.GetFileRole()
	reply := func(ok bool) {
		code := uint32(1)
		if ok {
			code = 0
			s.c.logins.Add(1)
		} else {
			s.c.loginsRefused.Add(1)
		}
		_ = c.Write(s.encode(hdr.Reply(pb.CmdFileLoginRes), &pb.IMFileLoginRsp{ResultCode: &code, TaskId: &id}))
		if !ok {
			c.Close()
		}
	}
	now := s.now()
	s.mu.Lock()
	if cc.role != 0 {
		s.mu.Unlock()
		s.log.Info("file: second login on a connection refused", "conn", cc.id, "task", id)
		reply(false)
		return
	}
	if role == pb.ClientFileRole_CLIENT_OFFLINE_DOWNLOAD {
		cc.role, cc.taskID, cc.uid = role, id, uid
		w := s.startWorker(cc)
		s.mu.Unlock()
		w.do(func() {
			dl, err := s.disk.Open(id)
			if err == nil && dl.H.To != uid {
				dl.Close()
				err = fmt.Errorf("%w: user %d is not the receiver %d", errUser, uid, dl.H.To)
			}
			if err != nil {
				s.log.Info("file: download login refused", "task", id, "user", uid, "err", err)
				reply(false)
				return
			}
			cc.dl = dl
			reply(true)
		})
		return
	}
	t := s.tasks[id]
	if t != nil {
		if p, ok := t.claim(role, uid, cc.id); ok {
			cc.role, cc.taskID, cc.uid = role, id, uid
			s.mu.Unlock()
			reply(true)
			_ = c.Write(p)
			return
		}
	}
	var (
		ready bool
		err   = errOver
	)
	if t != nil {
		ready, err = t.login(role, uid, cc.id, now)
	}
	if err != nil {
		s.mu.Unlock()
		s.log.Info("file: login refused", "task", id, "user", uid, "role", role, "err", err)
		reply(false)
		return
	}
	cc.role, cc.taskID, cc.uid = role, id, uid
	receiver, from := t.receiver, t.from
	var w *worker
	if role == pb.ClientFileRole_CLIENT_OFFLINE_UPLOAD {
		w = s.startWorker(cc)
	}
	h := Header{TaskID: id, From: t.from, To: t.to, Created: now, Name: t.name, Size: t.size}
	s.mu.Unlock()
	if w == nil {
		reply(true)
		if ready {
			st := pb.ClientFileState_CLIENT_FILE_PEER_READY
			s.write(receiver, s.encode(wire.NewHeader(pb.CmdFileState, 0), &pb.IMFileState{State: &st, TaskId: &id, UserId: &from}))
		}
		return
	}
	w.do(func() {
		up, err := s.disk.Create(h)
		if err != nil {
			s.log.Error("file: offline upload not started", "task", id, "err", err)
			s.c.uploadsFailed.Add(1)
			reply(false)
			return
		}
		cc.up = up
		reply(true)
		s.uploadNext(c.ID(), cc, uid)
	})
}

// startWorker starts the disk worker of an offline connection (s.mu held).
func (s *Service) startWorker(cc *cconn) *worker {
	w := &worker{jobs: make(chan func(), 16)}
	cc.w = w
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			if cc.up != nil {
				cc.up.Abort()
			}
			if cc.dl != nil {
				cc.dl.Close()
			}
		}()
		for f := range w.jobs {
			s.runJob(cc.id, f)
		}
	}()
	return w
}

// runJob runs one disk job; a panic closes the connection, not the process.
func (s *Service) runJob(id netloop.ConnID, f func()) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("file: panic in disk worker", "conn", id, "panic", v)
			s.close(id)
		}
	}()
	f()
}

// online relays a frame of an online transfer (§4.13 online 7-9).
func (s *Service) online(c *netloop.Conn, hdr wire.Header, frame []byte, m proto.Message) {
	now := s.now()
	var (
		dst netloop.ConnID
		out = frame
		err error
	)
	s.mu.Lock()
	cc, _ := c.Context().(*cconn)
	t := s.tasks[cc.taskID]
	if t == nil {
		err = errOver
	} else {
		switch m := m.(type) {
		case *pb.IMFilePullDataReq:
			dst, err = t.pull(c.ID(), m.GetOffset(), hdr.Seq, now)
		case *pb.IMFilePullDataRsp:
			var seq uint16
			dst, seq, err = t.block(c.ID(), m.GetOffset(), now)
			if err == nil {
				out = append([]byte(nil), frame...)
				out[12], out[13] = byte(seq>>8), byte(seq)
				s.c.bytesRelayed.Add(uint64(len(m.GetFileData())))
			}
		case *pb.IMFileState:
			switch m.GetState() {
			case pb.ClientFileState_CLIENT_FILE_CANCEL, pb.ClientFileState_CLIENT_FILE_REFUSE, pb.ClientFileState_CLIENT_FILE_DONE:
				dst, err = t.end(c.ID(), frame)
				if err == nil && m.GetState() == pb.ClientFileState_CLIENT_FILE_DONE {
					s.c.transfersDone.Add(1)
				}
			default:
				err = errRole // PEER_READY is the server's to send
			}
		}
	}
	s.mu.Unlock()
	if err != nil {
		s.c.dropped.Add(1)
		s.bad(c.ID(), hdr.CommandID, "online transfer", err)
		if errors.Is(err, errPending) {
			c.Close()
		}
		return
	}
	s.write(dst, out)
}

// uploadFrame handles the uploader's frames (§4.13 offline 7).
func (s *Service) uploadFrame(c *netloop.Conn, cc *cconn, w *worker, uid uint32, m proto.Message) {
	switch m := m.(type) {
	case *pb.IMFilePullDataRsp:
		data := append([]byte(nil), m.GetFileData()...)
		off, code := m.GetOffset(), m.GetResultCode()
		if !w.do(func() { s.uploadBlock(c.ID(), cc, uid, off, code, data) }) {
			s.log.Info("file: uploader sent blocks nobody asked for: closed", "conn", c.ID())
			c.Close()
		}
	case *pb.IMFileState:
		if m.GetState() == pb.ClientFileState_CLIENT_FILE_CANCEL || m.GetState() == pb.ClientFileState_CLIENT_FILE_REFUSE {
			s.log.Info("file: offline upload cancelled", "task", cc.taskID)
			c.Close() // the worker drops the temporary file
		}
	default:
		s.c.dropped.Add(1)
	}
}

// uploadBlock writes one block on the worker and asks for the next, or
// finishes the upload.
func (s *Service) uploadBlock(id netloop.ConnID, cc *cconn, uid, off, code uint32, data []byte) {
	up := cc.up
	if up == nil {
		return
	}
	err := error(nil)
	if code != 0 {
		err = fmt.Errorf("file: uploader reported result %d", code)
	} else {
		err = up.Write(off, data)
	}
	if err != nil {
		s.log.Info("file: offline upload failed: closed", "task", cc.taskID, "err", err)
		s.c.uploadsFailed.Add(1)
		s.close(id)
		return
	}
	s.c.bytesUploaded.Add(uint64(len(data)))
	s.mu.Lock()
	if t := s.tasks[cc.taskID]; t != nil {
		t.touched = s.now()
	}
	s.mu.Unlock()
	s.uploadNext(id, cc, uid)
}

// uploadNext asks the uploader for the next block, or, when every block is
// on disk, renames the file into place, forgets the task (downloads reload
// it from disk) and tells the uploader it is done.
func (s *Service) uploadNext(id netloop.ConnID, cc *cconn, uid uint32) {
	up := cc.up
	tid := cc.taskID
	if !up.Complete() {
		off, n := up.Next()
		mode := pb.TransferFileType_FILE_TYPE_OFFLINE
		s.write(id, s.encode(wire.NewHeader(pb.CmdFilePullDataReq, 0), &pb.IMFilePullDataReq{
			TaskId: &tid, UserId: &uid, TransMode: &mode, Offset: &off, DataSize: &n}))
		return
	}
	err := up.Finish()
	cc.up = nil
	s.mu.Lock()
	if t := s.tasks[tid]; t != nil {
		t.state = stateFinished
		if err == nil {
			delete(s.tasks, tid)
		}
	}
	s.mu.Unlock()
	if err != nil {
		s.log.Error("file: offline upload not stored", "task", tid, "err", err)
		s.c.uploadsFailed.Add(1)
		s.close(id)
		return
	}
	s.c.uploadsDone.Add(1)
	st := pb.ClientFileState_CLIENT_FILE_DONE
	s.write(id, s.encode(wire.NewHeader(pb.CmdFileState, 0), &pb.IMFileState{State: &st, TaskId: &tid, UserId: &uid}))
	s.log.Info("file: offline file stored", "task", tid, "path", s.disk.Path(tid))
}

// downloadFrame handles the downloader's frames (§4.13 offline 11).
func (s *Service) downloadFrame(c *netloop.Conn, cc *cconn, w *worker, uid uint32, hdr wire.Header, m proto.Message) {
	q, ok := m.(*pb.IMFilePullDataReq)
	if !ok {
		return // IMFileState from a downloader: nothing to do
	}
	off, tid := q.GetOffset(), cc.taskID
	id := c.ID()
	if !w.do(func() {
		dl := cc.dl
		if dl == nil {
			return
		}
		data, err := dl.Read(off)
		if err != nil {
			s.log.Info("file: download failed: closed", "task", tid, "err", err)
			s.close(id)
			return
		}
		zero := uint32(0)
		s.write(id, s.encode(hdr.Reply(pb.CmdFilePullDataRsp), &pb.IMFilePullDataRsp{
			ResultCode: &zero, TaskId: &tid, UserId: &uid, Offset: &off, FileData: data}))
		s.c.bytesDownloaded.Add(uint64(len(data)))
		if dl.Complete() {
			s.c.downloadsDone.Add(1)
			st, from := pb.ClientFileState_CLIENT_FILE_DONE, dl.H.From
			s.write(id, s.encode(wire.NewHeader(pb.CmdFileState, 0), &pb.IMFileState{State: &st, TaskId: &tid, UserId: &from}))
		}
	}) {
		s.log.Info("file: downloader pipelined too far: closed", "conn", id)
		c.Close()
	}
}

// sweepTasks drops tasks idle past the task timeout and closes connections
// that did not log in in time (a timer on loop 0).
func (s *Service) sweepTasks() {
	now := s.now()
	cutoff := now.Add(-s.taskTimeout)
	loginCutoff := now.Add(-min(loginWait, s.clientIdle))
	var doomed []netloop.ConnID
	s.mu.Lock()
	for id, t := range s.tasks {
		if !t.expired(cutoff) {
			continue
		}
		delete(s.tasks, id)
		s.log.Info("file: task timed out", "task", id, "state", t.state, "from", t.from, "to", t.to)
		t.state = stateInvalid
		s.c.tasksExpired.Add(1)
		doomed = append(doomed, t.sender, t.receiver)
	}
	for id, cc := range s.conns {
		if cc.role == 0 && cc.opened.Before(loginCutoff) {
			doomed = append(doomed, id)
		}
	}
	s.mu.Unlock()
	for _, id := range doomed {
		s.close(id)
	}
}

// startRetention runs the retention sweep in the background unless one is
// still running.
func (s *Service) startRetention() {
	if !s.sweeping.CompareAndSwap(false, true) {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.sweeping.Store(false)
		n, err := s.disk.Sweep(s.now().Add(-s.retention), func(id string) bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.tasks[id] != nil
		})
		s.c.offlineRemoved.Add(uint64(n))
		if err != nil {
			s.log.Warn("file: retention sweep", "err", err)
		}
		if n > 0 {
			s.log.Info("file: offline files past retention removed", "count", n, "retention", s.retention)
		}
	}()
}

// Sockets lists the listeners, msg links and client connections.
func (s *Service) Sockets() []ctlapi.Socket {
	s.mu.Lock()
	clients := make(map[netloop.ConnID]bool, len(s.conns))
	for id := range s.conns {
		clients[id] = true
	}
	s.mu.Unlock()
	return s.net.Sockets(s.d.Name, func(ci netloop.ConnInfo) string {
		if clients[ci.ID] {
			return "client"
		}
		return "peer-in"
	})
}

// Timers lists the heartbeat sweep, the task sweep and the retention sweep.
func (s *Service) Timers() []ctlapi.Timer {
	out := s.net.Timers(s.d.Name)
	if s.net.Group() == nil {
		return out
	}
	for i := range s.timers {
		ti := &s.timers[i]
		out = append(out, ctlapi.Timer{Service: s.d.Name, Name: ti.name, Interval: ti.interval,
			Next: time.Unix(0, ti.next.Load()), Fired: ti.fired.Load()})
	}
	return out
}

// Status reports the listeners, sockets, timers and counters.
func (s *Service) Status() ctlapi.ServiceStatus {
	st := ctlapi.ServiceStatus{Name: s.d.Name, Kind: s.d.Kind}
	if l := s.listen.Load(); l != nil {
		st.Listen = *l
	}
	st.Sockets = s.Sockets()
	st.Timers = s.Timers()
	s.mu.Lock()
	var online, offline uint64
	for _, t := range s.tasks {
		if t.offline {
			offline++
		} else {
			online++
		}
	}
	nconns := uint64(len(s.conns))
	s.mu.Unlock()
	c := &s.c
	st.Counters = map[string]uint64{
		"tasks_online": online, "tasks_offline": offline, "client_conns": nconns,
		"tasks_created": c.tasksCreated.Load(), "tasks_refused": c.tasksRefused.Load(), "tasks_expired": c.tasksExpired.Load(),
		"logins": c.logins.Load(), "logins_refused": c.loginsRefused.Load(), "transfers_done": c.transfersDone.Load(),
		"bytes_relayed": c.bytesRelayed.Load(), "bytes_uploaded": c.bytesUploaded.Load(), "bytes_downloaded": c.bytesDownloaded.Load(),
		"uploads_done": c.uploadsDone.Load(), "uploads_failed": c.uploadsFailed.Load(), "downloads_done": c.downloadsDone.Load(),
		"offline_files_removed": c.offlineRemoved.Load(), "bad_bodies": c.badBodies.Load(),
		"unexpected_commands": c.unexpected.Load(), "frames_dropped": c.dropped.Load(),
	}
	if in := s.net.Inbound(); in != nil {
		st.Counters["msg_links"] = uint64(in.Len())
	}
	s.net.AddTraffic(st.Counters)
	return st
}
