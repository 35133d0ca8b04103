package kafka

import (
	"context"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/idemkit/idem/brokers"
)

// partition is one owned partition: its queue of polled records and the worker
// that hands them to the inbox in offset order.
type partition struct {
	c         *Consumer
	topic     string
	partition int32
	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{}
	wake      chan struct{}

	mu     sync.Mutex
	queue  []*kgo.Record
	paused bool
	// handled is the last record whose outcome is known; committed is the offset
	// committed for the partition (the next record to read), -1 before any.
	handled   *kgo.Record
	committed int64
	pending   uint64 // records acknowledged by the commit in progress
	pendingTo int64  // the offset the commit in progress commits
	acked     uint64 // records handled since the last commit
}

func newPartition(c *Consumer, topic string, n int32) *partition {
	ctx, cancel := context.WithCancel(c.runCtx)
	return &partition{c: c, topic: topic, partition: n, ctx: ctx, cancel: cancel,
		done: make(chan struct{}), wake: make(chan struct{}, 1), committed: -1}
}

// push queues records and reports whether the partition's fetching must pause.
func (p *partition) push(recs []*kgo.Record) (pause bool) {
	p.mu.Lock()
	p.queue = append(p.queue, recs...)
	if len(p.queue) > pauseAbove && !p.paused {
		p.paused, pause = true, true
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return pause
}

// next returns the next queued record, waiting for one, or false once stopped.
func (p *partition) next() (*kgo.Record, bool) {
	for {
		p.mu.Lock()
		if p.ctx.Err() != nil {
			p.mu.Unlock()
			return nil, false
		}
		if len(p.queue) > 0 {
			r := p.queue[0]
			p.queue[0] = nil
			p.queue = p.queue[1:]
			resume := p.paused && len(p.queue) < resumeBelow
			if resume {
				p.paused = false
			}
			p.mu.Unlock()
			if resume {
				p.c.cl.ResumeFetchPartitions(map[string][]int32{p.topic: {p.partition}})
			}
			return r, true
		}
		p.mu.Unlock()
		select {
		case <-p.ctx.Done():
		case <-p.wake:
		}
	}
}

// run hands the partition's records to the inbox one at a time, in offset order
// (one aggregate's commands keep their order), until the partition is stopped.
func (p *partition) run() {
	defer close(p.done)
	dl := brokers.DeadLettererFunc(p.c.deadLetter)
	for {
		r, ok := p.next()
		if !ok {
			return
		}
		if _, err := p.c.inbox.Process(p.ctx, message(r), dl); err != nil {
			// The outcome is unknown and the partition is stopping: the record
			// stays uncommitted and is delivered again.
			return
		}
		p.mu.Lock()
		p.handled = r
		p.acked++
		p.mu.Unlock()
	}
}

// stop makes the worker finish after the record in flight.
func (p *partition) stop() { p.cancel() }

// uncommitted returns the offset to commit, after the last handled record, and
// how many records it acknowledges, if it moved since the last commit, and
// remembers them for committedTo.
func (p *partition) uncommitted() (kgo.EpochOffset, uint64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.handled == nil || p.handled.Offset+1 <= p.committed {
		return kgo.EpochOffset{}, 0, false
	}
	p.pending, p.pendingTo = p.acked, p.handled.Offset+1
	return kgo.EpochOffset{Epoch: p.handled.LeaderEpoch, Offset: p.pendingTo}, p.pending, true
}

// committedTo records the commit of what uncommitted returned and returns how
// many records it acknowledged.
func (p *partition) committedTo() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.pending
	p.acked -= n
	p.pending = 0
	p.committed = p.pendingTo
	return n
}

// deadLetter produces a dead letter to the dead-letter topic of its record's
// topic and waits for the broker's acknowledgement.
func (c *Consumer) deadLetter(ctx context.Context, d brokers.DeadLetter) error {
	m := d.Message
	m.Topic = c.cfg.deadLetter(d.Message.Topic)
	m.Headers = d.Headers()
	return produce(ctx, c.cl, m)
}
