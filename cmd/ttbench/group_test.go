package main

import (
	"context"
	"net"
	"testing"
	"time"

	"teamtalk/client"
)

func TestGroupText(t *testing.T) {
	c, err := client.NewCipher(client.DefaultKey)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		sender, seq int
		at          time.Duration
		size        int
	}{
		{"start", 0, 0, 0, 40},
		{"late", 12, 98765, 93 * time.Second, 40},
		{"padded", 3, 1, time.Millisecond, 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text := groupText(nil, tc.sender, tc.seq, tc.at, tc.size)
			if len(text) != tc.size {
				t.Fatalf("len %d, want %d", len(text), tc.size)
			}
			s, q, at, ok := parseGroupText(c, nil, c.Encrypt(text))
			if !ok || s != tc.sender || q != tc.seq || at != int64(tc.at) {
				t.Fatalf("parse = %d %d %d %v", s, q, at, ok)
			}
		})
	}
	for _, bad := range [][]byte{nil, []byte("plain"), c.Encrypt([]byte("ttb 1 2 3 ")), c.Encrypt([]byte("ttg 1 2 ")), c.Encrypt([]byte("ttg 1 -2 5 "))} {
		if _, _, _, ok := parseGroupText(c, nil, bad); ok {
			t.Errorf("parseGroupText(%q) ok", bad)
		}
	}
}

// closedClient returns a client whose connection has ended (a member lost
// during the run).
func closedClient(t *testing.T) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.New(pipeConn(t), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("client not done after Close")
	}
	return c
}

func TestGroupCheck(t *testing.T) {
	// Two senders (members 0 and 1) of three members; sender 0 sent seqs
	// 0..2, sender 1 seq 0.
	type member struct {
		got    [][]uint8
		closed bool
	}
	tests := []struct {
		name    string
		states  [][]uint8
		members []member
		want    GroupCheck
	}{
		{"all delivered once",
			[][]uint8{{msgAcked, msgAcked, msgAcked}, {msgAcked}},
			[]member{{got: [][]uint8{nil, {1}}}, {got: [][]uint8{{1, 1, 1}, nil}}, {got: [][]uint8{{1, 1, 1}, {1}}}},
			GroupCheck{Expected: 8, Delivered: 8, MinPerMember: 1, MaxPerMember: 4}},
		{"lost, duplicated, back to the sender",
			[][]uint8{{msgAcked, msgAcked, msgAcked}, {msgAcked}},
			[]member{{got: [][]uint8{{1}, {1}}}, {got: [][]uint8{{1, 0, 1}, nil}}, {got: [][]uint8{{1, 2, 1}, {1}}}},
			GroupCheck{Expected: 8, Delivered: 7, Lost: 1, Duplicates: 1, ToSender: 1, MinPerMember: 2, MaxPerMember: 4}},
		{"failed acks and unknown seqs",
			[][]uint8{{msgAcked, msgFailed}, {msgPending}},
			[]member{{got: [][]uint8{nil, nil}}, {got: [][]uint8{{1, 1, 1}, nil}}, {got: [][]uint8{{1}, {1}}}},
			GroupCheck{Expected: 2, Delivered: 4, DeliveredUnacked: 2, Unknown: 1, MinPerMember: 0, MaxPerMember: 3}},
		{"a lost member is not held to the check",
			[][]uint8{{msgAcked, msgAcked, msgAcked}, {msgAcked}},
			[]member{{got: [][]uint8{nil, {1}}}, {got: [][]uint8{{1, 1, 1}, nil}}, {got: [][]uint8{{1}, nil}, closed: true}},
			GroupCheck{Expected: 4, Delivered: 5, MembersLost: 1, MinPerMember: 1, MaxPerMember: 3}},
	}
	open := func(t *testing.T) *client.Client {
		c, err := client.New(pipeConn(t), client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var snd []*gSender
			for i, st := range tc.states {
				snd = append(snd, &gSender{idx: i, state: st})
			}
			var ms []*gMember
			for i, m := range tc.members {
				gm := &gMember{idx: i, got: m.got}
				for _, g := range m.got {
					for _, d := range g {
						gm.total += uint64(min(d, 1))
					}
				}
				if m.closed {
					gm.c = closedClient(t)
				} else {
					gm.c = open(t)
				}
				ms = append(ms, gm)
			}
			got := groupCheck(ms, snd)
			tc.want.Members, tc.want.Senders = len(ms), len(snd)
			if got != tc.want {
				t.Errorf("groupCheck =\n %+v\nwant\n %+v", got, tc.want)
			}
		})
	}
}

// pipeConn returns one end of an in-memory connection whose other end stays
// open (silent) until the test ends.
func pipeConn(t *testing.T) net.Conn {
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	return a
}
