package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// File transfers (PROTOCOL.md §4.13): the request and the notifies go
// through the msg server; the data goes over a second TCP connection to a
// file server, to an address the msg server handed out.

// FileBlock is the block size of offline transfers and of the pulls the
// receiving side makes in online ones.
const FileBlock = 32768

// fileWindow is how many pulls a receiver keeps in flight.
const fileWindow = 4

// ErrNoFileServer: the answer named no file server address to connect to.
var ErrNoFileServer = errors.New("client: no file server address")

// FileStateError reports a transfer the other side (or the server) ended
// with cancel or refuse, or a connection that closed before the end.
type FileStateError struct {
	TaskID string
	State  pb.ClientFileState // CANCEL or REFUSE; PEER_READY when the connection closed early
	Err    error              // the connection's error, when it closed
}

// Error describes the transfer's end.
func (e *FileStateError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("client: file task %s: connection closed before the end: %v", e.TaskID, e.Err)
	}
	return fmt.Sprintf("client: file task %s ended by the peer: %s", e.TaskID, e.State)
}

// Unwrap returns the connection's error.
func (e *FileStateError) Unwrap() error { return e.Err }

// FileTransfer is a transfer the server accepted.
type FileTransfer struct {
	TaskID string
	// Mode is the mode the server chose: an online request becomes offline
	// when the receiver has no PC client online.
	Mode  pb.TransferFileType
	Addrs []*pb.IpAddr // file server addresses
}

// SendFile sends size bytes of r to user to as name. online asks for a
// relayed transfer (the receiver must accept it while this call waits); the
// server may choose offline instead, and then the file is uploaded to the
// file server and recorded for the receiver (IMFileAddOfflineReq), who
// fetches it later. It returns once the transfer is complete: the receiver
// confirmed it (online) or the server stored it (offline). When r is an
// io.ReaderAt, blocks are read at the offsets asked; otherwise offsets must
// not go backwards.
func (c *Client) SendFile(ctx context.Context, to uint32, name string, r io.Reader, size uint32, online bool) (*FileTransfer, error) {
	mode := pb.TransferFileType_FILE_TYPE_OFFLINE
	if online {
		mode = pb.TransferFileType_FILE_TYPE_ONLINE
	}
	rsp, err := do[*pb.IMFileRsp](ctx, c, pb.FileCmdID_CID_FILE_REQUEST, &pb.IMFileReq{
		FromUserId: proto.Uint32(c.UserID()), ToUserId: &to, FileName: &name, FileSize: &size, TransMode: mode.Enum(),
	}, pb.FileCmdID_CID_FILE_RESPONSE)
	if err != nil {
		return nil, err
	}
	if err := resultErr(pb.FileCmdID_CID_FILE_RESPONSE, rsp.GetResultCode()); err != nil {
		return nil, err
	}
	ft := &FileTransfer{TaskID: rsp.GetTaskId(), Mode: rsp.GetTransMode(), Addrs: rsp.GetIpAddrList()}
	role := pb.ClientFileRole_CLIENT_REALTIME_SENDER
	if ft.Mode == pb.TransferFileType_FILE_TYPE_OFFLINE {
		role = pb.ClientFileRole_CLIENT_OFFLINE_UPLOAD
	}
	fc, err := c.fileLogin(ctx, ft.Addrs, ft.TaskID, role)
	if err != nil {
		return ft, err
	}
	defer fc.close()
	src := &blockSource{r: r}
	for {
		h, m, err := fc.next(ctx)
		if err != nil {
			return ft, &FileStateError{TaskID: ft.TaskID, Err: err}
		}
		switch m := m.(type) {
		case *pb.IMFilePullDataReq:
			off := m.GetOffset()
			n := m.GetDataSize()
			if off > size {
				n = 0
			} else {
				n = min(n, size-off)
			}
			data, err := src.read(off, n)
			code := uint32(0)
			if err != nil {
				code = 1
			}
			uid := c.UserID()
			if werr := fc.send(pb.FileCmdID_CID_FILE_PULL_DATA_RSP, h.Seq, &pb.IMFilePullDataRsp{
				ResultCode: &code, TaskId: &ft.TaskID, UserId: &uid, Offset: &off, FileData: data}); werr != nil {
				return ft, werr
			}
			if err != nil {
				return ft, fmt.Errorf("client: file task %s: read at %d: %w", ft.TaskID, off, err)
			}
		case *pb.IMFileState:
			switch m.GetState() {
			case pb.ClientFileState_CLIENT_FILE_DONE:
				if ft.Mode == pb.TransferFileType_FILE_TYPE_OFFLINE {
					_, err := c.Send(uint16(pb.FileCmdID_CID_FILE_ADD_OFFLINE_REQ), &pb.IMFileAddOfflineReq{
						FromUserId: proto.Uint32(c.UserID()), ToUserId: &to, TaskId: &ft.TaskID, FileName: &name, FileSize: &size})
					if err != nil {
						return ft, err
					}
				}
				return ft, nil
			case pb.ClientFileState_CLIENT_FILE_CANCEL, pb.ClientFileState_CLIENT_FILE_REFUSE:
				return ft, &FileStateError{TaskID: ft.TaskID, State: m.GetState()}
			}
		}
	}
}

