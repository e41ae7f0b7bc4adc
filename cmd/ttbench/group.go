package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"teamtalk/client"
	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// GroupCheck is the exactly-once check of the group scenario: every acked
// message must reach every other member that is online, once. Deliveries
// count member connections written to (a message to a group of M members
// makes M-1 deliveries).
type GroupCheck struct {
	Members          int     `json:"members"`
	Senders          int     `json:"senders"`
	GroupID          uint32  `json:"group_id"`
	Sent             uint64  `json:"sent"`
	Acked            uint64  `json:"acked"`
	MsgRate          float64 `json:"msgs_per_s"`
	Ack              Latency `json:"ack_ms"`              // send to the server's ack, at the sender
	Expected         uint64  `json:"expected_deliveries"` // acked × (online members - 1)
	Delivered        uint64  `json:"delivered"`           // distinct (member, message) deliveries
	Lost             uint64  `json:"lost"`                // acked, but a member online throughout never got it
	Duplicates       uint64  `json:"duplicates"`
	ToSender         uint64  `json:"to_sender"`         // a sender got its own message back on the sending connection
	DeliveredUnacked uint64  `json:"delivered_unacked"` // (member, message) deliveries of messages whose ack failed
	Unknown          uint64  `json:"unknown"`           // deliveries not made by this run
	MembersLost      int     `json:"members_lost"`      // members whose connection ended during the run
	MinPerMember     uint64  `json:"min_per_member"`    // fewest messages a member received
	MaxPerMember     uint64  `json:"max_per_member"`    // most messages a member received
}

// gSender is one sending member and the state of each of its seqs.
type gSender struct {
	idx    int // member index
	c      *client.Client
	tokens chan struct{}

	mu    sync.Mutex
	state []uint8 // seq → msgPending, msgAcked, msgFailed
}

// gMember is one logged-in member and what it received, by sender and seq.
// Its handler (the client's reader goroutine) is the only writer.
type gMember struct {
	idx     int
	c       *client.Client
	id      uint32
	scratch []byte // the decrypt buffer of the member's reader goroutine

	mu      sync.Mutex
	got     [][]uint8 // sender index → seq → deliveries (saturating)
	total   uint64
	unknown uint64
}

