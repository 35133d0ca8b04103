package backend

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/idemkit/idem/eventstore"
)

// MaxBatchBytes caps the payload of one GroupCommit batch; a batch always takes
// at least one append, whatever its size.
const MaxBatchBytes = 16 << 20

// Request states: a queued request is claimed exactly once, by the leader that
// starts the request's batch (taken), by the caller whose context ended first
// (abandoned), or by a leader that hands leadership on to it (promoted; it then
// runs its own batch). An abandoned request is never written.
const (
	requestPending int32 = iota
	requestTaken
	requestAbandoned
	requestPromoted
)

// Request is one Append waiting for, or running in, a GroupCommit batch. Only
// GroupCommit.Append makes them.
type Request struct {
	Ctx      context.Context
	Stream   string
	Expected eventstore.ExpectedRevision
	Events   []eventstore.EventData

	state atomic.Int32
	// res and err are set by the leader of the request's batch before it wakes the
	// caller.
	res eventstore.AppendResult
	err error
	// wake is made when the request is queued behind a leader: it is signalled once,
	// when the outcome is set or when the request is promoted to leader.
	wake chan struct{}
}

// Finish hands the outcome to the caller. A batch calls it once for every
// request it took.
func (r *Request) Finish(res eventstore.AppendResult, err error) {
	r.res, r.err = res, err
	if r.wake != nil {
		r.wake <- struct{}{}
	}
}

// Fail finishes r with err, wrapped by AppendError.
func (r *Request) Fail(err error) {
	r.Finish(eventstore.AppendResult{}, AppendError(r.Stream, r.Expected, err))
}

// Size is the payload of the request, as ValidateAppend counts it.
func (r *Request) Size() int {
	n := 0
	for _, e := range r.Events {
		n += len(e.Type) + len(e.Data) + len(e.Metadata)
	}
	return n
}

// Take decides whether a batch runs r: not if its caller gave up (abandoned),
// and not if its context has ended (then r fails with the context's error).
func (r *Request) Take() bool {
	if err := r.Ctx.Err(); err != nil {
		if r.abandon() {
			r.Fail(err)
		}
		return false
	}
	return r.state.CompareAndSwap(requestPending, requestTaken) || r.state.CompareAndSwap(requestPromoted, requestTaken)
}

// Take returns the requests of batch that the batch runs (Request.Take of each),
// in order.
func Take(batch []*Request) []*Request {
	run := batch[:0:0]
	for _, r := range batch {
		if r.Take() {
			run = append(run, r)
		}
	}
	return run
}

// AbandonLeader gives up a batch's leader whose caller's context ended before
// the batch started, failing it with the context's error; it reports whether it
// did (false: the batch had already taken it).
func (r *Request) AbandonLeader() bool {
	if r.abandon() {
		r.Fail(r.Ctx.Err())
		return true
	}
	return false
}

func (r *Request) abandon() bool {
	return r.state.CompareAndSwap(requestPending, requestAbandoned) || r.state.CompareAndSwap(requestPromoted, requestAbandoned)
}

// GroupCommit queues a store's appends and runs them in batches, one batch at a
// time: the first append leads, running itself and every append queued behind it
// when it starts as one batch in its caller's goroutine, then hands leadership on
// to the oldest append still waiting (which runs the next batch in its own
// goroutine) or, if none waits, gives it up. While a batch runs, new appends queue
// up and form the next batch, so the more concurrent writers, the larger the
// batches; a lone append runs with no goroutine switch at all.
type GroupCommit struct {
	maxBatch int
	run      func(batch []*Request) bool

	mu      sync.Mutex // guards closed, leading, waiting and idle
	closed  bool
	leading bool
	waiting []*Request
	idle    chan struct{} // closed when leadership ends after Close
}

// NewGroupCommit returns a GroupCommit whose batches hold at most maxBatch
// appends (at least 1) and about MaxBatchBytes, run by run, which must not be
// nil. run takes each request of its
// batch with Request.Take and finishes every one it took; it reports false,
// having taken none, when the leader (batch[0]) gave up before the batch started
// (see Request.AbandonLeader): the others go back to the head of the queue.
func NewGroupCommit(maxBatch int, run func(batch []*Request) bool) *GroupCommit {
	return &GroupCommit{maxBatch: max(1, maxBatch), run: run}
}

