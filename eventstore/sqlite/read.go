package sqlite

import (
	"context"
	"encoding/hex"
	"fmt"
	"iter"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/backend"
)

// ReadStream yields the events of stream from revision from (inclusive), forwards,
// or with eventstore.Backwards from that revision (or eventstore.StreamEnd) down to
// 0; see eventstore.Store. It reads in pages of a few hundred events, each in its
// own read transaction: events appended while the caller ranges may or may not be
// seen, but revisions are never skipped or repeated.
//
// A stored row that is not an event (rows.go states the rule) fails the read with
// a *CorruptEventError when the read covers it, and so does a revision missing
// from the range read. Rows whose revision has no place among 0, 1, 2... are
// covered by the reads that reach the end of the stream where SQLite sorts them:
// NULL and negative revisions before revision 0, TEXT and BLOB ones after the
// last revision.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, opts ...eventstore.ReadOption) iter.Seq2[eventstore.RecordedEvent, error] {
	o := backend.ResolveReadOptions(opts)
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		fail := func(err error) {
			yield(eventstore.RecordedEvent{}, backend.ReadStreamError(stream, err))
		}
		if err := backend.CheckReadStream(ctx, stream, o); err != nil {
			yield(eventstore.RecordedEvent{}, err)
			return
		}
		if s.isClosed.Load() {
			fail(eventstore.ErrClosed)
			return
		}
		r := newStreamRange(stream, from, o.Backwards)
		buf := getPage()
		defer putPage(buf)
		remaining := o.Limit // 0: no limit
		for {
			n := pageSize
			if remaining > 0 && remaining < n {
				n = remaining
			}
			page, err := s.queryEvents(ctx, buf, stream, r.query, r.args(n)...)
			if err == nil {
				err = r.check(page)
			}
			if err != nil {
				fail(s.readError(ctx, "read stream", err))
				return
			}
			if !emitPage(ctx, page, &remaining, yield, fail) {
				return
			}
			if len(page) < n {
				// The range is exhausted: the stream's end in the direction read,
				// which may hold rows of no revision.
				if err := s.streamEnd(ctx, buf, r); err != nil {
					fail(err)
				}
				return
			}
		}
	}
}

// streamRange is the part of a stream a ReadStream has yet to read, and what it
// has read so far.
type streamRange struct {
	stream    string
	backwards bool
	// open is true until the first event is read: a read from revision 0
	// forwards, or from the end backwards, has no bound where it starts, so that
	// it also meets the rows sorted beyond that end of the stream (NULL and
	// negative revisions before 0, TEXT and BLOB after the last).
	open  bool
	query string
	// cursor is the revision the next page starts at (inclusive).
	cursor int64
	// next is the revision the next event must have; known is false until the
	// first event of a backward read from a given revision, which may be above
	// the stream's last.
	next  int64
	known bool
	read  bool // whether any event was read
}

func newStreamRange(stream string, from uint64, backwards bool) *streamRange {
	r := &streamRange{stream: stream, backwards: backwards, cursor: int64(min(from, math.MaxInt64))}
	switch {
	case !backwards && from == 0:
		r.open, r.query = true, readStreamFromStartQuery
	case !backwards:
		r.query = readStreamForwardQuery
	case from >= math.MaxInt64:
		r.open, r.query = true, readStreamFromEndQuery
	default:
		r.query = readStreamBackwardQuery
	}
	r.next, r.known = r.cursor, !backwards
	return r
}

// args returns the arguments of the next page query, of at most n events.
func (r *streamRange) args(n int) []any {
	if r.open {
		return []any{r.stream, n}
	}
	return []any{r.stream, r.cursor, n}
}

// check checks that page continues the revisions read so far without a gap, and
// moves the range past it. A revision can only be missing from a stream that was
// damaged: appends write revisions 0, 1, 2... and nothing deletes them.
func (r *streamRange) check(page []eventstore.RecordedEvent) error {
	step := int64(1)
	if r.backwards {
		step = -1
	}
	for i := range page {
		rev := int64(page[i].Revision)
		if r.known && rev != r.next {
			lo, hi, where := r.next, rev-1, "below"
			if r.backwards {
				lo, hi, where = rev+1, r.next, "above"
			}
			return gap(&page[i], lo, hi, where)
		}
		r.next, r.known, r.read = rev+step, true, true
	}
	if len(page) > 0 {
		r.open, r.cursor = false, r.next
		r.query = readStreamForwardQuery
		if r.backwards {
			r.query = readStreamBackwardQuery
		}
	}
	return nil
}

