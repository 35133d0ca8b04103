package sqlite

import (
	"context"
	"errors"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/backend"
	"github.com/idemkit/idem/internal/quote"
)

// errLeaderGone reports that the leader's own caller gave up while its batch
// waited for the write lock.
var errLeaderGone = errors.New("leader's context ended")

// begin starts the batch's transaction with BEGIN IMMEDIATE, waiting up to the
// busy timeout for SQLite's write lock when another connection holds it. The
// writer connection has no busy handler of its own (busy_timeout 0): the wait is
// here, in Go, so that the leader's caller can give up while it lasts (leader.Ctx
// ends: errLeaderGone, the leader's append abandoned and failed with its context's
// error).
func (s *Store) begin(leader *backend.Request) error {
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
		case <-leader.Ctx.Done():
			if leader.AbandonLeader() {
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
// (grouped.go), so an insert that fails fails the whole batch. The callers learn
// their outcome only after the commit; if the commit fails, every append of the
// batch fails with it. It reports false, having run nothing, when the leader
// (reqs[0]) gave up while waiting for the write lock.
func (s *Store) runBatch(reqs []*backend.Request) bool {
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
		for _, r := range backend.Take(reqs) {
			r.Fail(err)
		}
		return true
	}
	run := backend.Take(reqs)
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

	commitErr := s.endBatch(ctx, b, wrote)
	s.metrics.Record(start, len(run))
	s.stats.Record(len(run))

	if commitErr != nil {
		s.cfg.logger.Warn("event store: append batch failed", "path", s.path, "appends", len(run), "error", commitErr)
		for _, r := range run {
			r.Fail(commitErr)
		}
		return true
	}
	if wrote {
		s.commits.Broadcast()
	}
	for i, r := range run {
		r.Finish(outcomes[i].res, outcomes[i].err)
	}
	return true
}

// endBatch commits the batch's transaction when it wrote, or rolls it back; an
// error is the whole batch's.
func (s *Store) endBatch(ctx context.Context, b *batch, wrote bool) error {
	switch {
	case b.broken != nil:
		s.w.rollback()
		return b.broken
	case !wrote:
		s.w.rollback() // nothing written: no need for a sync
		return nil
	}
	err := s.beforeCommit()
	if err == nil {
		err = s.w.exec("COMMIT")
	}
	if err != nil {
		s.w.rollback()
		return storageError(ctx, "commit append batch on "+quote.Q(s.path), err)
	}
	return nil
}

// runAll checks the appends of run in order, each against the streams as the
// earlier ones left them, then inserts the events of those accepted. wrote
// reports whether any was.
func (b *batch) runAll(ctx context.Context, run []*backend.Request) (outcomes []outcome, wrote bool) {
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
