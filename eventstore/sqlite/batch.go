package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/backend"
)

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
	return backend.StreamState(h.exists, uint64(h.last))
}

// batch is the transaction of one runBatch, on the writer's connection.
type batch struct {
	stmts writerStmts
	// heads caches the stream heads read or written in this transaction.
	heads map[string]streamHead
	now   int64
	// broken is set when an append failed after it had written part of its events
	// (a storage failure: disk full, I/O error), which only rolling back the whole
	// transaction undoes; the whole batch then fails with it.
	broken error
	// pending are the accepted appends not inserted yet (see flush); out is where
	// the result of the append being checked goes.
	pending []pendingAppend
	out     *eventstore.AppendResult
}

// head returns stream's state as this transaction sees it: its last event, read
// through the UNIQUE(stream, revision) index. A last row that is not an event's
// (its revision is not a non-negative integer, or its position not positive) is
// reported with a *CorruptEventError: an append after it would be misplaced.
func (b *batch) head(ctx context.Context, stream string) (streamHead, error) {
	if h, ok := b.heads[stream]; ok {
		return h, nil
	}
	var rev, pos any
	err := b.stmts.head.QueryRowContext(ctx, stream).Scan(&rev, &pos)
	var h streamHead
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return streamHead{}, storageError(ctx, "read head of stream", err)
	default:
		if err := checkPlace(stream, rev, pos); err != nil {
			return streamHead{}, err
		}
		h = streamHead{exists: true, last: rev.(int64), position: pos.(int64)}
	}
	b.heads[stream] = h
	return h, nil
}

// checkPlace checks the revision and position of a row of stream read by the
// append's checks.
func checkPlace(stream string, rev, pos any) error {
	p, _ := pos.(int64)
	problem := ""
	if r, ok := rev.(int64); !ok || r < 0 {
		problem = "revision is " + describe(rev) + ", not a non-negative integer"
	} else if p <= 0 {
		problem = "position is " + describe(pos) + ", not a positive integer"
	}
	if problem == "" {
		return nil
	}
	return &CorruptEventError{Position: p, Stream: stream, Revision: storedRevision(rev), Problem: problem}
}

// append runs one request: the revision check (G1) and the retry check (G2) first,
// then the inserts. Every check runs before anything is written, so a refused
// append writes nothing and needs no savepoint. written reports whether it
// inserted events.
func (b *batch) append(ctx context.Context, r *backend.Request) (res eventstore.AppendResult, written bool, err error) {
	h, err := b.head(ctx, r.Stream)
	if err != nil {
		return eventstore.AppendResult{}, false, backend.AppendError(r.Stream, r.Expected, err)
	}
	actual := h.state()
	count := len(r.Events)

	if !r.Expected.Accepts(actual) {
		// G2, strong for Exact and NoStream: the events that directly follow the
		// expected revision carry exactly these ids, in order -> a retry: write
		// nothing, return the original result. Anything else, a partial match
		// included, is a conflict.
		if first, ok := backend.RetryWindow(r.Expected, actual, count); ok {
			res, same, err := b.flushedSameIDs(ctx, r, int64(first))
			if err != nil {
				return eventstore.AppendResult{}, false, backend.AppendError(r.Stream, r.Expected, err)
			}
			if same {
				return res, false, nil
			}
		}
		return eventstore.AppendResult{}, false, &eventstore.WrongExpectedRevisionError{
			Stream: r.Stream, Expected: r.Expected, Actual: actual,
		}
	}

	// G2, best effort for Any and StreamExists (as EventStoreDB): the stream's last
	// events carry exactly these ids -> a retry.
	if k := r.Expected.Kind(); (k == eventstore.KindAny || k == eventstore.KindStreamExists) && h.exists && h.last+1 >= int64(count) {
		res, same, err := b.flushedSameIDs(ctx, r, h.last+1-int64(count))
		if err != nil {
			return eventstore.AppendResult{}, false, backend.AppendError(r.Stream, r.Expected, err)
		}
		if same {
			return res, false, nil
		}
	}

	// G1: atomic. The checks above ran under the write lock and the head is the
	// stream's last row, so the inserts cannot collide with a stored revision. The
	// events are inserted with the batch's other appends' (flush), which sets the
	// position; a failed insert fails the whole batch.
	next := int64(0)
	if h.exists {
		next = h.last + 1
	}
	last := next + int64(count) - 1
	b.heads[r.Stream] = streamHead{exists: true, last: last, position: h.position}
	b.pending = append(b.pending, pendingAppend{stream: r.Stream, next: next, events: r.Events, res: b.out})
	return eventstore.AppendResult{Revision: uint64(last), Outcome: eventstore.Written}, true, nil
}

// flushedSameIDs is sameIDs after the pending appends are inserted (the window
// may hold their events).
func (b *batch) flushedSameIDs(ctx context.Context, r *backend.Request, first int64) (eventstore.AppendResult, bool, error) {
	if err := b.flush(ctx); err != nil {
		return eventstore.AppendResult{}, false, err
	}
	return b.sameIDs(ctx, r, b.heads[r.Stream], first)
}

