package postgres

import (
	"context"
	"iter"
	"math"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/backend"
)

// ReadStream yields the events of stream from revision from (inclusive), forwards,
// or with eventstore.Backwards from that revision (or eventstore.StreamEnd) down to
// 0; see eventstore.Store. It reads in pages of a few hundred events, each a query
// of its own: events appended while the caller ranges may or may not be seen, but
// revisions are never skipped or repeated.
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
		query := s.sql.streamForward
		if o.Backwards {
			query = s.sql.streamBackward
		}
		cursor := int64(min(from, math.MaxInt64))
		remaining := o.Limit // 0: no limit
		first := true
		for {
			n := pageSize
			if remaining > 0 && remaining < n {
				n = remaining
			}
			page, err := s.queryEvents(ctx, "read stream", stream, query, stream, cursor, n)
			if err != nil {
				fail(err)
				return
			}
			if first && len(page) == 0 {
				exists, err := s.streamExists(ctx, stream)
				if err != nil {
					fail(err)
					return
				}
				if !exists {
					fail(eventstore.ErrStreamNotFound)
				}
				return
			}
			first = false
			if !emitPage(ctx, page, &remaining, yield, fail) {
				return
			}
			if len(page) < n {
				return
			}
			last := int64(page[len(page)-1].Revision)
			if o.Backwards {
				if last == 0 {
					return
				}
				cursor = last - 1
			} else {
				cursor = last + 1
			}
		}
	}
}

// ReadAll yields the events of the global log after the given position, in position
// order, filtered and capped by opts; see eventstore.Store. It reads the log up to
// the last event committed when iteration began, in pages of a few hundred events.
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
			fail(err)
			return
		}
		remaining := o.Limit
		cursor := backend.PositionCursor(after)
		r := newLogRange(s, o)
		for cursor < head {
			n := pageSize
			if remaining > 0 && remaining < n {
				n = remaining
			}
			page, next, err := r.page(ctx, cursor, head, n)
			if err != nil {
				fail(err)
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
	s     *Store
	o     backend.ReadOptions
	query string
	args  []any // filter arguments, after the three range arguments
}

// newLogRange picks the page query for o's filters. Filters are applied in SQL on
// a scan in position order, and again in Go with ReadOptions.Matches, the rule
// every backend shares.
func newLogRange(s *Store, o backend.ReadOptions) *logRange {
	if !o.HasFilter() {
		return &logRange{s: s, o: o, query: s.sql.readAll}
	}
	var prefixes, types []string // nil: no filter (NULL)
	if len(o.StreamPrefixes) > 0 {
		prefixes = o.StreamPrefixes
	}
	if len(o.EventTypes) > 0 {
		types = o.EventTypes
	}
	return &logRange{s: s, o: o, query: s.sql.readAllFilter, args: []any{prefixes, types}}
}

// page reads up to n (at most pageSize) matching events with positions in
// (after, upTo], scanning at most scanWindow positions. next is the position to
// continue after: the last event returned when the page is full, otherwise the end
// of the range scanned.
func (r *logRange) page(ctx context.Context, after, upTo int64, n int) (page []eventstore.RecordedEvent, next int64, err error) {
	if upTo-after > scanWindow {
		upTo = after + scanWindow
	}
	args := append([]any{after, upTo, n}, r.args...)
	rows, err := r.s.queryEvents(ctx, "read all", "", r.query, args...)
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
