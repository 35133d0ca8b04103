package postgres

import (
	"context"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/backend"
)

// maxBatchBytes caps the payload of one batch; a batch always takes at least one
// append, whatever its size.
const maxBatchBytes = 16 << 20

// batchStats counts the batches' work, for tests and diagnostics.
type batchStats struct {
	batches      atomic.Int64 // transactions that ran at least one append
	appends      atomic.Int64 // appends run in those transactions
	largestBatch atomic.Int64
}

// record counts a batch of n appends.
func (b *batchStats) record(n int) {
	b.batches.Add(1)
	b.appends.Add(int64(n))
	for {
		largest := b.largestBatch.Load()
		if int64(n) <= largest || b.largestBatch.CompareAndSwap(largest, int64(n)) {
			return
		}
	}
}

// lead runs first, and every append queued behind it when it starts, as one batch
// in the caller's goroutine, then hands leadership on to the oldest append still
// waiting (which runs the next batch in its own goroutine) or, if none waits,
// gives it up. While a batch runs, new appends queue up and form the next batch,
// so the more concurrent writers, the larger the batches; a lone append runs with
// no goroutine switch at all.
func (s *Store) lead(first *appendRequest) {
	batch := s.collect(first)
	if !s.runBatch(batch) {
		// first's caller gave up while the batch waited for a connection: the
		// others go back to the head of the queue, in order, for the next leader.
		s.requeue(batch[1:])
	}
	clear(batch)
	s.handOff()
}

// collect returns first followed by the appends waiting in the queue, oldest
// first, up to maxBatch appends and maxBatchBytes.
func (s *Store) collect(first *appendRequest) []*appendRequest {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	batch := make([]*appendRequest, 1, min(s.cfg.maxBatch, 1+len(s.waiting)))
	batch[0] = first
	size := first.size()
	n := 0
	for n < len(s.waiting) && len(batch) < s.cfg.maxBatch && size < maxBatchBytes {
		batch = append(batch, s.waiting[n])
		size += s.waiting[n].size()
		n++
	}
	rest := copy(s.waiting, s.waiting[n:])
	clear(s.waiting[rest:])
	s.waiting = s.waiting[:rest]
	return batch
}

// requeue puts reqs back at the head of the queue, in order.
func (s *Store) requeue(reqs []*appendRequest) {
	if len(reqs) == 0 {
		return
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.waiting = append(append(make([]*appendRequest, 0, len(reqs)+len(s.waiting)), reqs...), s.waiting...)
}

// handOff promotes the oldest waiting append to leader, or, if none waits, ends
// leadership (and wakes a Close waiting for it).
func (s *Store) handOff() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	for len(s.waiting) > 0 {
		next := s.waiting[0]
		rest := copy(s.waiting, s.waiting[1:])
		s.waiting[rest] = nil
		s.waiting = s.waiting[:rest]
		if next.state.CompareAndSwap(requestPending, requestPromoted) {
			next.wake <- struct{}{}
			return
		}
		// Abandoned by its caller: skip it.
	}
	s.leading = false
	if s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
}

// claim decides whether a batch runs r: not if its caller gave up (abandoned),
// and not if its context has ended (then r fails with the context's error).
func claim(r *appendRequest) bool {
	if err := r.ctx.Err(); err != nil {
		if r.state.CompareAndSwap(requestPending, requestAbandoned) || r.state.CompareAndSwap(requestPromoted, requestAbandoned) {
			r.finish(eventstore.AppendResult{}, backend.AppendError(r.stream, r.expected, err))
		}
		return false
	}
	return r.state.CompareAndSwap(requestPending, requestTaken) || r.state.CompareAndSwap(requestPromoted, requestTaken)
}

// abandonLeader gives up the leader's append when its caller's context ended
// before the batch started; it reports whether it did.
func abandonLeader(leader *appendRequest) bool {
	if leader.state.CompareAndSwap(requestPending, requestAbandoned) || leader.state.CompareAndSwap(requestPromoted, requestAbandoned) {
		leader.finish(eventstore.AppendResult{}, backend.AppendError(leader.stream, leader.expected, leader.ctx.Err()))
		return true
	}
	return false
}

// connectionFor takes the batch's connection. The wait is the batch's (bounded by
// its ctx, the store's timeout), but the leader's caller may give up while it
// lasts: then errLeaderGone, and the leader's append is abandoned.
func (s *Store) connectionFor(ctx context.Context, leader *appendRequest) (*pgxpool.Conn, error) {
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(leader.ctx, cancel)
	defer stop()
	conn, err := s.pool.Acquire(actx)
	if err == nil {
		return conn, nil
	}
	if leader.ctx.Err() != nil && ctx.Err() == nil && abandonLeader(leader) {
		return nil, errLeaderGone
	}
	if s.isClosed.Load() {
		return nil, eventstore.ErrClosed
	}
	if ctx.Err() != nil {
		return nil, &Error{Op: "acquire connection for append batch", Kind: eventstore.ErrUnavailable,
			Err: poolExhausted(s.pool, s.cfg.timeout)}
	}
	return nil, storageError(nil, "acquire connection for append batch", err)
}