// blockSource serves the blocks the receiver (or server) asks for.
type blockSource struct {
	r   io.Reader
	pos uint32
}

func (b *blockSource) read(off, n uint32) ([]byte, error) {
	buf := make([]byte, n)
	if ra, ok := b.r.(io.ReaderAt); ok {
		k, err := ra.ReadAt(buf, int64(off))
		if k == int(n) {
			err = nil
		}
		return buf[:k], err
	}
	if off < b.pos {
		return nil, fmt.Errorf("client: offset %d before %d on a sequential reader", off, b.pos)
	}
	if off > b.pos {
		k, err := io.CopyN(io.Discard, b.r, int64(off-b.pos))
		b.pos += uint32(k)
		if err != nil {
			return nil, err
		}
	}
	k, err := io.ReadFull(b.r, buf)
	b.pos += uint32(k)
	return buf[:k], err
}

// AcceptFile receives the file offered by n (an IMFileNotify from Events)
// into w and returns when it is complete. An online offer is pulled from
// the sender through the file server (the sender's SendFile must be running);
// an offline one that is ready (offline_ready 1) is downloaded from the file
// server; remove it from the list afterwards with DeleteOfflineFile.
func (c *Client) AcceptFile(ctx context.Context, n *pb.IMFileNotify, w io.Writer) error {
	if n.GetTransMode() == pb.TransferFileType_FILE_TYPE_OFFLINE {
		if n.GetOfflineReady() != 1 {
			return fmt.Errorf("client: file task %s: the offline upload is not finished", n.GetTaskId())
		}
		return c.DownloadOfflineFile(ctx, &pb.OfflineFileInfo{
			FromUserId: n.FromUserId, TaskId: n.TaskId, FileName: n.FileName, FileSize: n.FileSize,
		}, n.GetIpAddrList(), w)
	}
	fc, err := c.fileLogin(ctx, n.GetIpAddrList(), n.GetTaskId(), pb.ClientFileRole_CLIENT_REALTIME_RECVER)
	if err != nil {
		return err
	}
	defer fc.close()
	// Wait until the sender is there too.
	for {
		_, m, err := fc.next(ctx)
		if err != nil {
			return &FileStateError{TaskID: n.GetTaskId(), Err: err}
		}
		if st, ok := m.(*pb.IMFileState); ok {
			if st.GetState() == pb.ClientFileState_CLIENT_FILE_PEER_READY {
				break
			}
			return &FileStateError{TaskID: n.GetTaskId(), State: st.GetState()}
		}
	}
	if err := c.pullAll(ctx, fc, n.GetTaskId(), n.GetFileSize(), pb.TransferFileType_FILE_TYPE_ONLINE, w); err != nil {
		if !errors.As(err, new(*FileStateError)) {
			st := pb.ClientFileState_CLIENT_FILE_CANCEL
			_ = fc.state(n.GetTaskId(), c.UserID(), st)
		}
		return err
	}
	return fc.state(n.GetTaskId(), c.UserID(), pb.ClientFileState_CLIENT_FILE_DONE)
}

// RefuseFile declines an online offer: the sender's SendFile returns a
// FileStateError with REFUSE.
func (c *Client) RefuseFile(ctx context.Context, n *pb.IMFileNotify) error {
	fc, err := c.fileLogin(ctx, n.GetIpAddrList(), n.GetTaskId(), pb.ClientFileRole_CLIENT_REALTIME_RECVER)
	if err != nil {
		return err
	}
	defer fc.close()
	return fc.state(n.GetTaskId(), c.UserID(), pb.ClientFileState_CLIENT_FILE_REFUSE)
}

// HasOfflineFiles lists the offline files waiting for this user, with the
// file server addresses to fetch them from.
func (c *Client) HasOfflineFiles(ctx context.Context) (*pb.IMFileHasOfflineRsp, error) {
	return do[*pb.IMFileHasOfflineRsp](ctx, c, pb.FileCmdID_CID_FILE_HAS_OFFLINE_REQ,
		&pb.IMFileHasOfflineReq{UserId: proto.Uint32(c.UserID())}, pb.FileCmdID_CID_FILE_HAS_OFFLINE_RES)
}

