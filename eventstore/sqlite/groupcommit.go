package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync/atomic"

	"github.com/google/uuid"

	"github.com/idemkit/idem/eventstore"
)

// maxBatchBytes caps the payload of one batch; a batch always takes at least one
// append, whatever its size.
const maxBatchBytes = 16 << 20

// batchStats counts the writer's work, for tests and diagnostics.
type batchStats struct {
	batches      atomic.Int64 // transactions that ran at least one append
	appends      atomic.Int64 // appends run in those transactions
	largestBatch atomic.Int64
}

// runWriter is the single writer goroutine: it takes every append waiting in the
// queue (up to maxBatch appends and maxBatchBytes) and commits them as one batch.
// While a batch commits, new appends wait in the queue and form the next batch, so
// the more concurrent writers, the larger the batches. It returns when Close has
// closed the queue and every request in it was run.
func (s *Store) runWriter() {
	defer close(s.writerDone)
	batch := make([]*appendRequest, 0, s.cfg.maxBatch)
	for {
		req, ok := <-s.queue
		if !ok {
			return
		}
		batch = append(batch[:0], req)
		size := req.size()
	drain:
		for len(batch) < s.cfg.maxBatch && size < maxBatchBytes {
			select {
			case r, ok := <-s.queue:
				if !ok {
					break drain
				}
				batch = append(batch, r)
				size += r.size()
			default:
				break drain
			}
		}
		s.commitBatch(batch)
		clear(batch) // let the requests' events be collected
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

// claim decides whether the writer runs r: not if its caller gave up (abandoned),
// and not if its context has ended (then r fails with the context's error).
func claim(r *appendRequest) bool {
	if err := r.ctx.Err(); err != nil {
		if r.state.CompareAndSwap(requestPending, requestAbandoned) {
			r.finish(eventstore.AppendResult{}, eventstore.AppendError(r.stream, r.expected, err))
		}
		return false
	}
	return r.state.CompareAndSwap(requestPending, requestTaken)
}

// outcome is the result of one append of a batch, handed out after the commit.
type outcome struct {
	res eventstore.AppendResult
	err error
}

// commitBatch runs the requests in one transaction. Each runs in its own savepoint
// against the stream as the batch's earlier appends left it; a refused or failed
// append is rolled back to its savepoint alone. The callers learn their outcome only
// after the commit; if the commit fails, every append of the batch fails with it.
func (s *Store) commitBatch(reqs []*appendRequest) {
	// The transaction does not use the callers' contexts: a batch is shared, and an
	// append is either abandoned before its batch starts or awaits its outcome.
	ctx := context.Background()
	tx, err := s.wdb.BeginTx(ctx, nil) // BEGIN IMMEDIATE: waits up to the busy timeout
	if err != nil {
		err = storageError(ctx, "begin append batch on "+s.path, err)
		s.cfg.logger.Warn("event store: cannot begin append batch", "path", s.path, "error", err)
		for _, r := range reqs {
			if claim(r) {
				r.finish(eventstore.AppendResult{}, eventstore.AppendError(r.stream, r.expected, err))
			}
		}
		return
	}
	run := make([]*appendRequest, 0, len(reqs))
	for _, r := range reqs {
		if claim(r) {
			run = append(run, r)
		}
	}
	if len(run) == 0 {
		_ = tx.Rollback()
		return
	}

	b := &batch{
		tx:    tx,
		stmts: s.stmts.in(ctx, tx),
		heads: make(map[string]streamHead),
		now:   s.cfg.now().UnixNano(),
	}
	outcomes := make([]outcome, len(run))
	wrote := false
	for i, r := range run {
		res, written, err := b.append(ctx, r)
		outcomes[i] = outcome{res, err}
		wrote = wrote || written
		if b.broken != nil {
			break // the transaction is gone: everything fails below
		}
	}

	var commitErr error
	switch {
	case b.broken != nil:
		_ = tx.Rollback()
		commitErr = b.broken
	case wrote:
		err := s.beforeCommit()
		if err == nil {
			err = tx.Commit()
		}
		if err != nil {
			_ = tx.Rollback()
			commitErr = storageError(ctx, "commit append batch on "+s.path, err)
		}
	default:
		_ = tx.Rollback() // nothing written: no need for a sync
	}
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
			r.finish(eventstore.AppendResult{}, eventstore.AppendError(r.stream, r.expected, commitErr))
		}
		return
	}
	if wrote {
		s.commits.broadcast()
	}
	for i, r := range run {
		r.finish(outcomes[i].res, outcomes[i].err)
	}
}

