package client

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// fakeServer is a msg server stand-in on 127.0.0.1:0 speaking the wire
// protocol: each accepted connection reads frames and hands them to handle
// (on that connection's goroutine). Everything it starts is stopped by the
// test's cleanup.
type fakeServer struct {
	t      testing.TB
	ln     net.Listener
	handle func(fc *fakeConn, h wire.Header, body []byte)
	conns  chan *fakeConn
	wg     sync.WaitGroup
	mu     sync.Mutex
	open   []*fakeConn
}

// fakeConn is one accepted connection of a fakeServer.
type fakeConn struct {
	t    testing.TB
	conn net.Conn
	wmu  sync.Mutex
	// got receives every frame the client sent, in order.
	got chan []byte
}

func newFakeServer(t testing.TB, handle func(fc *fakeConn, h wire.Header, body []byte)) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{t: t, ln: ln, handle: handle, conns: make(chan *fakeConn, 16)}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.close)
	return s
}

func (s *fakeServer) addr() string { return s.ln.Addr().String() }

func (s *fakeServer) accept() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		fc := &fakeConn{t: s.t, conn: conn, got: make(chan []byte, 1024)}
		s.mu.Lock()
		s.open = append(s.open, fc)
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(fc)
		select {
		case s.conns <- fc:
		default:
		}
	}
}

func (s *fakeServer) serve(fc *fakeConn) {
	defer s.wg.Done()
	defer fc.conn.Close()
	dec := wire.NewDecoder(wire.MaxClientFrame)
	for {
		_, rerr := dec.Fill(fc.conn)
		for {
			f, err := dec.Next()
			if err != nil || f == nil {
				break
			}
			frame := bytes.Clone(f)
			select {
			case fc.got <- frame:
			default:
			}
			if s.handle != nil {
				h := wire.ParseHeader(frame)
				s.handle(fc, h, frame[wire.HeaderLen:])
			}
		}
		if rerr != nil {
			return
		}
	}
}

func (s *fakeServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for _, fc := range s.open {
		fc.conn.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// next returns the next accepted connection.
func (s *fakeServer) next() *fakeConn {
	s.t.Helper()
	select {
	case fc := <-s.conns:
		return fc
	case <-time.After(5 * time.Second):
		s.t.Fatal("no connection accepted")
		return nil
	}
}

// writeFrame sends a whole frame to the client; errors after the client
// closed are ignored.
func (fc *fakeConn) writeFrame(frame []byte) {
	fc.wmu.Lock()
	defer fc.wmu.Unlock()
	if _, err := fc.conn.Write(frame); err != nil && !errors.Is(err, net.ErrClosed) {
		fc.t.Logf("fake server write: %v", err)
	}
}

// write encodes msg as cmd with seq and sends it.
func (fc *fakeConn) write(cmd, seq uint16, msg proto.Message) {
	fc.t.Helper()
	f, err := wire.Marshal(wire.NewHeader(cmd, seq), msg)
	if err != nil {
		fc.t.Errorf("fake server marshal: %v", err)
		return
	}
	fc.writeFrame(f)
}

// expect returns the next frame the client sent with command cmd, skipping
// others (heartbeats, delivery acks) when skip is true.
func (fc *fakeConn) expect(cmd uint16, skip bool) (wire.Header, []byte) {
	fc.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case f := <-fc.got:
			h := wire.ParseHeader(f)
			if h.CommandID == cmd {
				return h, f
			}
			if !skip {
				fc.t.Fatalf("client sent %s, want %s", pb.CommandName(h.CommandID), pb.CommandName(cmd))
			}
		case <-deadline:
			fc.t.Fatalf("client sent no %s", pb.CommandName(cmd))
			return wire.Header{}, nil
		}
	}
}

// echoHeartbeats is a handler that echoes heartbeats byte for byte, as a
// msg server does, and ignores everything else.
func echoHeartbeats(fc *fakeConn, h wire.Header, body []byte) {
	if h.CommandID == uint16(pb.OtherCmdID_CID_OTHER_HEARTBEAT) {
		f := make([]byte, wire.HeaderLen, wire.HeaderLen+len(body))
		h.Put(f)
		fc.writeFrame(append(f, body...))
	}
}

// playback is a handler that replays a recorded session: when the client
// sends the command of the script's next request, the replies recorded for
// it are sent back, with the request's seq where the recording had the
// recorded request's seq (unsolicited frames keep seq 0). Frames that are not
// the next request (delivery acks, heartbeats) are only recorded; heartbeats
// are echoed.
func playback(t testing.TB, steps []step) func(fc *fakeConn, h wire.Header, body []byte) {
	var mu sync.Mutex
	i := 0
	return func(fc *fakeConn, h wire.Header, body []byte) {
		mu.Lock()
		defer mu.Unlock()
		if h.CommandID == uint16(pb.OtherCmdID_CID_OTHER_HEARTBEAT) {
			echoHeartbeats(fc, h, body)
			return
		}
		if i >= len(steps) || steps[i].req.h.CommandID != h.CommandID {
			return
		}
		st := steps[i]
		i++
		for _, r := range st.replies {
			rh := r.h
			if rh.Seq == st.req.h.Seq && rh.Seq != 0 {
				rh.Seq = h.Seq
			}
			fc.writeFrame(wire.AppendFrame(nil, rh, r.body))
		}
	}
}