// gap reports the revisions lo..hi missing next to e.
func gap(e *eventstore.RecordedEvent, lo, hi int64, where string) error {
	missing := fmt.Sprintf("revision %d is missing %s it", lo, where)
	if hi > lo {
		missing = fmt.Sprintf("revisions %d to %d are missing %s it", lo, hi, where)
	}
	return &CorruptEventError{Position: int64(e.Position.Commit), Stream: e.Stream, Revision: strconv.FormatUint(e.Revision, 10), Problem: missing}
}

// streamEnd is called when r's range is exhausted, after its last page was
// yielded; it returns the read's last error, if any. Forwards, the range had no
// upper bound: nothing is left to check, but a read that found nothing must tell
// an empty stream (ErrStreamNotFound) from one read past its end. Backwards, this
// is the bottom of the stream, which a range bounded above does not fully cover
// (SQLite sorts NULL revisions first), and the events must have reached revision
// 0: the stream's lowest row, read through its index, says both.
func (s *Store) streamEnd(ctx context.Context, buf *pageBuf, r *streamRange) error {
	if !r.read && r.open {
		return eventstore.ErrStreamNotFound // the whole stream was in range
	}
	if !r.backwards {
		if r.read {
			return nil
		}
		exists, err := s.streamExists(ctx, r.stream)
		if err != nil {
			return s.readError(ctx, "read stream", err)
		}
		if !exists {
			return eventstore.ErrStreamNotFound
		}
		return nil
	}
	lowest, err := s.queryEvents(ctx, buf, r.stream, streamLowestQuery, r.stream)
	switch {
	case err != nil:
		return s.readError(ctx, "read stream", err)
	case len(lowest) == 0:
		return eventstore.ErrStreamNotFound
	case lowest[0].Revision != 0:
		return gap(&lowest[0], 0, int64(lowest[0].Revision)-1, "below")
	}
	return nil
}

// ReadAll yields the events of the global log after the given position, in position
// order, filtered and capped by opts; see eventstore.Store. It reads the log up to
// the last event committed when iteration began, in pages of a few hundred events.
// A stored row that is not an event fails the read with a *CorruptEventError when
// the read reaches it; a read from the start also reaches rows at position 0 or
// below, which only damage leaves.
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position, opts ...eventstore.ReadOption) iter.Seq2[eventstore.RecordedEvent, error] {
	o := backend.ResolveReadOptions(opts)
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		fail := func(err error) { yield(eventstore.RecordedEvent{}, backend.ReadAllError(after, err)) }
		if err := backend.CheckReadAll(ctx, after, o); err != nil {
			yield(eventstore.RecordedEvent{}, err)
			return
		}
		if s.isClosed.Load() {
			fail(eventstore.ErrClosed)
			return
		}
		head, err := s.head(ctx)
		if err != nil {
			fail(s.readError(ctx, "read head", err))
			return
		}
		remaining := o.Limit
		cursor := backend.PositionCursor(after)
		r := newLogRange(o)
		buf := getPage()
		defer putPage(buf)
		for cursor < head {
			n := pageSize
			if remaining > 0 && remaining < n {
				n = remaining
			}
			page, next, err := r.page(ctx, s, buf, cursor, head, n)
			if err != nil {
				fail(s.readError(ctx, "read all", err))
				return
			}
			if !emitPage(ctx, page, &remaining, yield, fail) {
				return
			}
			cursor = next
		}
	}
}

// logRange reads pages of the global log through a filter.
type logRange struct {
	o     backend.ReadOptions
	query string
	args  []any // filter arguments, after the three range arguments
}

// maxSQLPrefixes is the most stream prefixes a page query filters on in SQL (two
// variables each, and SQLite takes at most 32,766 in a statement); the prefixes of
// a larger filter are applied in Go only. The page scan reads every row of its
// window anyway: the SQL filter only spares decoding the rows it drops.
const maxSQLPrefixes = 64