// Append queues one validated append and waits for its batch's outcome. An
// append whose context ends before its batch starts fails with the context's
// error and is never written; once its batch has started it waits for the
// batch's outcome. After Close it fails with eventstore.ErrClosed.
func (g *GroupCommit) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events []eventstore.EventData) (eventstore.AppendResult, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, AppendError(stream, expected, err)
	}
	req := &Request{Ctx: ctx, Stream: stream, Expected: expected, Events: events}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return eventstore.AppendResult{}, AppendError(stream, expected, eventstore.ErrClosed)
	}
	if !g.leading {
		// No batch is running: this append leads, in the caller's goroutine.
		g.leading = true
		g.mu.Unlock()
		g.lead(req)
		return req.res, req.err
	}
	req.wake = make(chan struct{}, 1)
	g.waiting = append(g.waiting, req)
	g.mu.Unlock()

	select {
	case <-req.wake:
	case <-ctx.Done():
		if req.state.CompareAndSwap(requestPending, requestAbandoned) {
			// No batch has started this append and none ever will.
			return eventstore.AppendResult{}, AppendError(stream, expected, ctx.Err())
		}
		// Its batch has started (the outcome is the batch's), or it was promoted.
		<-req.wake
	}
	if req.state.Load() == requestPromoted {
		g.lead(req)
	}
	return req.res, req.err
}

// Close refuses later appends with eventstore.ErrClosed and waits for the
// running batch and the appends queued behind it. It reports false when the
// GroupCommit was already closed.
func (g *GroupCommit) Close() bool {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return false
	}
	g.closed = true
	var idle chan struct{}
	if g.leading {
		idle = make(chan struct{})
		g.idle = idle
	}
	g.mu.Unlock()
	if idle != nil {
		<-idle
	}
	return true
}

// Queued is the number of appends waiting behind the running batch's leader, for
// tests and diagnostics.
func (g *GroupCommit) Queued() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.waiting)
}

// lead runs first's batch, then hands leadership on.
func (g *GroupCommit) lead(first *Request) {
	batch := g.collect(first)
	if !g.run(batch) {
		// first's caller gave up while the batch waited: the others go back to
		// the head of the queue, in order, for the next leader.
		g.requeue(batch[1:])
	}
	clear(batch)
	g.handOff()
}

// collect returns first followed by the appends waiting in the queue, oldest
// first, up to maxBatch appends and MaxBatchBytes.
func (g *GroupCommit) collect(first *Request) []*Request {
	g.mu.Lock()
	defer g.mu.Unlock()
	batch := make([]*Request, 1, min(g.maxBatch, 1+len(g.waiting)))
	batch[0] = first
	size := first.Size()
	n := 0
	for n < len(g.waiting) && len(batch) < g.maxBatch && size < MaxBatchBytes {
		batch = append(batch, g.waiting[n])
		size += g.waiting[n].Size()
		n++
	}
	rest := copy(g.waiting, g.waiting[n:])
	clear(g.waiting[rest:])
	g.waiting = g.waiting[:rest]
	return batch
}

// requeue puts reqs back at the head of the queue, in order.
func (g *GroupCommit) requeue(reqs []*Request) {
	if len(reqs) == 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.waiting = append(append(make([]*Request, 0, len(reqs)+len(g.waiting)), reqs...), g.waiting...)
}

// handOff promotes the oldest waiting append to leader, or, if none waits, ends
// leadership (and wakes a Close waiting for it).
func (g *GroupCommit) handOff() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for len(g.waiting) > 0 {
		next := g.waiting[0]
		rest := copy(g.waiting, g.waiting[1:])
		g.waiting[rest] = nil
		g.waiting = g.waiting[:rest]
		if next.state.CompareAndSwap(requestPending, requestPromoted) {
			next.wake <- struct{}{}
			return
		}
		// Abandoned by its caller: skip it.
	}
	g.leading = false
	if g.idle != nil {
		close(g.idle)
		g.idle = nil
	}
}

// BatchStats counts a GroupCommit's batches, for tests and diagnostics.
type BatchStats struct {
	batches, appends, largest atomic.Int64
}

// Record counts a batch of n appends.
func (b *BatchStats) Record(n int) {
	b.batches.Add(1)
	b.appends.Add(int64(n))
	for {
		largest := b.largest.Load()
		if int64(n) <= largest || b.largest.CompareAndSwap(largest, int64(n)) {
			return
		}
	}
}

// Load returns the batches that ran at least one append, the appends they ran
// and the largest batch.
func (b *BatchStats) Load() (batches, appends, largest int64) {
	return b.batches.Load(), b.appends.Load(), b.largest.Load()
}