// runGroup logs in SIZE members (PREFIX1..PREFIXSIZE), has the first create
// a (temporary) group of all of them, then SENDERS of them (the first ones)
// each keep INFLIGHT group messages in flight for DURATION. Every member
// counts what it receives; at the end every acked message must have reached
// every other member exactly once. It reports deliveries/s and the
// delivery latency (send to arrival at a member), and the senders' msgs/s
// and ack latency.
func runGroup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, t := scenarioFlags("group", stderr)
	size := fs.Int("size", 500, "group members (users PREFIX1..PREFIXSIZE), all logged in; at most dbproxy.max_group_members")
	senders := fs.Int("senders", 1, "members that send (PREFIX1..PREFIXSENDERS)")
	inflight := fs.Int("inflight", 16, "messages in flight per sender")
	bytesN := fs.Int("bytes", 40, "plain text bytes per message (at least 40)")
	dur := fs.Duration("duration", 10*time.Second, "how long senders send")
	grace := fs.Duration("grace", 10*time.Second, "how long to wait after the last ack for deliveries")
	acks := fs.Bool("acks", false, "members acknowledge every delivery (0x0302) as real clients do; off measures the fan-out alone")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *size < 2 || *senders < 1 || *senders > *size || *inflight < 1 || *bytesN < 40 || *dur <= 0 {
		fmt.Fprintln(stderr, "ttbench group: -size at least 2, -senders between 1 and -size, -inflight positive, -bytes at least 40, -duration positive")
		return errUsage
	}
	if err := t.resolve(ctx); err != nil {
		return err
	}
	if _, err := raiseNoFile(*size); err != nil {
		return err
	}
	cipher, err := client.NewCipher(client.DefaultKey)
	if err != nil {
		return err
	}
	var (
		ackHist, delivHist Hist
		errs               errCounts
		sent, acked        atomic.Uint64
		delivered          atomic.Uint64
		startNanos         atomic.Int64 // the run's start, unix nanos; 0 before
	)
	members := make([]*gMember, *size)
	for i := range members {
		members[i] = &gMember{idx: i, got: make([][]uint8, *senders)}
	}
	snd := make([]*gSender, *senders)
	for i := range snd {
		snd[i] = &gSender{idx: i, tokens: make(chan struct{}, *inflight)}
	}

	onMessage := func(m *gMember) func(wire.Header, wire.MsgDataFields) {
		return func(_ wire.Header, f wire.MsgDataFields) {
			if f.Type != pb.MsgType_MSG_TYPE_GROUP_TEXT {
				return
			}
			s0 := startNanos.Load()
			si, seq, at, ok := parseGroupText(cipher, &m.scratch, f.Data)
			m.mu.Lock()
			defer m.mu.Unlock()
			if !ok || si >= len(m.got) || s0 == 0 {
				m.unknown++
				return
			}
			if seq >= len(m.got[si]) {
				n := max(seq+1, 2*len(m.got[si]), 64)
				g := make([]uint8, n)
				copy(g, m.got[si])
				m.got[si] = g
			}
			if m.got[si][seq] == 0 {
				delivHist.Record(time.Duration(time.Now().UnixNano() - s0 - at))
				delivered.Add(1)
				m.total++
			}
			if m.got[si][seq] < 255 {
				m.got[si][seq]++
			}
		}
	}

	cpu0 := cpuTime()
	fmt.Fprintf(stderr, "ttbench group: logging in %d members (%s)\n", *size, t.ctype)
	defer func() {
		forEach(context.Background(), len(members), 100, func(i int) error {
			if c := members[i].c; c != nil {
				c.Close()
			}
			return nil
		})
	}()
	opts := client.Options{AsyncTimeout: t.timeout, DropEvents: true, EventBuffer: 4, NoDeliveryAck: !*acks, Cipher: cipher}
	err = forEach(ctx, *size, 100, func(i int) error {
		m := members[i]
		o := opts
		o.MsgData = onMessage(m)
		c, res, kind, err := t.connect(ctx, i+1, *size, o)
		if err != nil {
			return fmt.Errorf("log in %s: %s: %w", t.userName(i+1), kind, err)
		}
		m.c, m.id = c, res.User.GetUserId()
		return nil
	})
	if err != nil {
		return err
	}
	for i, s := range snd {
		s.c = members[i].c
	}
	ids := make([]uint32, len(members))
	for i, m := range members {
		ids[i] = m.id
	}
	cctx, ccancel := context.WithTimeout(ctx, 4*t.timeout)
	rsp, err := members[0].c.CreateGroup(cctx, fmt.Sprintf("ttbench-%d", time.Now().UnixNano()), "", ids)
	ccancel()
	if err != nil {
		return fmt.Errorf("create the group of %d: %w", len(ids), err)
	}
	gid := rsp.GetGroupId()
	if n := len(rsp.GetUserIdList()); n != len(ids) {
		return fmt.Errorf("created group %d has %d members, want %d (dbproxy.max_group_members?)", gid, n, len(ids))
	}
	fmt.Fprintf(stderr, "ttbench group: group %d of %d members, %d sending\n", gid, len(ids), *senders)

	sendCtx, cancel := context.WithTimeout(ctx, *dur)
	defer cancel()
	start := time.Now()
	startNanos.Store(start.UnixNano())
	var lastDeliv atomic.Uint64
	stop := progress(stderr, "group", func(time.Duration) string {
		d := delivered.Load()
		return fmt.Sprintf("acked %d deliveries %d (%d/s) ack p99 %s delivery p99 %s errors %d",
			acked.Load(), d, d-lastDeliv.Swap(d), fmtMS(float64(ackHist.Quantile(0.99))/1e6), fmtMS(float64(delivHist.Quantile(0.99))/1e6), errs.total())
	})
	var wg sync.WaitGroup
	for _, s := range snd {
		wg.Add(1)
		go func() {
			defer wg.Done()
			groupSendLoop(sendCtx, s, gid, *inflight, *bytesN, cipher, start, t.timeout, &ackHist, &errs, &sent, &acked)
		}()
	}
	wg.Wait()
	sendWindow := time.Since(start)

	// Wait until every online member has every acked message (or grace).
	online := func() int {
		n := 0
		for _, m := range members {
			if !ended(m.c) {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(*grace)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if delivered.Load() >= acked.Load()*uint64(online()-1) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	window := time.Since(start)
	time.Sleep(50 * time.Millisecond) // duplicates would arrive by now
	stop()

	chk := groupCheck(members, snd)
	chk.GroupID, chk.Sent, chk.Acked = gid, sent.Load(), acked.Load()
	chk.Ack = ackHist.Summary()
	chk.MsgRate = round2(float64(chk.Acked) / sendWindow.Seconds())
	res := Result{
		Scenario:   "group",
		Target:     t.describe(),
		ClientType: t.ctype,
		Params:     map[string]any{"size": *size, "senders": *senders, "inflight": *inflight, "bytes": *bytesN, "duration": dur.String(), "acks": *acks},
		Seconds:    round2(window.Seconds()),
		Unit:       "deliveries",
		Ops:        chk.Delivered,
		Rate:       round2(float64(chk.Delivered) / window.Seconds()),
		Latency:    delivHist.Summary(),
		Errors:     errs.snapshot(),
		ClientCPU:  round2((cpuTime() - cpu0).Seconds()),
		Group:      &chk,
	}
	res.OK = len(res.Errors) == 0 && chk.Acked > 0 && chk.Lost == 0 && chk.Duplicates == 0 &&
		chk.ToSender == 0 && chk.Unknown == 0 && chk.MembersLost == 0
	if err := res.print(stdout); err != nil {
		return err
	}
	if !res.OK {
		return fmt.Errorf("group: check failed: %d errors, %d lost, %d duplicated, %d back to the sender, %d unknown, %d members lost",
			errs.total(), chk.Lost, chk.Duplicates, chk.ToSender, chk.Unknown, chk.MembersLost)
	}
	return nil
}

// groupCheck compares what each member received with what each sender had
// acked. Members whose connection ended are not held to the exactly-once
// rule (they are counted in MembersLost).
func groupCheck(members []*gMember, snd []*gSender) GroupCheck {
	chk := GroupCheck{Members: len(members), Senders: len(snd)}
	chk.MinPerMember = ^uint64(0)
	states := make([][]uint8, len(snd))
	for i, s := range snd {
		s.mu.Lock()
		states[i] = append([]uint8(nil), s.state...)
		s.mu.Unlock()
	}
	for _, m := range members {
		alive := !ended(m.c)
		if !alive {
			chk.MembersLost++
		}
		m.mu.Lock()
		chk.Unknown += m.unknown
		chk.MinPerMember = min(chk.MinPerMember, m.total)
		chk.MaxPerMember = max(chk.MaxPerMember, m.total)
		for si, st := range states {
			got := m.got[si]
			for seq, s := range st {
				d := uint8(0)
				if seq < len(got) {
					d = got[seq]
				}
				if si == m.idx {
					chk.ToSender += uint64(d)
					continue
				}
				if d > 0 {
					chk.Delivered++
					chk.Duplicates += uint64(d - 1)
				}
				switch {
				case s == msgAcked && alive:
					chk.Expected++
					if d == 0 {
						chk.Lost++
					}
				case s != msgAcked && d > 0:
					chk.DeliveredUnacked++
				}
			}
			if len(got) > len(st) {
				for _, d := range got[len(st):] {
					chk.Unknown += uint64(d)
				}
			}
		}
		m.mu.Unlock()
	}
	if len(members) == 0 {
		chk.MinPerMember = 0
	}
	return chk
}

// ended reports whether c's connection has ended.
func ended(c *client.Client) bool {
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}

// groupSendLoop keeps inflight group messages of s in flight until ctx
// ends, then waits for the outstanding acks.
func groupSendLoop(ctx context.Context, s *gSender, gid uint32, inflight, size int, cipher *client.Cipher, start time.Time,
	timeout time.Duration, ackHist *Hist, errs *errCounts, sent, acked *atomic.Uint64) {
	text := make([]byte, 0, size)
	from := s.c.UserID()
	next := func(seq int, now time.Time) *pb.IMMsgData {
		text = groupText(text[:0], s.idx, seq, now.Sub(start), size)
		m := &pb.IMMsgData{
			FromUserId:  new(from),
			ToSessionId: new(gid),
			MsgId:       new(uint32(0)),
			CreateTime:  new(uint32(now.Unix())),
			MsgType:     pb.MsgType_MSG_TYPE_GROUP_TEXT.Enum(),
			MsgData:     cipher.AppendEncrypt(nil, text),
		}
		s.mu.Lock()
		s.state = append(s.state, msgPending)
		s.mu.Unlock()
		return m
	}
	setState := func(seq int, st uint8) {
		s.mu.Lock()
		s.state[seq] = st
		s.mu.Unlock()
	}
	keepInFlight(ctx, s.c, s.tokens, inflight, timeout, next, setState, ackHist, errs, sent, acked)
}

// groupText appends the plain text of group message seq of sender si, sent
// at offset at from the run's start, padded with 'x' to size bytes:
// "ttg SENDER SEQ NANOS xxx...".
func groupText(dst []byte, si, seq int, at time.Duration, size int) []byte {
	return appendIntsText(dst, "ttg ", size, int64(si), int64(seq), int64(at))
}

// parseGroupText decrypts a group message body and reads its sender, seq
// and send offset (nanoseconds since the run's start).
func parseGroupText(c *client.Cipher, scratch *[]byte, data []byte) (si, seq int, at int64, ok bool) {
	var v [3]int64
	if !parseIntsText(c, scratch, data, "ttg ", v[:]) {
		return 0, 0, 0, false
	}
	return int(v[0]), int(v[1]), v[2], true
}
