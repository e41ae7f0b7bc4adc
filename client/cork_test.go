package client

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// countingConn counts the Write calls made on a connection.
type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

// pipeClient is a client on one end of a net.Pipe whose writes are counted;
// frames it writes are split and sent on the returned channel.
func pipeClient(t *testing.T, opt Options) (*Client, *countingConn, net.Conn, <-chan wire.Header) {
	t.Helper()
	cside, sside := net.Pipe()
	cc := &countingConn{Conn: cside}
	c, err := New(cc, opt)
	if err != nil {
		t.Fatal(err)
	}
	frames := make(chan wire.Header, 64)
	go func() {
		dec := wire.NewDecoder(1 << 20)
		for {
			_, rerr := dec.Fill(sside)
			for {
				f, err := dec.Next()
				if err != nil || f == nil {
					break
				}
				frames <- wire.ParseHeader(f)
			}
			if rerr != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		c.Close()
		sside.Close()
	})
	return c, cc, sside, frames
}

func nextFrame(t *testing.T, frames <-chan wire.Header) wire.Header {
	t.Helper()
	select {
	case h := <-frames:
		return h
	case <-time.After(5 * time.Second):
		t.Fatal("no frame from the client")
		return wire.Header{}
	}
}

// TestCorkOneWrite: sends made while corked are queued, and the last Uncork
// writes them all with one write, in order.
func TestCorkOneWrite(t *testing.T) {
	c, cc, _, frames := pipeClient(t, Options{})
	c.Cork()
	c.Cork() // corks nest
	for i := range 3 {
		m := &pb.IMMsgData{FromUserId: proto.Uint32(1), ToSessionId: proto.Uint32(2), MsgId: proto.Uint32(0), CreateTime: proto.Uint32(0),
			MsgType: pb.MsgType_MSG_TYPE_SINGLE_TEXT.Enum(), MsgData: []byte{byte('a' + i)}}
		if err := c.SendMsgAsync(m, time.Minute, func(*pb.IMMsgDataAck, error) {}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Uncork(); err != nil {
		t.Fatal(err)
	}
	if n := cc.writes.Load(); n != 0 {
		t.Fatalf("%d writes while still corked, want 0", n)
	}
	if err := c.Uncork(); err != nil {
		t.Fatal(err)
	}
	var seqs []uint16
	for range 3 {
		h := nextFrame(t, frames)
		if h.CommandID != uint16(pb.MessageCmdID_CID_MSG_DATA) {
			t.Fatalf("frame %s, want IMMsgData", pb.CommandName(h.CommandID))
		}
		seqs = append(seqs, h.Seq)
	}
	if n := cc.writes.Load(); n != 1 {
		t.Errorf("%d writes for three corked sends, want 1", n)
	}
	if seqs[0] >= seqs[1] || seqs[1] >= seqs[2] {
		t.Errorf("seqs %v out of order", seqs)
	}
	if err := c.Uncork(); err == nil {
		t.Error("an Uncork without Cork: no error")
	}
}

// TestDeliveryAcksOneWrite: the delivery acks of the messages one read
// brought go out together in one write, one per message, in order.
func TestDeliveryAcksOneWrite(t *testing.T) {
	c, cc, sside, frames := pipeClient(t, Options{DropEvents: true})
	var burst []byte
	for id := uint32(1); id <= 5; id++ {
		m := &pb.IMMsgData{FromUserId: proto.Uint32(2), ToSessionId: proto.Uint32(1), MsgId: proto.Uint32(id), CreateTime: proto.Uint32(0),
			MsgType: pb.MsgType_MSG_TYPE_SINGLE_TEXT.Enum(), MsgData: []byte("x")}
		var err error
		burst, err = wire.AppendMarshal(burst, wire.NewHeader(uint16(pb.MessageCmdID_CID_MSG_DATA), 0), m)
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sside.Write(burst); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if h := nextFrame(t, frames); h.CommandID != uint16(pb.MessageCmdID_CID_MSG_DATA_ACK) {
			t.Fatalf("frame %s, want IMMsgDataAck", pb.CommandName(h.CommandID))
		}
	}
	if n := cc.writes.Load(); n != 1 {
		t.Errorf("%d writes for the acks of one read, want 1", n)
	}
	if got := c.Stats().DeliveryAcks; got != 5 {
		t.Errorf("DeliveryAcks = %d, want 5", got)
	}
}

// TestMsgDataHandler: with Options.MsgData, chat messages reach it as
// scanned fields (no MessageEvent), their delivery acks still go out, and
// other frames are events as before.
func TestMsgDataHandler(t *testing.T) {
	type got struct {
		from, msgID uint32
		data        string
	}
	msgs := make(chan got, 4)
	c, _, sside, frames := pipeClient(t, Options{MsgData: func(h wire.Header, f wire.MsgDataFields) {
		msgs <- got{f.From, f.MsgID, string(f.Data)}
	}})
	var burst []byte
	for id := uint32(1); id <= 2; id++ {
		m := &pb.IMMsgData{FromUserId: proto.Uint32(7), ToSessionId: proto.Uint32(1), MsgId: proto.Uint32(id), CreateTime: proto.Uint32(0),
			MsgType: pb.MsgType_MSG_TYPE_SINGLE_TEXT.Enum(), MsgData: []byte{'a' + byte(id)}}
		var err error
		if burst, err = wire.AppendMarshal(burst, wire.NewHeader(pb.CmdMsgData, 0), m); err != nil {
			t.Fatal(err)
		}
	}
	burst, err := wire.AppendMarshal(burst, wire.NewHeader(pb.CmdMsgTimeResponse, 0), &pb.IMClientTimeRsp{ServerTime: proto.Uint32(5)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sside.Write(burst); err != nil {
		t.Fatal(err)
	}
	for id := uint32(1); id <= 2; id++ {
		select {
		case g := <-msgs:
			if want := (got{7, id, string([]byte{'a' + byte(id)})}); g != want {
				t.Errorf("MsgData got %+v, want %+v", g, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no MsgData call")
		}
		if h := nextFrame(t, frames); h.CommandID != pb.CmdMsgDataAck {
			t.Fatalf("frame %s, want the delivery ack", pb.CommandName(h.CommandID))
		}
	}
	select {
	case ev := <-c.Events():
		if _, ok := ev.(*OtherEvent); !ok {
			t.Errorf("event %T, want the time response as an OtherEvent", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event for the time response")
	}
}
