package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"teamtalk/client"
	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// P2PCheck is the exactly-once, in-order check of the p2p scenario, over
// every message a sender sent. Lost counts acked messages never delivered;
// OutOfOrder counts deliveries of a lower seq after a higher one of the same
// sender.
type P2PCheck struct {
	Sent             uint64  `json:"sent"`
	Acked            uint64  `json:"acked"`
	Delivered        uint64  `json:"delivered"` // distinct messages delivered
	Lost             uint64  `json:"lost"`
	Duplicates       uint64  `json:"duplicates"`
	OutOfOrder       uint64  `json:"out_of_order"`
	DeliveredUnacked uint64  `json:"delivered_unacked"` // delivered, but the ack failed (timeout or close)
	Unknown          uint64  `json:"unknown"`           // deliveries not made by this run
	DeliveryRate     float64 `json:"delivered_per_s"`
	Delivery         Latency `json:"delivery_ms"` // send to arrival at the receiver
}

// msg states of a pair's seq.
const (
	msgPending = iota
	msgAcked
	msgFailed
)

// pair is one sender and its receiver, and what happened to each seq.
type pair struct {
	idx      int
	sender   *client.Client
	receiver *client.Client
	to       uint32 // the receiver's user id
	scratch  []byte // the receiver's decrypt buffer (its reader goroutine's)
	tokens   chan struct{}

	mu       sync.Mutex
	sendAt   []time.Duration // seq → send time since the run's start
	state    []uint8         // seq → msgPending, msgAcked, msgFailed
	deliv    []uint8         // seq → deliveries seen (saturating)
	lastSeq  int             // highest seq delivered so far, -1 before any
	ooo      uint64
	unknown  uint64
	delivCnt uint64
}