// sameIDs reports whether the events of r.Stream from revision first on carry r's
// ids, in order, and if so the result of the append that wrote them. The window
// lies within the stream, whose head is h: each of its revisions must be there,
// with an id of 16 bytes, or the stream is damaged (*CorruptEventError).
func (b *batch) sameIDs(ctx context.Context, r *backend.Request, h streamHead, first int64) (eventstore.AppendResult, bool, error) {
	last := first + int64(len(r.Events)) - 1
	rows, err := b.stmts.window.QueryContext(ctx, r.Stream, first, last)
	if err != nil {
		return eventstore.AppendResult{}, false, storageError(ctx, "read retry window", err)
	}
	defer rows.Close()
	stored := make([]uuid.UUID, 0, len(r.Events))
	var rev, pos any
	var id blobColumn
	var lastPos int64
	next := first
	for rows.Next() {
		if err := rows.Scan(&rev, &pos, &id); err != nil {
			return eventstore.AppendResult{}, false, storageError(ctx, "read retry window", err)
		}
		if err := checkPlace(r.Stream, rev, pos); err != nil {
			return eventstore.AppendResult{}, false, err
		}
		p := pos.(int64)
		if rev.(int64) != next {
			return eventstore.AppendResult{}, false, &CorruptEventError{Position: p, Stream: r.Stream, Revision: storedRevision(rev),
				Problem: fmt.Sprintf("revision %d is missing below it", next)}
		}
		if id.class != classBlob || len(id.b) != 16 {
			return eventstore.AppendResult{}, false, &CorruptEventError{Position: p, Stream: r.Stream, Revision: storedRevision(rev),
				Problem: "id is " + describe(id.value()) + ", not a blob of 16 bytes"}
		}
		stored = append(stored, uuid.UUID(id.b))
		next, lastPos = next+1, p
	}
	if err := rows.Err(); err != nil {
		return eventstore.AppendResult{}, false, storageError(ctx, "read retry window", err)
	}
	if next <= last {
		return eventstore.AppendResult{}, false, &CorruptEventError{Position: h.position, Stream: r.Stream, Revision: strconv.FormatInt(h.last, 10),
			Problem: fmt.Sprintf("revisions %d to %d are missing below it", next, last)}
	}
	if !backend.SameIDs(r.Events, stored) {
		return eventstore.AppendResult{}, false, nil
	}
	return eventstore.AppendResult{Revision: uint64(last), Position: backend.SequencePosition(uint64(lastPos)), Outcome: eventstore.Replayed}, true, nil
}

// insertRows are the row counts of the prepared multi-row inserts, largest first;
// an append of n events uses the largest that fits, repeatedly (100 events: 64,
// 8, 8, 8, 8, 1, 1, 1, 1). 64 rows bind 448 parameters, far below SQLite's limit.
var insertRows = [...]int{64, 8, 1}

const insertColumns = 7

// insertQuery returns the INSERT of rows events.
func insertQuery(rows int) string {
	var q strings.Builder
	q.WriteString("INSERT OR FAIL INTO events (stream, revision, id, type, data, metadata, recorded_at) VALUES ")
	for i := range rows {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?, ?, ?, ?, ?, ?)")
	}
	return q.String()
}

// writerStmts are the writer's prepared statements.
type writerStmts struct {
	head, window *sql.Stmt
	insert       map[int]*sql.Stmt // by row count: insertRows
	heads        map[int]*sql.Stmt // by stream count: headRows
}

func prepareWriterStmts(ctx context.Context, db preparer) (writerStmts, error) {
	st := writerStmts{insert: make(map[int]*sql.Stmt, len(insertRows)), heads: make(map[int]*sql.Stmt, len(headRows))}
	var err error
	prep := func(query string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var s *sql.Stmt
		s, err = db.PrepareContext(ctx, query)
		return s
	}
	st.head = prep("SELECT revision, position FROM events WHERE stream = ? ORDER BY revision DESC LIMIT 1")
	st.window = prep("SELECT revision, position, id FROM events WHERE stream = ? AND revision BETWEEN ? AND ? ORDER BY revision")
	for _, n := range headRows {
		if s := prep(headsQuery(n)); s != nil {
			st.heads[n] = s
		}
	}
	for _, n := range insertRows {
		if s := prep(insertQuery(n)); s != nil {
			st.insert[n] = s
		}
	}
	if err != nil {
		st.close()
		return writerStmts{}, err
	}
	return st, nil
}

func (st writerStmts) close() {
	for _, s := range append(append([]*sql.Stmt{st.head, st.window}, mapValues(st.insert)...), mapValues(st.heads)...) {
		if s != nil {
			s.Close()
		}
	}
}

func mapValues(m map[int]*sql.Stmt) []*sql.Stmt {
	out := make([]*sql.Stmt, 0, len(m))
	for _, s := range m {
		out = append(out, s)
	}
	return out
}
