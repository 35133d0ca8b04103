package sqlite

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/backend"
	"github.com/idemkit/idem/internal/quote"
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

// lead runs first, and every append queued behind it when it starts, as one batch
// in the caller's goroutine, then hands leadership on to the oldest append still
// waiting (which runs the next batch in its own goroutine) or, if none waits,
// gives it up. While a batch runs, new appends queue up and form the next batch, so
// the more concurrent writers, the larger the batches; a lone append runs with no
// goroutine switch at all.
func (s *Store) lead(first *appendRequest) {
	batch := s.collect(first)
	if !s.runBatch(batch) {
		// first's caller gave up while the batch waited for the write lock: the
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

// size is the payload of the request, as ValidateAppend counts it.
func (r *appendRequest) size() int {
	n := 0
	for _, e := range r.events {
		n += len(e.Type) + len(e.Data) + len(e.Metadata)
	}
	return n
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

// errLeaderGone reports that the leader's own caller gave up while its batch
// waited for the write lock.
var errLeaderGone = errors.New("leader's context ended")

// begin starts the batch's transaction with BEGIN IMMEDIATE, waiting up to the
// busy timeout for SQLite's write lock when another connection holds it. The
// writer connection has no busy handler of its own (busy_timeout 0): the wait is
// here, in Go, so that the leader's caller can give up while it lasts (leader.ctx
// ends: errLeaderGone, the leader's append abandoned and failed with its context's
// error).
func (s *Store) begin(leader *appendRequest) error {
	var deadline time.Time
	delay := 250 * time.Microsecond
	var timer *time.Timer
	for {
		err := s.w.exec(s.w.begin) // the transaction is the batch's, not the leader's
		if err == nil || !isBusy(err) {
			return err
		}
		now := time.Now()
		if deadline.IsZero() {
			deadline = now.Add(s.cfg.busyTimeout)
		}
		if !now.Before(deadline) {
			return err
		}
		wait := min(delay, deadline.Sub(now))
		delay = min(2*delay, 10*time.Millisecond)
		if timer == nil {
			timer = time.NewTimer(wait)
			defer timer.Stop()
		} else {
			timer.Reset(wait)
		}
		select {
		case <-timer.C:
		case <-leader.ctx.Done():
			if leader.state.CompareAndSwap(requestPending, requestAbandoned) || leader.state.CompareAndSwap(requestPromoted, requestAbandoned) {
				leader.finish(eventstore.AppendResult{}, backend.AppendError(leader.stream, leader.expected, leader.ctx.Err()))
				return errLeaderGone
			}
		}
	}
}

// isBusy reports whether err is SQLite's "database is locked" (another connection
// holds the write lock).
func isBusy(err error) bool {
	var sqErr sqlite3.Error
	return errors.As(err, &sqErr) && (sqErr.Code == sqlite3.ErrBusy || sqErr.Code == sqlite3.ErrLocked)
}

// runBatch runs the requests in one transaction. Each is checked on its own against
// the stream as the batch's earlier appends left it; a refused append writes
// nothing and fails alone. The accepted appends' events are inserted together
// (grouped.go), so an insert that fails fails the whole batch. The callers learn their outcome only after the commit;
// if the commit fails, every append of the batch fails with it. It reports false,
// having run nothing, when the leader (reqs[0]) gave up while waiting for the write
// lock.
func (s *Store) runBatch(reqs []*appendRequest) bool {
	// The transaction does not use the callers' contexts: a batch is shared, and an
	// append is either abandoned before its batch starts or awaits its outcome. A
	// context that cannot end also spares go-sqlite3 a goroutine per statement.
	ctx := context.Background()
	start := time.Now()
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	err := s.begin(reqs[0])
	if errors.Is(err, errLeaderGone) {
		return false
	}
	if err != nil {
		err = storageError(ctx, "begin append batch on "+quote.Q(s.path), err)
		s.cfg.logger.Warn("event store: cannot begin append batch", "path", s.path, "error", err)
		for _, r := range reqs {
			if claim(r) {
				r.finish(eventstore.AppendResult{}, backend.AppendError(r.stream, r.expected, err))
			}
		}
		return true
	}
	run := reqs[:0:0]
	for _, r := range reqs {
		if claim(r) {
			run = append(run, r)
		}
	}
	if len(run) == 0 {
		s.w.rollback()
		return true
	}

	b := &batch{
		stmts: s.stmts,
		heads: make(map[string]streamHead, len(run)),
		now:   s.cfg.now().UnixNano(),
	}
	outcomes, wrote := b.runAll(ctx, run)

	var commitErr error
	switch {
	case b.broken != nil:
		s.w.rollback()
		commitErr = b.broken
	case wrote:
		err := s.beforeCommit()
		if err == nil {
			err = s.w.exec("COMMIT")
		}
		if err != nil {
			s.w.rollback()
			commitErr = storageError(ctx, "commit append batch on "+quote.Q(s.path), err)
		}
	default:
		s.w.rollback() // nothing written: no need for a sync
	}
	s.tel.recordCommit(start, len(run))
	s.stats.batches.Add(1)
	s.stats.appends.Add(int64(len(run)))
	for {
		largest := s.stats.largestBatch.Load()
		if int64(len(run)) <= largest || s.stats.largestBatch.CompareAndSwap(largest, int64(len(run))) {
			break
		}
	}

	if commitErr != nil {
		s.cfg.logger.Warn("event store: append batch failed", "path", s.path, "appends", len(run), "error", commitErr)
		for _, r := range run {
			r.finish(eventstore.AppendResult{}, backend.AppendError(r.stream, r.expected, commitErr))
		}
		return true
	}
	if wrote {
		s.commits.Broadcast()
	}
	for i, r := range run {
		r.finish(outcomes[i].res, outcomes[i].err)
	}
	return true
}

// runAll checks the appends of run in order, each against the streams as the
// earlier ones left them, then inserts the events of those accepted. wrote
// reports whether any was.
func (b *batch) runAll(ctx context.Context, run []*appendRequest) (outcomes []outcome, wrote bool) {
	b.prefetchHeads(ctx, run)
	outcomes = make([]outcome, len(run))
	for i, r := range run {
		b.out = &outcomes[i].res
		// A deferred append's position is set through b.out by a later flush.
		res, written, err := b.append(ctx, r)
		outcomes[i] = outcome{res, err}
		wrote = wrote || written
		if b.broken != nil {
			return outcomes, wrote // the transaction is gone: everything fails
		}
	}
	_ = b.flush(ctx) // a failure sets b.broken
	return outcomes, wrote
}

// outcome is the result of one append of a batch, handed out after the commit.
type outcome struct {
	res eventstore.AppendResult
	err error
}