// runP2P runs PAIRS pairs of users: each sender keeps INFLIGHT messages
// (SIZE bytes of text, encrypted as clients do) in flight to its receiver for
// DURATION, timing each from send to the server's ack and to the delivery;
// then it drains, and checks every acked message arrived exactly once and in
// the sender's order.
func runP2P(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, t := scenarioFlags("p2p", stderr)
	pairs := fs.Int("pairs", 100, "sender/receiver pairs (users PREFIX1..PREFIX2P: odd ones send to the next)")
	inflight := fs.Int("inflight", 10, "messages in flight per sender")
	size := fs.Int("size", 100, "plain text bytes per message (at least 24)")
	dur := fs.Duration("duration", 10*time.Second, "how long senders send")
	grace := fs.Duration("grace", 5*time.Second, "how long to wait after the last ack for deliveries")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *pairs < 1 || *inflight < 1 || *size < 24 || *dur <= 0 {
		fmt.Fprintln(stderr, "ttbench p2p: -pairs and -inflight must be positive, -size at least 24, -duration positive")
		return errUsage
	}
	if err := t.resolve(ctx); err != nil {
		return err
	}
	if _, err := raiseNoFile(2 * *pairs); err != nil {
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
		start              time.Time
		startOnce          = make(chan struct{})
	)
	ps := make([]*pair, *pairs)
	for i := range ps {
		ps[i] = &pair{idx: i, lastSeq: -1, tokens: make(chan struct{}, *inflight)}
	}

	// onMessage runs on a receiver's reader goroutine.
	onMessage := func(p *pair) func(wire.Header, wire.MsgDataFields) {
		return func(_ wire.Header, f wire.MsgDataFields) {
			<-startOnce // start is set before the first send
			now := time.Since(start)
			pi, seq, ok := parseBenchText(cipher, &p.scratch, f.Data)
			if !ok || pi != p.idx {
				p.mu.Lock()
				p.unknown++
				p.mu.Unlock()
				return
			}
			p.mu.Lock()
			defer p.mu.Unlock()
			if seq >= len(p.sendAt) {
				p.unknown++
				return
			}
			if p.deliv[seq] == 0 {
				delivHist.Record(now - p.sendAt[seq])
				p.delivCnt++
			}
			if p.deliv[seq] < 255 {
				p.deliv[seq]++
			}
			if seq < p.lastSeq {
				p.ooo++
			} else {
				p.lastSeq = seq
			}
		}
	}

	// Log everyone in, 100 at a time.
	cpu0 := cpuTime()
	fmt.Fprintf(stderr, "ttbench p2p: logging in %d users (%s)\n", 2**pairs, t.ctype)
	defer forEach(context.Background(), 2**pairs, 100, func(j int) error {
		c := ps[j/2].sender
		if j%2 == 1 {
			c = ps[j/2].receiver
		}
		if c != nil {
			c.Close()
		}
		return nil
	})
	opts := client.Options{AsyncTimeout: t.timeout, DropEvents: true, EventBuffer: 4}
	err = forEach(ctx, 2**pairs, 100, func(j int) error {
		p := ps[j/2]
		o := opts
		if j%2 == 1 {
			o.MsgData = onMessage(p)
		}
		c, res, kind, err := t.connect(ctx, j+1, 2**pairs, o)
		if err != nil {
			return fmt.Errorf("log in %s: %s: %w", t.userName(j+1), kind, err)
		}
		if j%2 == 0 {
			p.sender = c
		} else {
			p.receiver = c
			p.to = res.User.GetUserId()
		}
		return nil
	})
	if err != nil {
		return err
	}

	// Send.
	sendCtx, cancel := context.WithTimeout(ctx, *dur)
	defer cancel()
	start = time.Now()
	close(startOnce)
	var lastAcked atomic.Uint64
	stop := progress(stderr, "p2p", func(el time.Duration) string {
		a := acked.Load()
		rate := a - lastAcked.Swap(a)
		return fmt.Sprintf("acked %d (%d/s) inflight %d ack p99 %s delivery p99 %s errors %d",
			a, rate, sent.Load()-a-uint64(errs.total()), fmtMS(float64(ackHist.Quantile(0.99))/1e6), fmtMS(float64(delivHist.Quantile(0.99))/1e6), errs.total())
	})
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sendLoop(sendCtx, p, *inflight, *size, cipher, start, t, &ackHist, &errs, &sent, &acked)
		}()
	}
	wg.Wait() // every ack (or its failure) is in
	window := time.Since(start)

	// Wait for the deliveries of every acked message.
	deadline := time.Now().Add(*grace)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		var delivered uint64
		for _, p := range ps {
			p.mu.Lock()
			delivered += p.delivCnt
			p.mu.Unlock()
		}
		if delivered >= acked.Load() {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()

	chk := P2PCheck{Sent: sent.Load(), Acked: acked.Load()}
	for _, p := range ps {
		p.mu.Lock()
		for seq, st := range p.state {
			d := p.deliv[seq]
			if d > 0 {
				chk.Delivered++
				chk.Duplicates += uint64(d - 1)
			}
			switch {
			case st == msgAcked && d == 0:
				chk.Lost++
			case st != msgAcked && d > 0:
				chk.DeliveredUnacked++
			}
		}
		chk.OutOfOrder += p.ooo
		chk.Unknown += p.unknown
		p.mu.Unlock()
	}
	chk.Delivery = delivHist.Summary()
	chk.DeliveryRate = round2(float64(chk.Delivered) / window.Seconds())
	res := Result{
		Scenario:   "p2p",
		Target:     t.describe(),
		ClientType: t.ctype,
		Params:     map[string]any{"pairs": *pairs, "inflight": *inflight, "size": *size, "duration": dur.String()},
		Seconds:    round2(window.Seconds()),
		Unit:       "msgs",
		Ops:        chk.Acked,
		Rate:       round2(float64(chk.Acked) / window.Seconds()),
		Latency:    ackHist.Summary(),
		Errors:     errs.snapshot(),
		ClientCPU:  round2((cpuTime() - cpu0).Seconds()),
		P2P:        &chk,
	}
	res.OK = len(res.Errors) == 0 && chk.Acked > 0 && chk.Lost == 0 && chk.Duplicates == 0 && chk.OutOfOrder == 0 && chk.Unknown == 0
	if err := res.print(stdout); err != nil {
		return err
	}
	if !res.OK {
		return fmt.Errorf("p2p: check failed: %d errors, %d lost, %d duplicated, %d out of order, %d unknown",
			errs.total(), chk.Lost, chk.Duplicates, chk.OutOfOrder, chk.Unknown)
	}
	return nil
}

// sendLoop keeps inflight messages of p in flight until ctx ends, then
// waits for the outstanding acks (each ends in an ack or an error).
func sendLoop(ctx context.Context, p *pair, inflight, size int, cipher *client.Cipher, start time.Time, t *target,
	ackHist *Hist, errs *errCounts, sent, acked *atomic.Uint64) {
	text := make([]byte, 0, size)
	from := p.sender.UserID()
	next := func(seq int, now time.Time) *pb.IMMsgData {
		text = benchText(text[:0], p.idx, seq, size)
		m := &pb.IMMsgData{
			FromUserId:  new(from),
			ToSessionId: new(p.to),
			MsgId:       new(uint32(0)),
			CreateTime:  new(uint32(now.Unix())),
			MsgType:     pb.MsgType_MSG_TYPE_SINGLE_TEXT.Enum(),
			MsgData:     cipher.AppendEncrypt(nil, text),
		}
		p.mu.Lock()
		p.sendAt = append(p.sendAt, now.Sub(start))
		p.state = append(p.state, msgPending)
		p.deliv = append(p.deliv, 0)
		p.mu.Unlock()
		return m
	}
	setState := func(seq int, st uint8) {
		p.mu.Lock()
		p.state[seq] = st
		p.mu.Unlock()
	}
	keepInFlight(ctx, p.sender, p.tokens, inflight, t.timeout, next, setState, ackHist, errs, sent, acked)
}

