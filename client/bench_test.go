package client

import (
	"context"
	"io"
	"net"
	"runtime"
	"testing"

	"google.golang.org/protobuf/proto"

	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// oneConnServer accepts one connection and hands it to serve, which returns
// when the connection ends; the connection is then closed.
func oneConnServer(b *testing.B, serve func(net.Conn)) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		serve(conn)
	}()
	b.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

// sinkServer accepts one connection and discards what it reads.
func sinkServer(b *testing.B) string {
	return oneConnServer(b, func(conn net.Conn) { io.Copy(io.Discard, conn) })
}

// ackServer acks every IMMsgData at once, with a hand-built frame.
func ackServer(b *testing.B) string {
	return oneConnServer(b, func(conn net.Conn) {
		dec := wire.NewDecoder(wire.MaxClientFrame)
		ack := &pb.IMMsgDataAck{UserId: proto.Uint32(1), SessionId: proto.Uint32(2), MsgId: proto.Uint32(3), SessionType: pb.SessionType_SESSION_TYPE_SINGLE.Enum()}
		var out []byte
		for {
			_, rerr := dec.Fill(conn)
			out = out[:0]
			for {
				f, err := dec.Next()
				if err != nil || f == nil {
					break
				}
				h := wire.ParseHeader(f)
				if h.CommandID == uint16(pb.MessageCmdID_CID_MSG_DATA) {
					out, _ = wire.AppendMarshal(out, h.Reply(uint16(pb.MessageCmdID_CID_MSG_DATA_ACK)), ack)
				}
			}
			if len(out) > 0 {
				if _, err := conn.Write(out); err != nil {
					return
				}
			}
			if rerr != nil {
				return
			}
		}
	})
}

// BenchmarkSend measures encoding and writing one IMMsgData to the socket
// (the message built once; no reply awaited).
func BenchmarkSend(b *testing.B) {
	c, err := Dial(context.Background(), sinkServer(b), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	m := c.NewTextMsg(2, "hello, this is a benchmark message", false)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Send(uint16(pb.MessageCmdID_CID_MSG_DATA), m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncrypt measures encrypting a short text into a reused buffer.
func BenchmarkEncrypt(b *testing.B) {
	c := testCipher(b)
	text := []byte("hello, this is a benchmark message")
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = c.AppendEncrypt(buf[:0], text)
	}
}

// BenchmarkSendTextAck measures SendText end to end: encrypt, encode, send,
// wait for the ack (one at a time, so mostly loopback latency).
func BenchmarkSendTextAck(b *testing.B) {
	c, err := Dial(context.Background(), ackServer(b), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.SendText(ctx, 2, "hello, this is a benchmark message"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSendMsgAsync measures pipelined sends with ack callbacks, the way
// ttbench drives a client: up to 256 in flight.
func BenchmarkSendMsgAsync(b *testing.B) {
	c, err := Dial(context.Background(), ackServer(b), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	m := c.NewTextMsg(2, "hello, this is a benchmark message", false)
	sem := make(chan struct{}, 256)
	cb := func(_ *pb.IMMsgDataAck, err error) {
		if err != nil {
			b.Error(err)
		}
		<-sem
	}
	b.ReportAllocs()
	for b.Loop() {
		sem <- struct{}{}
		if err := c.SendMsgAsync(m, 0, cb); err != nil {
			b.Fatal(err)
		}
	}
	for range cap(sem) {
		sem <- struct{}{}
	}
}

// BenchmarkIdleClientMemory reports what an idle, connected client costs in
// heap and goroutine stack (client side only; the server side of each
// loopback connection is a bare accepted socket), for sizing ttbench.
func BenchmarkIdleClientMemory(b *testing.B) {
	const n = 1000
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, n)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		clients := make([]*Client, 0, n)
		servers := make([]net.Conn, 0, n)
		for range n {
			c, err := Dial(context.Background(), ln.Addr().String(), Options{Handler: func(Event) {}})
			if err != nil {
				b.Fatal(err)
			}
			clients = append(clients, c)
			servers = append(servers, <-accepted)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64((after.HeapInuse+after.StackInuse)-(before.HeapInuse+before.StackInuse))/n, "bytes/client")
		for i, c := range clients {
			c.Close()
			servers[i].Close()
		}
	}
}
