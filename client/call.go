package client

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"teamtalk/wire"
	"teamtalk/wire/pb"
)

// result is what a pending call completes with.
type result struct {
	h   wire.Header
	msg proto.Message
	err error
}

// call is one request waiting for its reply: a synchronous caller waiting
// on ch, or an asynchronous one with cb. Calls are pooled.
type call struct {
	rspCmd   uint16
	partial  bool  // decode the reply even if required fields are missing
	deadline int64 // async only: unix nanoseconds
	ch       chan result
	cb       func(h wire.Header, msg proto.Message, err error)
}

// callPool recycles calls (and their channels) across requests and clients.
var callPool = sync.Pool{New: func() any { return &call{ch: make(chan result, 1)} }}

func getCall(rspCmd uint16) *call {
	cl := callPool.Get().(*call)
	cl.rspCmd = rspCmd
	return cl
}

func putCall(cl *call) {
	cl.partial, cl.deadline, cl.cb = false, 0, nil
	callPool.Put(cl)
}

// decode decodes a reply body: with the checking rules, or leniently for
// replies the reference sends partial (the device-token reply, §4.11).
func (cl *call) decode(cmd uint16, body []byte) (proto.Message, error) {
	if !cl.partial {
		return wire.DecodeBody(cmd, body)
	}
	msg, ok := pb.NewBody(cmd)
	if !ok {
		return nil, fmt.Errorf("%w 0x%04x", wire.ErrUnknownCommand, cmd)
	}
	if err := (proto.UnmarshalOptions{AllowPartial: true}).Unmarshal(body, msg); err != nil {
		return nil, fmt.Errorf("client: decode %s: %w: %w", pb.CommandName(cmd), wire.ErrBadBody, err)
	}
	return msg, nil
}

// complete hands the result to the waiter. Exactly one party completes a
// call: whoever removed it from the pending map.
func (cl *call) complete(h wire.Header, msg proto.Message, err error) {
	if cl.cb != nil {
		cb := cl.cb
		putCall(cl)
		cb(h, msg, err)
		return
	}
	cl.ch <- result{h, msg, err}
}

// register files cl under a fresh seq and returns the seq.
func (c *Client) register(cl *call) (uint16, error) {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	if c.closed {
		return 0, c.closeErr
	}
	for range 1 << 16 {
		seq := c.nextSeqLocked()
		if _, busy := c.pending[seq]; !busy {
			c.pending[seq] = cl
			if cl.cb != nil {
				c.nasync++
				if !c.sweeping {
					c.sweeping = true
					c.armSweep()
				}
			}
			return seq, nil
		}
	}
	return 0, ErrTooManyPending
}

// unregister removes cl from the pending map if it is still there and
// reports whether it was (then the caller owns it).
func (c *Client) unregister(seq uint16, cl *call) bool {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	if c.pending[seq] != cl {
		return false
	}
	delete(c.pending, seq)
	if cl.cb != nil {
		c.nasync--
	}
	return true
}

// abandon gives up a synchronous call: if the reader (or Close) already took
// it, its result is on the way and is drained so the call can be reused.
func (c *Client) abandon(seq uint16, cl *call) {
	if !c.unregister(seq, cl) {
		<-cl.ch
	}
	putCall(cl)
}

// Request sends req as cmd and waits for the reply rspCmd with the same seq,
// or for ctx to end, or for the client to close. It is the generic form of
// every call below; the reply is returned decoded.
func (c *Client) Request(ctx context.Context, cmd uint16, req proto.Message, rspCmd uint16) (proto.Message, error) {
	_, msg, err := c.roundTrip(ctx, cmd, req, rspCmd, false)
	return msg, err
}

// roundTrip is Request returning the reply's header too.
func (c *Client) roundTrip(ctx context.Context, cmd uint16, req proto.Message, rspCmd uint16, partial bool) (wire.Header, proto.Message, error) {
	if err := ctx.Err(); err != nil {
		return wire.Header{}, nil, fmt.Errorf("client: %s: %w", pb.CommandName(cmd), err)
	}
	cl := getCall(rspCmd)
	cl.partial = partial
	seq, err := c.register(cl)
	if err != nil {
		putCall(cl)
		return wire.Header{}, nil, fmt.Errorf("client: %s: %w", pb.CommandName(cmd), err)
	}
	if err := c.send(cmd, seq, req); err != nil {
		c.abandon(seq, cl)
		return wire.Header{}, nil, err
	}
	select {
	case r := <-cl.ch:
		putCall(cl)
		if r.err != nil {
			return r.h, nil, fmt.Errorf("client: %s: %w", pb.CommandName(cmd), r.err)
		}
		return r.h, r.msg, nil
	case <-ctx.Done():
		c.abandon(seq, cl)
		return wire.Header{}, nil, fmt.Errorf("client: %s: %w", pb.CommandName(cmd), ctx.Err())
	}
}

// Go sends req as cmd and returns at once; cb is called once with the reply
// rspCmd, or with an error (ErrTimeout after timeout, 0 meaning
// Options.AsyncTimeout; ErrClosed). cb runs on the reader goroutine (or the
// goroutine that closes the client, or the timeout sweep): it must not block
// nor make calls that wait for a reply on this client. An error returned by
// Go itself means cb will not be called.
func (c *Client) Go(cmd uint16, req proto.Message, rspCmd uint16, timeout time.Duration, cb func(h wire.Header, rsp proto.Message, err error)) error {
	if timeout <= 0 {
		timeout = c.opt.AsyncTimeout
	}
	cl := getCall(rspCmd)
	cl.cb = cb
	cl.deadline = time.Now().Add(timeout).UnixNano()
	seq, err := c.register(cl)
	if err != nil {
		putCall(cl)
		return fmt.Errorf("client: %s: %w", pb.CommandName(cmd), err)
	}
	if err := c.send(cmd, seq, req); err != nil {
		if c.unregister(seq, cl) {
			putCall(cl)
			return err
		}
		return nil // completed (with ErrClosed) by the shutdown the failed write caused
	}
	return nil
}

// sweepEvery is how often pending asynchronous calls are checked for their
// deadline while there are any.
const sweepEvery = 250 * time.Millisecond

// armSweep starts or resets the sweep timer; c.pmu must be held.
func (c *Client) armSweep() {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	if c.timersStopped {
		return
	}
	if c.swTimer == nil {
		c.swTimer = time.AfterFunc(sweepEvery, c.sweep)
		return
	}
	c.swTimer.Reset(sweepEvery)
}

// sweep fails the asynchronous calls past their deadline with ErrTimeout and
// re-arms itself while asynchronous calls remain.
func (c *Client) sweep() {
	if !c.timerStart() {
		return
	}
	defer c.timerWG.Done()
	now := time.Now().UnixNano()
	var expired []*call
	c.pmu.Lock()
	for seq, cl := range c.pending {
		if cl.cb != nil && cl.deadline <= now {
			delete(c.pending, seq)
			c.nasync--
			expired = append(expired, cl)
		}
	}
	if c.nasync > 0 && !c.closed {
		c.armSweep()
	} else {
		c.sweeping = false
	}
	c.pmu.Unlock()
	for _, cl := range expired {
		cl.complete(wire.Header{}, nil, ErrTimeout)
	}
}