// keepInFlight sends next(seq, now) on c, inflight messages at a time (one
// token of tokens each), until ctx ends, then takes every token back: each
// send ends in an ack or an error, and setState records which (msgAcked or
// msgFailed). It also stops when c is closed.
func keepInFlight(ctx context.Context, c *client.Client, tokens chan struct{}, inflight int, timeout time.Duration,
	next func(seq int, now time.Time) *pb.IMMsgData, setState func(seq int, st uint8),
	ackHist *Hist, errs *errCounts, sent, acked *atomic.Uint64) {
	for range inflight {
		tokens <- struct{}{}
	}
	drain := func() {
		for range inflight {
			<-tokens
		}
	}
	send := func(seq int) bool {
		now := time.Now()
		m := next(seq, now)
		sent.Add(1)
		err := c.SendMsgAsync(m, timeout, func(_ *pb.IMMsgDataAck, err error) {
			d := time.Since(now)
			if err == nil {
				setState(seq, msgAcked)
				ackHist.Record(d)
				acked.Add(1)
			} else {
				setState(seq, msgFailed)
				errs.add(errKind("ack", err))
			}
			tokens <- struct{}{}
		})
		if err != nil {
			setState(seq, msgFailed)
			errs.add(errKind("send", err))
			tokens <- struct{}{}
			return !errors.Is(err, client.ErrClosed)
		}
		return true
	}
	for seq := 0; ; {
		select {
		case <-ctx.Done():
			drain()
			return
		case <-tokens:
		}
		// Every free slot is sent at once, in one write (as a client with
		// several messages typed does): the first token, then those freed
		// meanwhile.
		c.Cork()
		ok := send(seq)
		seq++
	more:
		for ok {
			select {
			case <-tokens:
				ok = send(seq)
				seq++
			default:
				break more
			}
		}
		if err := c.Uncork(); err != nil {
			ok = false
		}
		if !ok {
			drain()
			return
		}
	}
}

// benchText appends the plain text of message seq of pair pi, padded with
// 'x' to size bytes: "ttb PAIR SEQ xxx...".
func benchText(dst []byte, pi, seq, size int) []byte {
	return appendIntsText(dst, "ttb ", size, int64(pi), int64(seq))
}

// parseBenchText decrypts a message body and reads its pair and seq.
func parseBenchText(c *client.Cipher, scratch *[]byte, data []byte) (pi, seq int, ok bool) {
	var v [2]int64
	if !parseIntsText(c, scratch, data, "ttb ", v[:]) {
		return 0, 0, false
	}
	return int(v[0]), int(v[1]), true
}

// appendIntsText appends prefix, then each of vs followed by a space, padded
// with 'x' to size bytes.
func appendIntsText(dst []byte, prefix string, size int, vs ...int64) []byte {
	dst = append(dst, prefix...)
	for _, v := range vs {
		dst = strconv.AppendInt(dst, v, 10)
		dst = append(dst, ' ')
	}
	for len(dst) < size {
		dst = append(dst, 'x')
	}
	return dst
}

// parseIntsText decrypts a message body written by appendIntsText with
// prefix and reads its first len(out) numbers, which must not be negative.
func parseIntsText(c *client.Cipher, scratch *[]byte, data []byte, prefix string, out []int64) bool {
	var dst []byte
	if scratch != nil {
		dst = (*scratch)[:0]
	}
	plain, err := c.AppendDecrypt(dst, data)
	if err != nil {
		return false
	}
	if scratch != nil {
		*scratch = plain // reused by the next call: no allocation once grown
	}
	rest, found := bytes.CutPrefix(plain, []byte(prefix))
	if !found {
		return false
	}
	// The numbers, space separated, read without allocating: the
	// receivers of a busy run parse millions.
	for i := range out {
		rest = bytes.TrimLeft(rest, " ")
		n := 0
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 0 || n > 18 || (n < len(rest) && rest[n] != ' ') {
			return false
		}
		var v int64
		for _, d := range rest[:n] {
			v = v*10 + int64(d-'0')
		}
		out[i] = v
		rest = rest[n:]
	}
	return true
}

// forEach runs fn(0..n-1) on up to conc goroutines and returns the first
// error (the others still finish).
func forEach(ctx context.Context, n, conc int, fn func(i int) error) error {
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range min(conc, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return firstErr
}
