package dbproxy

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"teamtalk/netloop"
	"teamtalk/wire"
)

// job is one decoded request waiting for (or running on) a worker.
type job struct {
	conn    netloop.ConnID
	hdr     wire.Header
	h       *handler
	req     proto.Message
	arrived time.Time
	// raw and msg are a text message's own copy of its frame and its
	// fields as wire.ScanMsgData read them (req is nil then): saved and
	// answered without a decode or a marshal.
	raw []byte
	msg wire.MsgDataFields
}

// pool is the bounded set of workers. Each worker has its own queue, for
// requests that must keep their order (the messages of one conversation are
// always queued on the same worker), and all of them serve one shared queue
// for everything else.
type pool struct {
	own    []chan *job
	shared chan *job
	wg     sync.WaitGroup
	// pending counts requests queued or running.
	pending atomic.Int64
	once    sync.Once
}

func newPool(workers, perWorker int) *pool {
	p := &pool{
		own:    make([]chan *job, workers),
		shared: make(chan *job, workers*perWorker),
	}
	for i := range p.own {
		p.own[i] = make(chan *job, perWorker)
	}
	return p
}

// start runs the workers; each job is passed to run with ctx.
func (p *pool) start(ctx context.Context, run func(context.Context, *job)) {
	for i := range p.own {
		p.wg.Add(1)
		go p.work(ctx, p.own[i], run)
	}
}

func (p *pool) work(ctx context.Context, own chan *job, run func(context.Context, *job)) {
	defer p.wg.Done()
	shared := p.shared
	for own != nil || shared != nil {
		var j *job
		var ok bool
		// Ordered work first, so one busy conversation does not wait behind
		// the shared queue more than one request at a time.
		select {
		case j, ok = <-own:
			if !ok {
				own = nil
				continue
			}
		default:
			select {
			case j, ok = <-own:
				if !ok {
					own = nil
					continue
				}
			case j, ok = <-shared:
				if !ok {
					shared = nil
					continue
				}
			}
		}
		run(ctx, j)
		p.pending.Add(-1)
	}
}

// submit queues j: on the worker chosen by key when keyed, else on the shared
// queue. It never blocks; it reports false when the queue is full.
func (p *pool) submit(j *job, key uint64, keyed bool) bool {
	ch := p.shared
	if keyed {
		ch = p.own[key%uint64(len(p.own))]
	}
	p.pending.Add(1)
	select {
	case ch <- j:
		return true
	default:
		p.pending.Add(-1)
		return false
	}
}

// busy reports whether any request is queued or running.
func (p *pool) busy() bool { return p.pending.Load() > 0 }

// stop closes the queues and waits for the workers to finish what is queued.
// No submit may run after (or during) stop.
func (p *pool) stop() {
	p.once.Do(func() {
		for _, ch := range p.own {
			close(ch)
		}
		close(p.shared)
	})
	p.wg.Wait()
}
