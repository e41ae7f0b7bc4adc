package wire

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"teamtalk/wire/pb"
)

// TestGoldenVectors decodes every captured frame and re-encodes it byte for
// byte: the header through ParseHeader/Put, the body by command id through
// DecodeBody, the frame through Marshal with the received header (Forward).
func TestGoldenVectors(t *testing.T) {
	vs := loadVectors(t)
	if len(vs) < 100 {
		t.Fatalf("only %d vector frames parsed", len(vs))
	}
	perFile := map[string]int{}
	for _, v := range vs {
		perFile[v.file]++
		t.Run(v.name(), func(t *testing.T) {
			if int(v.h.Length) != HeaderLen+len(v.body) {
				t.Fatalf("len=%d but header+body is %d bytes", v.h.Length, HeaderLen+len(v.body))
			}
			n, err := FrameLen(v.frame, MaxClientFrame)
			if err != nil || n != len(v.frame) {
				t.Fatalf("FrameLen = %d, %v; want %d", n, err, len(v.frame))
			}
			if got := ParseHeader(v.frame); got != v.h {
				t.Fatalf("ParseHeader = %+v, want %+v", got, v.h)
			}
			if want := pb.ServiceOf(v.h.CommandID); want != v.h.ServiceID {
				t.Errorf("sid 0x%04x, the command table says 0x%04x for %s", v.h.ServiceID, want, pb.CommandName(v.h.CommandID))
			}
			h, msg, err := DecodeFrame(v.frame)
			if err != nil {
				t.Fatalf("DecodeFrame %s: %v", pb.CommandName(v.h.CommandID), err)
			}
			if h != v.h {
				t.Fatalf("DecodeFrame header %+v, want %+v", h, v.h)
			}
			if len(msg.ProtoReflect().GetUnknown()) != 0 {
				t.Errorf("%s: unknown fields %x: our schema lacks a field the reference sent", pb.CommandName(v.h.CommandID), msg.ProtoReflect().GetUnknown())
			}
			body, err := MarshalBody(msg)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(body, v.body) {
				t.Fatalf("re-encoded body differs\n got %x\nwant %x", body, v.body)
			}
			frame, err := Marshal(h.Forward(), msg)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(frame, v.frame) {
				t.Fatalf("re-encoded frame differs\n got %x\nwant %x", frame, v.frame)
			}
			// A fresh message built field by field from the decoded one
			// (what a service does when it answers) encodes the same.
			fresh, _ := pb.NewBody(v.h.CommandID)
			proto.Merge(fresh, msg)
			if b, _ := MarshalBody(fresh); !bytes.Equal(b, v.body) {
				t.Fatalf("rebuilt message encodes differently\n got %x\nwant %x", b, v.body)
			}
		})
	}
	for _, f := range []string{"port_8000.txt", "port_10600.txt", "port_8100.txt", "port_8200.txt", "port_8500.txt", "port_8601.txt"} {
		if perFile[f] == 0 {
			t.Errorf("%s: no frames", f)
		}
	}
}

// TestGoldenStream feeds each capture file as one stream, in chunks of
// every size from 1 to 64 bytes, and expects every frame back in order.
func TestGoldenStream(t *testing.T) {
	vs := loadVectors(t)
	var stream []byte
	for _, v := range vs {
		stream = append(stream, v.frame...)
	}
	for chunk := 1; chunk <= 64; chunk++ {
		d := NewDecoder(MaxServerFrame)
		i := 0
		for off := 0; off < len(stream); off += chunk {
			d.Feed(stream[off:min(off+chunk, len(stream))])
			for {
				f, err := d.Next()
				if err != nil {
					t.Fatalf("chunk %d: %v", chunk, err)
				}
				if f == nil {
					break
				}
				if !bytes.Equal(f, vs[i].frame) {
					t.Fatalf("chunk %d: frame %d (%s) differs", chunk, i, vs[i].name())
				}
				i++
			}
		}
		if i != len(vs) || d.Buffered() != 0 {
			t.Fatalf("chunk %d: %d of %d frames, %d bytes left", chunk, i, len(vs), d.Buffered())
		}
	}
}

// TestHTTPVectorPresent only checks the HTTP capture is there; the login
// service's tests own its content.
func TestHTTPVectorPresent(t *testing.T) {
	st, err := os.Stat(filepath.Join(vectorsDir, "http_login_msg_server.txt"))
	if err != nil {
		t.Fatalf("http_login_msg_server.txt: %v", err)
	}
	if st.Size() == 0 {
		t.Fatal("http_login_msg_server.txt is empty")
	}
}
