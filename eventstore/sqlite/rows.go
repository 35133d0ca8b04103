package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/idemkit/idem/eventstore"
)

// pageSize is how many events one read query returns. Reads page so that memory
// stays flat on a huge log and no connection is held while the caller's loop body
// runs: a page is read whole, its rows closed, and only then yielded.
const pageSize = 500

// eventColumns are the columns decodeEvent expects, in order.
const eventColumns = "position, stream, revision, id, type, data, metadata, recorded_at"

// scanWindow bounds the positions one page query of the global log scans, so that
// a filter matching few events cannot make a single query run long (queries are
// not interrupted by their context; see queryEvents).
const scanWindow = 64 * pageSize

// queryEvents runs query, whose LIMIT is n, on the read pool and decodes every
// row. A row that cannot be decoded fails the page with an error matching
// eventstore.ErrCorrupt that names its position.
//
// ctx is checked before the query, but the query runs without its cancellation:
// go-sqlite3 watches a cancellable context with a goroutine per row read, which
// costs more than reading the row. Every page query is bounded (LIMIT, and
// scanWindow for the log), and callers check ctx between events.
func (s *Store) queryEvents(ctx context.Context, n int, query string, args ...any) ([]eventstore.RecordedEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := s.rdb.QueryContext(context.WithoutCancel(ctx), query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	page := make([]eventstore.RecordedEvent, 0, n) // grown page by page, it cost more than the rows
	var cols [8]any
	dest := make([]any, len(cols))
	for i := range cols {
		dest[i] = &cols[i]
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		e, err := decodeEvent(cols)
		if err != nil {
			return nil, err
		}
		page = append(page, e)
	}
	return page, rows.Err()
}

// decodeEvent checks and converts one row of eventColumns. It takes the raw driver
// values so that a row of the wrong shape is reported as corrupt, with its position,
// rather than as a conversion error.
func decodeEvent(c [8]any) (eventstore.RecordedEvent, error) {
	pos, ok := c[0].(int64)
	if !ok || pos <= 0 {
		return eventstore.RecordedEvent{}, fmt.Errorf("event with position %v: position is not a positive integer: %w", c[0], eventstore.ErrCorrupt)
	}
	stream, ok := text(c[1])
	if !ok || stream == "" {
		return eventstore.RecordedEvent{}, corruptRow(pos, "stream is not a name")
	}
	rev, ok := c[2].(int64)
	if !ok || rev < 0 {
		return eventstore.RecordedEvent{}, corruptRow(pos, "revision is not a non-negative integer")
	}
	id, ok := c[3].([]byte)
	if !ok || len(id) != 16 {
		return eventstore.RecordedEvent{}, corruptRow(pos, "id is not 16 bytes")
	}
	typ, ok := text(c[4])
	if !ok || typ == "" {
		return eventstore.RecordedEvent{}, corruptRow(pos, "type is not a name")
	}
	data, ok := blob(c[5])
	if !ok {
		return eventstore.RecordedEvent{}, corruptRow(pos, "data is not a blob")
	}
	meta, ok := blob(c[6])
	if !ok {
		return eventstore.RecordedEvent{}, corruptRow(pos, "metadata is not a blob")
	}
	at, ok := c[7].(int64)
	if !ok {
		return eventstore.RecordedEvent{}, corruptRow(pos, "recorded_at is not an integer")
	}
	return eventstore.RecordedEvent{
		ID:         uuid.UUID(id),
		Stream:     stream,
		Revision:   uint64(rev),
		Position:   eventstore.SequencePosition(uint64(pos)),
		Type:       typ,
		Data:       data,
		Metadata:   meta,
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

// blob accepts NULL (nil), a BLOB, or TEXT. Scanning into *any already copied it.
func blob(v any) ([]byte, bool) {
	switch v := v.(type) {
	case nil:
		return nil, true
	case []byte:
		return v, true
	case string:
		return []byte(v), true
	}
	return nil, false
}

// streamExists reports whether stream has a head in the streams table.
func (s *Store) streamExists(ctx context.Context, stream string) (bool, error) {
	var one int
	err := s.rdb.QueryRowContext(ctx, "SELECT 1 FROM streams WHERE name = ?", stream).Scan(&one)
	if err == sql.ErrNoRows {
		return false, nil
	}
	return err == nil, err
}
