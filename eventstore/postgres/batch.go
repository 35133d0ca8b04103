package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/backend"
)

// Outcomes of the append function (see appendFunction).
const (
	outcomeWritten  = 1
	outcomeReplayed = 2
	outcomeConflict = 3
	outcomeCorrupt  = 4
)

// outcome is the result of one append of a batch, handed out after the commit.
type outcome struct {
	res     eventstore.AppendResult
	err     error
	written bool
}

// runBatch runs the requests in one transaction and one round trip: one call of
// the append function per request, pipelined as a pgx.Batch, which PostgreSQL
// runs as one implicit transaction committed at its end. Each append is checked
// on its own, in the database, against the stream as the batch's earlier appends
// left it; a refused append writes nothing and does not fail its neighbours. The
// callers learn their outcome only after the commit; if the batch fails (the
// connection is cut, the server restarts, a statement times out), every append of
// it fails with that error and its outcome is unknown to them. It reports false,
// having run nothing, when the leader (reqs[0]) gave up while waiting for a
// connection.
func (s *Store) runBatch(reqs []*backend.Request) bool {
	// The batch does not use the callers' contexts: it is shared, and an append is
	// either abandoned before its batch starts or awaits its outcome. The store's
	// timeout bounds it.
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.timeout)
	defer cancel()
	conn, err := s.connectionFor(ctx, reqs[0])
	if errors.Is(err, errLeaderGone) {
		return false
	}
	if err != nil {
		s.cfg.logger.Warn("event store: cannot start append batch", "schema", s.cfg.schema, "error", err)
		for _, r := range backend.Take(reqs) {
			r.Fail(err)
		}
		return true
	}
	defer conn.Release()
	run := backend.Take(reqs)
	if len(run) == 0 {
		return true
	}
	outcomes, wrote, err := s.sendBatch(ctx, conn, run)
	if err != nil {
		err = batchError(err)
		s.cfg.logger.Warn("event store: append batch failed", "schema", s.cfg.schema, "appends", len(run), "error", err)
		for _, r := range run {
			r.Fail(err)
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

// sendBatch runs the appends of run in one round trip and one transaction on
// conn, and returns each one's outcome; wrote tells whether any wrote events.
// An error fails the whole batch.
func (s *Store) sendBatch(ctx context.Context, conn *pgxpool.Conn, run []*backend.Request) (outcomes []outcome, wrote bool, err error) {
	b := &pgx.Batch{}
	now := s.cfg.now()
	for _, r := range run {
		b.Queue(s.sql.append, appendArgs(r, now)...)
	}
	if hook := s.hooks.commitDelay.Load(); hook != nil {
		if d := (*hook)(); d > 0 {
			b.Queue("SELECT pg_sleep($1)", d.Seconds())
		}
	}
	outcomes = make([]outcome, len(run))
	start := time.Now()
	results := conn.SendBatch(ctx, b)
	for i, r := range run {
		var code int32
		var rev, pos *int64
		if err = results.QueryRow().Scan(&code, &rev, &pos); err != nil {
			break
		}
		outcomes[i] = decodeOutcome(r, code, rev, pos)
		wrote = wrote || outcomes[i].written
	}
	// Close reads the rest of the batch up to the commit's answer: only then is
	// anything acknowledged.
	if cerr := results.Close(); err == nil {
		err = cerr
	}
	s.metrics.Record(start, len(run))
	s.stats.Record(len(run))
	return outcomes, wrote, err
}

// batchError types the failure of a whole batch. A unique violation can only come
// from a writer that bypasses the append function (and its lock): the batch was
// rolled back and a retry reads the stream afresh, so it is reported as
// eventstore.ErrUnavailable, with what happened. Everything else is a storage
// error.
func batchError(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return &Error{Op: "append batch", Kind: eventstore.ErrUnavailable, Code: pgErr.Code,
			Err: fmt.Errorf("a writer outside this store took a revision of the batch: %w", err)}
	}
	return storageError(nil, "append batch", err)
}

// decodeOutcome turns the append function's answer into r's result.
func decodeOutcome(r *backend.Request, code int32, rev, pos *int64) outcome {
	revision, position := int64(-1), int64(0)
	if rev != nil {
		revision = *rev
	}
	if pos != nil {
		position = *pos
	}
	switch {
	case code == outcomeWritten && revision >= 0 && position > 0:
		return outcome{res: eventstore.AppendResult{Revision: uint64(revision), Position: backend.SequencePosition(uint64(position)),
			Outcome: eventstore.Written}, written: true}
	case code == outcomeReplayed && revision >= 0 && position > 0:
		return outcome{res: eventstore.AppendResult{Revision: uint64(revision), Position: backend.SequencePosition(uint64(position)),
			Outcome: eventstore.Replayed}}
	case code == outcomeConflict:
		actual := eventstore.NoStream()
		if revision >= 0 {
			actual = eventstore.Exact(uint64(revision))
		}
		return outcome{err: &eventstore.WrongExpectedRevisionError{Stream: r.Stream, Expected: r.Expected, Actual: actual}}
	case code == outcomeCorrupt:
		return outcome{err: backend.AppendError(r.Stream, r.Expected, corruptRow(position, fmt.Sprintf("the stream's last revision is %s", describe(rev))))}
	}
	return outcome{err: backend.AppendError(r.Stream, r.Expected,
		fmt.Errorf("%w: the append function answered outcome %d, revision %s, position %s", eventstore.ErrIncompatible, code, describe(rev), describe(pos)))}
}

func describe(v *int64) string {
	if v == nil {
		return "NULL"
	}
	return fmt.Sprint(*v)
}