// DownloadOfflineFile fetches an offline file (an entry of HasOfflineFiles
// with its addresses) into w.
func (c *Client) DownloadOfflineFile(ctx context.Context, f *pb.OfflineFileInfo, addrs []*pb.IpAddr, w io.Writer) error {
	fc, err := c.fileLogin(ctx, addrs, f.GetTaskId(), pb.ClientFileRole_CLIENT_OFFLINE_DOWNLOAD)
	if err != nil {
		return err
	}
	defer fc.close()
	if err := c.pullAll(ctx, fc, f.GetTaskId(), f.GetFileSize(), pb.TransferFileType_FILE_TYPE_OFFLINE, w); err != nil {
		return err
	}
	// The server ends a download with DONE; wait for it so the caller knows
	// the server saw the whole file go out.
	for {
		_, m, err := fc.next(ctx)
		if err != nil {
			return &FileStateError{TaskID: f.GetTaskId(), Err: err}
		}
		if st, ok := m.(*pb.IMFileState); ok && st.GetState() == pb.ClientFileState_CLIENT_FILE_DONE {
			return nil
		}
	}
}

// DeleteOfflineFile removes an offline file from this user's list (the
// server does not answer).
func (c *Client) DeleteOfflineFile(from uint32, taskID string) error {
	_, err := c.Send(uint16(pb.FileCmdID_CID_FILE_DEL_OFFLINE_REQ), &pb.IMFileDelOfflineReq{
		FromUserId: &from, ToUserId: proto.Uint32(c.UserID()), TaskId: &taskID})
	return err
}

// pullAll pulls size bytes in blocks, fileWindow in flight, and writes them
// to w in order.
func (c *Client) pullAll(ctx context.Context, fc *fileConn, taskID string, size uint32, mode pb.TransferFileType, w io.Writer) error {
	uid := c.UserID()
	var next, got uint32 // next offset to ask for, bytes received
	inflight := 0
	ask := func() error {
		for inflight < fileWindow && next < size {
			n := min(FileBlock, size-next)
			off := next
			if err := fc.send(pb.FileCmdID_CID_FILE_PULL_DATA_REQ, 0, &pb.IMFilePullDataReq{
				TaskId: &taskID, UserId: &uid, TransMode: mode.Enum(), Offset: &off, DataSize: &n}); err != nil {
				return err
			}
			next += n
			inflight++
		}
		return nil
	}
	if err := ask(); err != nil {
		return err
	}
	for got < size {
		_, m, err := fc.next(ctx)
		if err != nil {
			return &FileStateError{TaskID: taskID, Err: err}
		}
		switch m := m.(type) {
		case *pb.IMFilePullDataRsp:
			if m.GetResultCode() != 0 {
				return fmt.Errorf("client: file task %s: block at %d: %w", taskID, m.GetOffset(),
					&ResultError{Cmd: uint16(pb.FileCmdID_CID_FILE_PULL_DATA_RSP), Code: m.GetResultCode()})
			}
			data := m.GetFileData()
			if m.GetOffset() != got || len(data) == 0 || uint64(got)+uint64(len(data)) > uint64(size) {
				return fmt.Errorf("client: file task %s: block of %d bytes at %d, expected offset %d", taskID, len(data), m.GetOffset(), got)
			}
			if _, err := w.Write(data); err != nil {
				return fmt.Errorf("client: file task %s: write: %w", taskID, err)
			}
			got += uint32(len(data))
			inflight--
			if err := ask(); err != nil {
				return err
			}
		case *pb.IMFileState:
			if s := m.GetState(); s == pb.ClientFileState_CLIENT_FILE_CANCEL || s == pb.ClientFileState_CLIENT_FILE_REFUSE {
				return &FileStateError{TaskID: taskID, State: s}
			}
		}
	}
	return nil
}

// fileConn is a blocking connection to a file server's client port, used by
// one goroutine at a time (plus its heartbeat goroutine, which only writes).
type fileConn struct {
	conn net.Conn
	dec  *wire.Decoder
	wmu  sync.Mutex
	seq  uint16
	stop chan struct{}
	wg   sync.WaitGroup
}