// newLogRange builds the page query for o's filters. The filters are applied in
// SQL on a scan in position order (the unary + keeps SQLite from choosing the
// (stream, revision) index, which would need a sort), and again in Go with
// ReadOptions.Matches, the rule every backend shares: SQL may let more rows
// through, never fewer.
//
// The event types go in one argument whatever their number: a JSON array of the
// types' bytes in hex, so that a type with a NUL byte survives (SQLite's JSON
// text stops at U+0000).
func newLogRange(o backend.ReadOptions) *logRange {
	var where []string
	var args []any
	if len(o.StreamPrefixes) > 0 && len(o.StreamPrefixes) <= maxSQLPrefixes && !slices.Contains(o.StreamPrefixes, "") {
		var ors []string
		for _, p := range o.StreamPrefixes {
			if upper, ok := prefixUpperBound(p); ok {
				ors = append(ors, "(+stream >= ? AND +stream < ?)")
				args = append(args, p, upper)
			} else {
				ors = append(ors, "+stream >= ?")
				args = append(args, p)
			}
		}
		where = append(where, "("+strings.Join(ors, " OR ")+")")
	}
	if len(o.EventTypes) > 0 {
		where = append(where, "type IN (SELECT CAST(unhex(value) AS TEXT) FROM json_each(?))")
		args = append(args, hexArray(o.EventTypes))
	}
	q := readAllQuery // prepared: the query without filters
	if len(where) > 0 {
		q = "SELECT " + eventColumns + " FROM events WHERE position >= ? AND position <= ?"
		for _, w := range where {
			q += " AND " + w
		}
		q += " ORDER BY position LIMIT ?"
	}
	return &logRange{o: o, query: q, args: args}
}

// hexArray returns a JSON array of the strings' bytes in hex.
func hexArray(ss []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, s := range ss {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(hex.EncodeToString([]byte(s)))
		b.WriteByte('"')
	}
	b.WriteByte(']')
	return b.String()
}

// prefixUpperBound returns the least string greater than every string starting with
// p, in SQLite's BINARY (byte) order; ok is false when there is none.
func prefixUpperBound(p string) (string, bool) {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

// page reads up to n (at most pageSize) matching events with positions in
// (after, upTo] into buf. next is the position to continue after: the last event
// read when the page is full, otherwise the end of the range scanned.
//
// A query that filters in SQL scans at most scanWindow positions, starting at the
// first row after after: a filter that matches few events cannot make one query
// run long, and a stretch of positions without rows (which only damage or
// deletions leave) costs one lookup, not a query per window. A query without a
// SQL filter needs no window: its LIMIT bounds it.
func (r *logRange) page(ctx context.Context, s *Store, buf *pageBuf, after, upTo int64, n int) (page []eventstore.RecordedEvent, next int64, err error) {
	if r.query != readAllQuery && upTo-after > scanWindow {
		start := after
		var first any
		if err := s.queryRow(ctx, nextPositionQuery, after).Scan(&first); err != nil {
			return nil, after, err
		}
		if p, ok := first.(int64); ok && p-1 > start {
			start = min(p-1, upTo)
		}
		upTo = min(upTo, start+scanWindow)
	}
	// The range's lower bound is inclusive: after+1 (after < upTo, so it does not
	// overflow). Positions start at 1, but the range of a read from the start has
	// no lower bound, at the same cost, so that it meets a row at position 0 or
	// below (which only damage can leave) and reports it instead of skipping it.
	lower := after + 1
	if after == 0 {
		lower = math.MinInt64
	}
	args := make([]any, 0, 3+len(r.args))
	args = append(args, lower, upTo)
	args = append(args, r.args...)
	args = append(args, n)
	// The LIMIT placeholder comes last in the query; the filter arguments sit
	// between the range and it.
	rows, err := s.queryEvents(ctx, buf, "", r.query, args...)
	if err != nil {
		return nil, after, err
	}
	next = upTo
	if len(rows) == n && n > 0 {
		next = int64(rows[len(rows)-1].Position.Commit)
	}
	page = rows[:0]
	for _, e := range rows {
		if r.o.Matches(e.Stream, e.Type) {
			page = append(page, e)
		}
	}
	return page, next, nil
}

// emitPage yields the events of a page, checking ctx before each, and counts them
// against *remaining (0: no limit). It reports whether the read goes on.
func emitPage(ctx context.Context, page []eventstore.RecordedEvent, remaining *int,
	yield func(eventstore.RecordedEvent, error) bool, fail func(error)) bool {
	for _, e := range page {
		if err := ctx.Err(); err != nil {
			fail(err)
			return false
		}
		if !yield(e, nil) {
			return false
		}
	}
	if *remaining > 0 {
		*remaining -= len(page)
		return *remaining > 0
	}
	return true
}
