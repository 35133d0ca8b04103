package sqlite

import (
	"context"
	"database/sql"
	"time"
	"unicode/utf8"

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

// scanWindow bounds the positions one filtered page query of the global log
// scans, so that a filter matching few events cannot make a single query run long
// (queries are not interrupted by their context; see queryEvents).
const scanWindow = 64 * pageSize

// queryEvents runs query, whose LIMIT is at most pageSize, on the read pool (its
// prepared statement when it has one) and decodes every row into buf, returning
// the page: it is valid until the next queryEvents with buf. A row that cannot be
// decoded fails the page with a *CorruptEventError. stream is "" for a query of
// eventColumns, or the stream every row belongs to for a query of
// streamEventColumns.
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
// columns (id, data and metadata are in their own fields instead), and the arena
// that the blobs of a page are copied into.
type rawRow struct {
	cols           [8]any
	id, data, meta blobColumn
	arena          arena
}

// blobColumn scans a BLOB column, keeping the driver's value as it is, whatever
// its storage class; decodeEvent checks the class and copies the bytes. Its Scan
// never fails and cannot panic: database/sql holds the rows' lock while a Scanner
// runs, so a panic there leaves it held, and the read, its connection and Close
// all hang. As a sql.Scanner it gets the driver's value as is: scanning into *any
// would copy a blob and box the copy, two allocations per value.
type blobColumn struct {
	b     []byte // a BLOB: the driver's bytes, valid only until the next row is scanned
	s     string // a TEXT
	other any    // an INTEGER or a REAL, kept for the error message
	class storageClass
}

// storageClass is the SQLite storage class of a value blobColumn scanned.
type storageClass uint8

const (
	classNull storageClass = iota
	classBlob
	classText
	classOther
)

// Scan implements sql.Scanner.
func (c *blobColumn) Scan(src any) error {
	*c = blobColumn{}
	switch v := src.(type) {
	case nil:
		c.class = classNull
	case []byte:
		c.class, c.b = classBlob, v
	case string:
		c.class, c.s = classText, v
	default:
		c.class, c.other = classOther, v
	}
	return nil
}

// bytes returns the value as the bytes of data or metadata, copied into a: nil for
// NULL, the bytes of a BLOB or of a TEXT. ok is false for anything else.
func (c *blobColumn) bytes(a *arena) (b []byte, ok bool) {
	switch c.class {
	case classNull:
		return nil, true
	case classBlob:
		return arenaCopy(a, c.b), true
	case classText:
		return arenaCopy(a, c.s), true
	}
	return nil, false
}

// value returns the scanned value as the driver gave it, for error messages.
func (c *blobColumn) value() any {
	switch c.class {
	case classBlob:
		return c.b
	case classText:
		return c.s
	case classOther:
		return c.other
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

// arenaCopy copies b into a.
func arenaCopy[B string | []byte](a *arena, b B) []byte {
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

// decodeEvent checks and converts one scanned row. A non-empty stream is the
// stream of a row that selected NULL for it (streamEventColumns).
//
// A row is an event only if every column holds what this package writes, or,
// for data and metadata, a value whose bytes are unambiguous:
//
//	position     INTEGER > 0 (the rowid; AUTOINCREMENT starts at 1)
//	stream       TEXT, not empty, valid UTF-8
//	revision     INTEGER >= 0
//	id           BLOB of exactly 16 bytes
//	type         TEXT, not empty, valid UTF-8 (what Append accepts)
//	data         NULL (nil), BLOB, or TEXT taken as its bytes
//	metadata     as data
//	recorded_at  INTEGER, nanoseconds since 1970 (negative: before 1970)
//
// TEXT is accepted for data and metadata because JSON written by hand or by
// SQLite's JSON functions is TEXT, and its bytes are the payload. A stream name
// is checked for what makes it a name, not against the rules Append applies to
// new names (eventstore.ValidateStreamName): rules may tighten, and the events
// already stored must stay readable. Nothing else is
// converted: a REAL revision is not rounded, a TEXT id is not parsed as a UUID, a
// BLOB stream or type is not taken for a name (SQL never compares a BLOB equal to
// TEXT, so the stream's own reads and the type filters would not see the row).
// Any other value fails the row with a *CorruptEventError naming its position,
// stream and revision as far as the row holds them.
func decodeEvent(r *rawRow, stream string) (eventstore.RecordedEvent, error) {
	c := &r.cols
	pos, ok := c[0].(int64)
	if !ok || pos <= 0 {
		return eventstore.RecordedEvent{}, r.corrupt(stream, "position is "+describe(c[0])+", not a positive integer")
	}
	if stream == "" {
		name, ok := streamName(c[1])
		if !ok {
			return eventstore.RecordedEvent{}, r.corrupt("", "stream is "+describe(c[1])+", not a name")
		}
		stream = name
	}
	rev, ok := c[2].(int64)
	if !ok || rev < 0 {
		return eventstore.RecordedEvent{}, r.corrupt(stream, "revision is "+describe(c[2])+", not a non-negative integer")
	}
	if r.id.class != classBlob || len(r.id.b) != 16 {
		return eventstore.RecordedEvent{}, r.corrupt(stream, "id is "+describe(r.id.value())+", not a blob of 16 bytes")
	}
	typ, ok := c[4].(string)
	if !ok || typ == "" || !utf8.ValidString(typ) {
		return eventstore.RecordedEvent{}, r.corrupt(stream, "type is "+describe(c[4])+", not an event type")
	}
	data, ok := r.data.bytes(&r.arena)
	if !ok {
		return eventstore.RecordedEvent{}, r.corrupt(stream, "data is "+describe(r.data.value())+", not a blob or text")
	}
	meta, ok := r.meta.bytes(&r.arena)
	if !ok {
		return eventstore.RecordedEvent{}, r.corrupt(stream, "metadata is "+describe(r.meta.value())+", not a blob or text")
	}
	at, ok := c[7].(int64)
	if !ok {
		return eventstore.RecordedEvent{}, r.corrupt(stream, "recorded_at is "+describe(c[7])+", not an integer")
	}
	return eventstore.RecordedEvent{
		ID:         uuid.UUID(r.id.b),
		Stream:     stream,
		Revision:   uint64(rev),
		Position:   backend.SequencePosition(uint64(pos)),
		Type:       typ,
		Data:       data,
		Metadata:   meta,
		RecordedAt: time.Unix(0, at).UTC(),
	}, nil
}

// corrupt reports r as a corrupt event with problem. stream is the row's stream
// when known already, otherwise its stream column's value if that is a name.
func (r *rawRow) corrupt(stream, problem string) error {
	if name, ok := streamName(r.cols[1]); ok && stream == "" {
		stream = name
	}
	pos, _ := r.cols[0].(int64)
	return &CorruptEventError{Position: pos, Stream: stream, Revision: storedRevision(r.cols[2]), Problem: problem}
}

// streamName returns the value of a stream column as a name: TEXT, not empty,
// valid UTF-8.
func streamName(v any) (string, bool) {
	name, ok := v.(string)
	return name, ok && name != "" && utf8.ValidString(name)
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