// fileLogin connects to the first reachable address and logs in to the
// task in role.
func (c *Client) fileLogin(ctx context.Context, addrs []*pb.IpAddr, taskID string, role pb.ClientFileRole) (*fileConn, error) {
	if len(addrs) == 0 {
		return nil, ErrNoFileServer
	}
	var d net.Dialer
	if c.opt.LocalAddr != "" {
		if ip := net.ParseIP(c.opt.LocalAddr); ip != nil {
			d.LocalAddr = &net.TCPAddr{IP: ip}
		} else if host, _, err := net.SplitHostPort(c.opt.LocalAddr); err == nil {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(host)}
		}
	}
	var conn net.Conn
	var errs []error
	for _, a := range addrs {
		addr := net.JoinHostPort(a.GetIp(), strconv.Itoa(int(a.GetPort())))
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			conn = nc
			break
		}
		errs = append(errs, fmt.Errorf("client: dial file server %s: %w", addr, err))
	}
	if conn == nil {
		return nil, errors.Join(errs...)
	}
	fc := &fileConn{conn: conn, dec: wire.NewDecoder(c.opt.MaxFrame), stop: make(chan struct{})}
	hb := c.opt.Heartbeat
	if hb <= 0 {
		hb = 30 * time.Second
	}
	fc.wg.Add(1)
	go fc.heartbeats(hb)
	uid := c.UserID()
	seq := fc.nextSeq()
	if err := fc.send(pb.FileCmdID_CID_FILE_LOGIN_REQ, seq, &pb.IMFileLoginReq{UserId: &uid, TaskId: &taskID, FileRole: role.Enum()}); err != nil {
		fc.close()
		return nil, err
	}
	for {
		h, m, err := fc.next(ctx)
		if err != nil {
			fc.close()
			return nil, fmt.Errorf("client: file login to task %s: %w", taskID, err)
		}
		if rsp, ok := m.(*pb.IMFileLoginRsp); ok && h.Seq == seq {
			if err := resultErr(pb.FileCmdID_CID_FILE_LOGIN_RES, rsp.GetResultCode()); err != nil {
				fc.close()
				return nil, err
			}
			return fc, nil
		}
	}
}

func (fc *fileConn) nextSeq() uint16 {
	fc.wmu.Lock()
	defer fc.wmu.Unlock()
	fc.seq++
	if fc.seq == 0 {
		fc.seq = 1
	}
	return fc.seq
}

// heartbeats keeps the connection from the server's idle timeout while a
// side waits (for the peer, or for the user).
func (fc *fileConn) heartbeats(every time.Duration) {
	defer fc.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	hb := wire.AppendFrame(nil, wire.NewHeader(uint16(pb.OtherCmdID_CID_OTHER_HEARTBEAT), 0), nil)
	for {
		select {
		case <-fc.stop:
			return
		case <-t.C:
			fc.wmu.Lock()
			_, err := fc.conn.Write(hb)
			fc.wmu.Unlock()
			if err != nil {
				return
			}
		}
	}
}

// send writes one frame; seq 0 takes the next seq.
func (fc *fileConn) send(cmd pb.FileCmdID, seq uint16, m proto.Message) error {
	if seq == 0 {
		seq = fc.nextSeq()
	}
	f, err := wire.Marshal(wire.NewHeader(uint16(cmd), seq), m)
	if err != nil {
		return fmt.Errorf("client: encode %s: %w", pb.CommandName(uint16(cmd)), err)
	}
	fc.wmu.Lock()
	defer fc.wmu.Unlock()
	if _, err := fc.conn.Write(f); err != nil {
		return fmt.Errorf("client: file server write: %w", err)
	}
	return nil
}

// state sends an IMFileState about the task.
func (fc *fileConn) state(taskID string, uid uint32, st pb.ClientFileState) error {
	return fc.send(pb.FileCmdID_CID_FILE_STATE, 0, &pb.IMFileState{State: st.Enum(), TaskId: &taskID, UserId: &uid})
}

// next reads the next frame that is not a heartbeat, until ctx ends.
func (fc *fileConn) next(ctx context.Context) (wire.Header, proto.Message, error) {
	if err := ctx.Err(); err != nil {
		return wire.Header{}, nil, err
	}
	_ = fc.conn.SetReadDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { _ = fc.conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	for {
		f, err := fc.dec.Next()
		if err != nil {
			return wire.Header{}, nil, fmt.Errorf("client: file server stream: %w", err)
		}
		if f == nil {
			if _, err := fc.dec.Fill(fc.conn); err != nil {
				if ctx.Err() != nil {
					return wire.Header{}, nil, ctx.Err()
				}
				return wire.Header{}, nil, fmt.Errorf("client: file server read: %w", err)
			}
			continue
		}
		h := wire.ParseHeader(f)
		if h.CommandID == uint16(pb.OtherCmdID_CID_OTHER_HEARTBEAT) {
			continue
		}
		m, err := wire.DecodeBody(h.CommandID, f[wire.HeaderLen:])
		if err != nil {
			continue // dropped, as servers do with bad bodies
		}
		return h, m, nil
	}
}

// close closes the connection and stops the heartbeats.
func (fc *fileConn) close() {
	close(fc.stop)
	fc.conn.Close()
	fc.wg.Wait()
}