// beforeCommit runs the test hook that simulates a failed commit; nil in production.
func (s *Store) beforeCommit() error {
	if hook := s.testCommitHook.Load(); hook != nil {
		return (*hook)()
	}
	return nil
}

// streamHead is a stream's state inside a batch.
type streamHead struct {
	exists   bool
	last     int64 // revision of the last event
	position int64 // position of the last event
}

func (h streamHead) state() eventstore.ExpectedRevision {
	return eventstore.StreamState(h.exists, uint64(h.last))
}

// batch is the transaction of one commitBatch.
type batch struct {
	tx    *sql.Tx
	stmts writerStmts
	// heads caches the stream heads read or written in this transaction.
	heads map[string]streamHead
	now   int64
	// broken is set when the transaction can no longer be used (a savepoint could
	// not be rolled back); the whole batch then fails with it.
	broken error
}

// head returns stream's state as this transaction sees it.
func (b *batch) head(ctx context.Context, stream string) (streamHead, error) {
	if h, ok := b.heads[stream]; ok {
		return h, nil
	}
	var h streamHead
	err := b.stmts.head.QueryRowContext(ctx, stream).Scan(&h.last, &h.position)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		h = streamHead{}
	case err != nil:
		return streamHead{}, err
	default:
		h.exists = true
	}
	b.heads[stream] = h
	return h, nil
}

// append runs one request: the revision check (G1), the retry check (G2), then
// the inserts inside a savepoint. written reports whether it inserted events.
func (b *batch) append(ctx context.Context, r *appendRequest) (res eventstore.AppendResult, written bool, err error) {
	fail := func(op string, err error) (eventstore.AppendResult, bool, error) {
		return eventstore.AppendResult{}, false, eventstore.AppendError(r.stream, r.expected, storageError(ctx, op, err))
	}
	h, err := b.head(ctx, r.stream)
	if err != nil {
		return fail("read head of stream", err)
	}
	actual := h.state()
	count := len(r.events)

	if !r.expected.Accepts(actual) {
		// G2, strong for Exact and NoStream: the events that directly follow the
		// expected revision carry exactly these ids, in order -> a retry: write
		// nothing, return the original result. Anything else, a partial match
		// included, is a conflict.
		if first, ok := eventstore.RetryWindow(r.expected, actual, count); ok {
			res, same, err := b.sameIDs(ctx, r, int64(first))
			if err != nil {
				return eventstore.AppendResult{}, false, eventstore.AppendError(r.stream, r.expected, err)
			}
			if same {
				return res, false, nil
			}
		}
		return eventstore.AppendResult{}, false, &eventstore.WrongExpectedRevisionError{
			Stream: r.stream, Expected: r.expected, Actual: actual,
		}
	}

	// G2, best effort for Any and StreamExists (as EventStoreDB): the stream's last
	// events carry exactly these ids -> a retry.
	if k := r.expected.Kind(); (k == eventstore.KindAny || k == eventstore.KindStreamExists) && h.exists && h.last+1 >= int64(count) {
		res, same, err := b.sameIDs(ctx, r, h.last+1-int64(count))
		if err != nil {
			return eventstore.AppendResult{}, false, eventstore.AppendError(r.stream, r.expected, err)
		}
		if same {
			return res, false, nil
		}
	}

	// G1: atomic. The savepoint confines a failure to this append; the revision
	// check above ran under the write lock, so no other writer can interleave.
	if _, err := b.tx.ExecContext(ctx, "SAVEPOINT append"); err != nil {
		return fail("begin savepoint", err)
	}
	next := int64(0)
	if h.exists {
		next = h.last + 1
	}
	var pos int64
	for i := range r.events {
		e := &r.events[i]
		result, err := b.stmts.insert.ExecContext(ctx, r.stream, next+int64(i), e.ID[:], e.Type, e.Data, e.Metadata, b.now)
		if err == nil {
			pos, err = result.LastInsertId()
		}
		if err != nil {
			b.rollbackSavepoint(ctx)
			return fail("insert event", err)
		}
	}
	last := next + int64(count) - 1
	if _, err := b.stmts.upsertHead.ExecContext(ctx, r.stream, last, pos); err != nil {
		b.rollbackSavepoint(ctx)
		return fail("update stream head", err)
	}
	if _, err := b.tx.ExecContext(ctx, "RELEASE append"); err != nil {
		b.rollbackSavepoint(ctx)
		return fail("release savepoint", err)
	}
	b.heads[r.stream] = streamHead{exists: true, last: last, position: pos}
	return eventstore.AppendResult{Revision: uint64(last), Position: eventstore.SequencePosition(uint64(pos))}, true, nil
}

