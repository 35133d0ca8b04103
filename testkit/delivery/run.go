package delivery

import (
	"context"
	"sync"
	"time"
)

// Handler handles one delivery of a message on consumer consumer (0..consumers-1).
// A non-nil error makes Run redeliver the message, as an at-least-once queue does
// when a message is not acknowledged.
type Handler[M any] func(ctx context.Context, consumer int, msg M) error

// Run delivers messages to consumers concurrent consumers following
// plan.Schedule(len(messages)), and returns what was delivered how often. Each
// consumer takes the next delivery, waits its Delay, and calls handle; a racing
// delivery is handed to two consumers that call handle at the same instant. A
// delivery whose handler fails is put back at the end of the queue, until its
// message has failed plan.MaxAttempts times. Run returns when every delivery has
// been handled or given up, or when ctx ends (Report.Err is then ctx's error).
// consumers < 1 means 1.
func Run[M any](ctx context.Context, plan Plan, messages []M, consumers int, handle Handler[M]) Report {
	consumers = max(consumers, 1)
	maxAttempts := plan.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = 10
	}
	r := &runner[M]{
		ctx:         ctx,
		messages:    messages,
		handle:      handle,
		maxAttempts: maxAttempts,
		counts:      make([]int, len(messages)),
		failures:    make([]int, len(messages)),
		succeeded:   make([]bool, len(messages)),
	}
	r.cond = sync.NewCond(&r.mu)
	for _, d := range plan.Schedule(len(messages)) {
		if d.Race && consumers >= 2 {
			b := &barrier{arrived: make(chan struct{})}
			r.queue = append(r.queue, item{Delivery: d, barrier: b}, item{Delivery: d, barrier: b})
			continue
		}
		d.Race = false
		r.queue = append(r.queue, item{Delivery: d})
	}

	stop := context.AfterFunc(ctx, func() {
		r.mu.Lock()
		r.cond.Broadcast()
		r.mu.Unlock()
	})
	defer stop()
	var wg sync.WaitGroup
	for c := range consumers {
		wg.Go(func() { r.consume(c) })
	}
	wg.Wait()
	return r.report()
}

// item is a queued delivery; racing deliveries are queued twice with one barrier.
type item struct {
	Delivery
	barrier *barrier
}

// barrier makes the two consumers of a racing delivery call the handler together.
type barrier struct {
	mu      sync.Mutex
	n       int
	arrived chan struct{}
}

// wait returns when both consumers have arrived, or false if ctx ends first.
func (b *barrier) wait(ctx context.Context) bool {
	b.mu.Lock()
	b.n++
	if b.n == 2 {
		close(b.arrived)
	}
	b.mu.Unlock()
	select {
	case <-b.arrived:
		return true
	case <-ctx.Done():
		return false
	}
}

type runner[M any] struct {
	ctx         context.Context
	messages    []M
	handle      Handler[M]
	maxAttempts int

	mu       sync.Mutex
	cond     *sync.Cond
	queue    []item
	inFlight int

	counts    []int
	failures  []int
	succeeded []bool
	delivered int
	races     int
	errors    int
	retries   int
	byKind    [4]int
}

// next takes the next delivery, waiting while the queue is empty but deliveries
// in flight may still put a retry back. ok is false when there is nothing left.
func (r *runner[M]) next() (item, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.queue) == 0 && r.inFlight > 0 && r.ctx.Err() == nil {
		r.cond.Wait()
	}
	if len(r.queue) == 0 || r.ctx.Err() != nil {
		return item{}, false
	}
	it := r.queue[0]
	r.queue = r.queue[1:]
	r.inFlight++
	return it, true
}

func (r *runner[M]) consume(consumer int) {
	for {
		it, ok := r.next()
		if !ok {
			return
		}
		err, handled := r.deliver(consumer, it)
		r.done(it, err, handled)
	}
}

// deliver waits the delivery's delay (and its racing partner) and calls the
// handler. handled is false when ctx ended first.
func (r *runner[M]) deliver(consumer int, it item) (err error, handled bool) {
	if it.Delay > 0 {
		t := time.NewTimer(it.Delay)
		select {
		case <-t.C:
		case <-r.ctx.Done():
			t.Stop()
			return nil, false
		}
	}
	if it.barrier != nil && !it.barrier.wait(r.ctx) {
		return nil, false
	}
	return r.handle(r.ctx, consumer, r.messages[it.Index]), true
}

// done records a delivery's outcome and queues a retry after a failure.
func (r *runner[M]) done(it item, err error, handled bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	defer r.cond.Broadcast()
	r.inFlight--
	if !handled {
		return
	}
	i := it.Index
	r.delivered++
	r.counts[i]++
	r.byKind[it.Kind]++
	if it.Race {
		r.races++
	}
	if err == nil {
		r.succeeded[i] = true
		return
	}
	r.errors++
	r.failures[i]++
	if r.failures[i] < r.maxAttempts {
		r.retries++
		r.queue = append(r.queue, item{Delivery: Delivery{Index: i, Kind: Retry}})
	}
}

func (r *runner[M]) report() Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := Report{
		Messages:      len(r.messages),
		Delivered:     r.delivered,
		Counts:        r.counts,
		Originals:     r.byKind[Original],
		Duplicates:    r.byKind[Duplicate],
		Replays:       r.byKind[Replay],
		Retries:       r.byKind[Retry],
		Races:         r.races / 2,
		HandlerErrors: r.errors,
		Err:           r.ctx.Err(),
	}
	for i, c := range r.counts {
		if c > 0 {
			rep.Unique++
		}
		rep.MaxCopies = max(rep.MaxCopies, c)
		if !r.succeeded[i] {
			rep.Failed = append(rep.Failed, i)
		}
	}
	rep.Redelivered = rep.Delivered - rep.Unique
	return rep
}
