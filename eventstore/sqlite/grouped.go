package sqlite

import (
	"context"
	"strings"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/backend"
)

// A batch of many appends costs two statements per append when each reads its
// stream's head and inserts its events on its own, and with one event per append
// those statements, not the rows, are the batch's cost. So a batch reads the heads
// of all its streams with one statement (prefetchHeads) and, once every append has
// been checked, inserts the events of all accepted appends with as few multi-row
// INSERTs as the prepared sizes allow (flush).

// headRows are the stream counts of the prepared head queries, largest first; a
// query for fewer streams repeats the last one.
var headRows = [...]int{64, 16, 4}

// headsQuery returns the query of the heads of n streams: each stream's last
// revision and its position, NULL for a stream with no events, both read from the
// UNIQUE(stream, revision) index as the single-stream head query does.
func headsQuery(n int) string {
	var q strings.Builder
	q.WriteString("SELECT v.column1, " +
		"(SELECT revision FROM events WHERE stream = v.column1 ORDER BY revision DESC LIMIT 1), " +
		"(SELECT position FROM events WHERE stream = v.column1 ORDER BY revision DESC LIMIT 1) FROM (VALUES ")
	for i := range n {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?)")
	}
	q.WriteString(") AS v")
	return q.String()
}

// prefetchHeads reads the heads of the streams of reqs that the batch has not
// read yet, with one statement per up to 64 streams. It is an optimisation only:
// a stream whose head it could not read, or whose last row fails checkPlace, is
// left to head, which reads it again and reports the problem to its append.
func (b *batch) prefetchHeads(ctx context.Context, reqs []*backend.Request) {
	streams := make([]string, 0, len(reqs))
	seen := make(map[string]bool, len(reqs))
	for _, r := range reqs {
		if _, ok := b.heads[r.Stream]; !ok && !seen[r.Stream] {
			seen[r.Stream] = true
			streams = append(streams, r.Stream)
		}
	}
	if len(streams) < 2 {
		return // the single-stream query costs the same
	}
	for len(streams) > 0 {
		n := headRows[0]
		for _, size := range headRows {
			if size >= len(streams) {
				n = size
			}
		}
		chunk := streams[:min(n, len(streams))]
		streams = streams[len(chunk):]
		if b.readHeads(ctx, n, chunk) != nil {
			return
		}
	}
}

// readHeads reads the heads of streams (at most n) with the n-stream query.
func (b *batch) readHeads(ctx context.Context, n int, streams []string) error {
	args := make([]any, n)
	for i := range args {
		args[i] = streams[min(i, len(streams)-1)]
	}
	rows, err := b.stmts.heads[n].QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var stream string
		var rev, pos any
		if err := rows.Scan(&stream, &rev, &pos); err != nil {
			return err
		}
		switch {
		case rev == nil && pos == nil:
			b.heads[stream] = streamHead{}
		case checkPlace(stream, rev, pos) == nil:
			b.heads[stream] = streamHead{exists: true, last: rev.(int64), position: pos.(int64)}
		}
	}
	return rows.Err()
}

// pendingAppend is an accepted append whose events are not inserted yet.
type pendingAppend struct {
	stream string
	next   int64 // revision of its first event
	events []eventstore.EventData
	// res is where its result goes; flush sets the position.
	res *eventstore.AppendResult
}

// pendingRow is one event of a pending append.
type pendingRow struct {
	app *pendingAppend
	rev int64
	e   *eventstore.EventData
}

// flush inserts the events of the pending appends, in order, with the largest
// prepared multi-row INSERTs that fit, and sets each append's position (positions
// are consecutive within one INSERT). Any failure breaks the batch: an INSERT may
// hold the events of several appends, so none of them can fail alone.
func (b *batch) flush(ctx context.Context) error {
	if len(b.pending) == 0 || b.broken != nil {
		return b.broken
	}
	var rows []pendingRow
	for i := range b.pending {
		p := &b.pending[i]
		for k := range p.events {
			rows = append(rows, pendingRow{app: p, rev: p.next + int64(k), e: &p.events[k]})
		}
	}
	b.pending = b.pending[:0]
	for done := 0; done < len(rows); {
		n := 1
		for _, size := range insertRows {
			if len(rows)-done >= size {
				n = size
				break
			}
		}
		if err := b.insertRows(ctx, rows[done:done+n]); err != nil {
			b.broken = storageError(ctx, "insert events", err)
			return b.broken
		}
		done += n
	}
	return nil
}

// insertRows inserts rows with the len(rows)-row INSERT and records the position
// of each append's last event.
func (b *batch) insertRows(ctx context.Context, rows []pendingRow) error {
	args := make([]any, 0, insertColumns*len(rows))
	for _, r := range rows {
		args = append(args, r.app.stream, r.rev, r.e.ID[:], r.e.Type, r.e.Data, r.e.Metadata, b.now)
	}
	result, err := b.stmts.insert[len(rows)].ExecContext(ctx, args...)
	if err != nil {
		return err
	}
	last, err := result.LastInsertId()
	if err != nil {
		return err
	}
	for i, r := range rows {
		pos := last - int64(len(rows)-1-i)
		r.app.res.Position = backend.SequencePosition(uint64(pos))
		if h := b.heads[r.app.stream]; h.last == r.rev {
			h.position = pos
			b.heads[r.app.stream] = h
		}
	}
	return nil
}