// rollbackSavepoint undoes the current append. If even that fails, the transaction
// is unusable and the batch is marked broken.
func (b *batch) rollbackSavepoint(ctx context.Context) {
	if _, err := b.tx.ExecContext(ctx, "ROLLBACK TO append"); err != nil {
		b.broken = storageError(ctx, "roll back savepoint", err)
		return
	}
	if _, err := b.tx.ExecContext(ctx, "RELEASE append"); err != nil {
		b.broken = storageError(ctx, "release savepoint", err)
	}
}

// sameIDs reports whether the events of r.stream from revision first on carry r's
// ids, in order, and if so the result of the append that wrote them.
func (b *batch) sameIDs(ctx context.Context, r *appendRequest, first int64) (eventstore.AppendResult, bool, error) {
	last := first + int64(len(r.events)) - 1
	rows, err := b.stmts.window.QueryContext(ctx, r.stream, first, last)
	if err != nil {
		return eventstore.AppendResult{}, false, storageError(ctx, "read retry window", err)
	}
	defer rows.Close()
	stored := make([]uuid.UUID, 0, len(r.events))
	var rev, pos int64
	for rows.Next() {
		var id []byte
		if err := rows.Scan(&rev, &pos, &id); err != nil {
			return eventstore.AppendResult{}, false, storageError(ctx, "read retry window", err)
		}
		if len(id) != 16 {
			return eventstore.AppendResult{}, false, corruptRow(pos, "id is not 16 bytes")
		}
		stored = append(stored, uuid.UUID(id))
	}
	if err := rows.Err(); err != nil {
		return eventstore.AppendResult{}, false, storageError(ctx, "read retry window", err)
	}
	if rev != last || !eventstore.SameIDs(r.events, stored) {
		return eventstore.AppendResult{}, false, nil
	}
	return eventstore.AppendResult{Revision: uint64(last), Position: eventstore.SequencePosition(uint64(pos))}, true, nil
}

// writerStmts are the writer's prepared statements.
type writerStmts struct {
	head, insert, upsertHead, window *sql.Stmt
}

func prepareWriterStmts(ctx context.Context, db *sql.DB) (writerStmts, error) {
	var st writerStmts
	var err error
	prep := func(query string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var s *sql.Stmt
		s, err = db.PrepareContext(ctx, query)
		return s
	}
	st.head = prep("SELECT last_revision, last_position FROM streams WHERE name = ?")
	st.insert = prep("INSERT INTO events (stream, revision, id, type, data, metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
	st.upsertHead = prep(`INSERT INTO streams (name, last_revision, last_position) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET last_revision = excluded.last_revision, last_position = excluded.last_position`)
	st.window = prep("SELECT revision, position, id FROM events WHERE stream = ? AND revision BETWEEN ? AND ? ORDER BY revision")
	if err != nil {
		st.close()
		return writerStmts{}, err
	}
	return st, nil
}

// in returns the statements bound to tx.
func (st writerStmts) in(ctx context.Context, tx *sql.Tx) writerStmts {
	return writerStmts{
		head:       tx.StmtContext(ctx, st.head),
		insert:     tx.StmtContext(ctx, st.insert),
		upsertHead: tx.StmtContext(ctx, st.upsertHead),
		window:     tx.StmtContext(ctx, st.window),
	}
}

func (st writerStmts) close() {
	for _, s := range []*sql.Stmt{st.head, st.insert, st.upsertHead, st.window} {
		if s != nil {
			s.Close()
		}
	}
}
