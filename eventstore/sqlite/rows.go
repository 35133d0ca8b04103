package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/backend"
)

// pageSize is how many events one read query returns. Reads page so that memory
// stays flat on a huge log and no connection is held while the caller's loop body
// runs: a page is read whole, its rows closed, and only then yielded.
const pageSize = 500

// eventColumns are the columns decodeEvent expects, in order. streamEventColumns
// are the same with NULL for the stream, for queries of one stream.
const (
	eventColumns       = "position, stream, revision, id, type, data, metadata, recorded_at"
	streamEventColumns = "position, NULL, revision, id, type, data, metadata, recorded_at"
)

// scanWindow bounds the positions one page query of the global log scans, so that
// a filter matching few events cannot make a single query run long (queries are
// not interrupted by their context; see queryEvents).
const scanWindow = 64 * pageSize

// queryEvents runs query, whose LIMIT is at most pageSize, on the read pool (its
// prepared statement when it has one) and decodes every row into buf, returning
// the page: it is valid until the next queryEvents with buf. A row that cannot be
// decoded fails the page with an error matching eventstore.ErrCorrupt that names
// its position. stream is "" for a query of eventColumns, or the stream every row
// belongs to for a query of streamEventColumns.
//
// ctx is checked before the query, but the query runs without its cancellation:
// go-sqlite3 watches a cancellable context with a goroutine per row read, which
// costs more than reading the row. Every page query is bounded (LIMIT, and
// scanWindow for the log), and callers check ctx between events.
func (s *Store) queryEvents(ctx context.Context, buf *pageBuf, stream, query string, args ...any) (page []eventstore.RecordedEvent, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := s.query(context.WithoutCancel(ctx), query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	page = buf.events[:0]
	defer func() { buf.keep(page) }()
	var row rawRow
	row.id.peek = true // copied into a uuid.UUID by decodeEvent
	row.data.arena, row.meta.arena = &row.arena, &row.arena
	dest := make([]any, 0, len(row.cols))
	for i := range row.cols {
		switch i {
		case 3:
			dest = append(dest, &row.id)
		case 5:
			dest = append(dest, &row.data)
		case 6:
			dest = append(dest, &row.meta)
		default:
			dest = append(dest, &row.cols[i])
		}
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return page, err
		}
		e, err := decodeEvent(&row, stream)
		if err != nil {
			return page, err
		}
		page = append(page, e)
	}
	return page, rows.Err()
}

// rawRow is one row of eventColumns as scanned: the driver's values of the scalar
// columns (id, data and metadata are in their own fields instead), and the blobs.
type rawRow struct {
	cols           [8]any
	id, data, meta blobColumn
	arena          arena
}

// blobColumn scans a BLOB column, accepting NULL, BLOB or TEXT (ok is false for
// anything else, which decodeEvent reports as corrupt). As a sql.Scanner it gets
// the driver's value as is: scanning into *any would copy it and box the copy, two
// allocations per value. It copies the value into arena, or with peek set keeps
// the driver's bytes, valid only until the next row is scanned.
type blobColumn struct {
	b     []byte
	ok    bool
	peek  bool
	arena *arena
}

// Scan implements sql.Scanner.
func (c *blobColumn) Scan(src any) error {
	c.b, c.ok = nil, true
	switch v := src.(type) {
	case nil:
	case []byte:
		c.b = v
		if !c.peek {
			c.b = c.arena.copy(v)
		}
	case string:
		c.b = c.arena.copy([]byte(v))
	default:
		c.ok = false
	}
	return nil
}

// arenaChunk is the largest size of arena's chunks: a retained event keeps at most
// this much memory alive besides its own. arenaFirstChunk is the size of a page's
// first chunk; each next chunk doubles, up to arenaChunk, so that a short read
// does not allocate a chunk for a full page.
const (
	arenaChunk      = 16 << 10
	arenaFirstChunk = 2 << 10
)

// arena hands out copies of blobs from shared chunks, one allocation per chunk
// rather than per value. Copies are capped (three-index slices), so appending to
// one never writes into another.
type arena struct {
	buf  []byte
	next int // size of the next chunk; 0 before the first
}

func (a *arena) copy(b []byte) []byte {
	if len(b) == 0 {
		return []byte{} // empty, not nil: nil is NULL
	}
	if len(b) > cap(a.buf)-len(a.buf) {
		a.next = min(max(a.next*2, arenaFirstChunk), arenaChunk)
		a.buf = make([]byte, 0, max(a.next, len(b)))
	}
	n := len(a.buf)
	a.buf = append(a.buf, b...)
	return a.buf[n:len(a.buf):len(a.buf)]
}

// decodeEvent checks and converts one scanned row. It takes the raw driver values
// so that a row of the wrong shape is reported as corrupt, with its position,
// rather than as a conversion error. A non-empty stream is the stream of a row
// that selected NULL for it (streamEventColumns).
func decodeEvent(r *rawRow, stream string) (eventstore.RecordedEvent, error) {
	c := &r.cols
	pos, ok := c[0].(int64)
	if !ok || pos <= 0 {
		return eventstore.RecordedEvent{}, fmt.Errorf("event with position %v: position is not a positive integer: %w", c[0], eventstore.ErrCorrupt)
	}
	if stream == "" || c[1] != nil {
		if stream, ok = text(c[1]); !ok || stream == "" {
			return eventstore.RecordedEvent{}, corruptRow(pos, "stream is not a name")
		}
	}
	rev, ok := c[2].(int64)
	if !ok || rev < 0 {
		return eventstore.RecordedEvent{}, corruptRow(pos, "revision is not a non-negative integer")
	}
	if !r.id.ok || len(r.id.b) != 16 {
		return eventstore.RecordedEvent{}, corruptRow(pos, "id is not 16 bytes")
	}
	typ, ok := text(c[4])
	if !ok || typ == "" {
		return eventstore.RecordedEvent{}, corruptRow(pos, "type is not a name")
	}
	if !r.data.ok {
		return eventstore.RecordedEvent{}, corruptRow(pos, "data is not a blob")
	}
	if !r.meta.ok {
		return eventstore.RecordedEvent{}, corruptRow(pos, "metadata is not a blob")
	}
	at, ok := c[7].(int64)
	if !ok {
		return eventstore.RecordedEvent{}, corruptRow(pos, "recorded_at is not an integer")
	}
	return eventstore.RecordedEvent{
		ID:         uuid.UUID(r.id.b),
		Stream:     stream,
		Revision:   uint64(rev),
		Position:   backend.SequencePosition(uint64(pos)),
		Type:       typ,
		Data:       r.data.b,
		Metadata:   r.meta.b,
		RecordedAt: time.Unix(0, at).UTC(),
	}, nil
}

// text accepts a TEXT value (or a BLOB holding text).
func text(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case []byte:
		return string(v), true
	}
	return "", false
}

// streamExists reports whether stream has at least one event.
func (s *Store) streamExists(ctx context.Context, stream string) (bool, error) {
	var one int
	err := s.queryRow(ctx, streamExistsQuery, stream).Scan(&one)
	if err == sql.ErrNoRows {
		return false, nil
	}
	return err == nil, err
}
