package memory

import (
	"context"
	"iter"
	"sort"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/backend"
)

// ReadStream yields the events of stream from revision from (inclusive), forwards,
// or with eventstore.Backwards from that revision (or eventstore.StreamEnd) down to
// 0; see eventstore.Store. It reads the stream as it was when iteration began.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, opts ...eventstore.ReadOption) iter.Seq2[eventstore.RecordedEvent, error] {
	o := backend.ResolveReadOptions(opts)
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		fail := func(err error) { yield(eventstore.RecordedEvent{}, backend.ReadStreamError(stream, err)) }
		if err := backend.CheckReadStream(ctx, stream, o); err != nil {
			yield(eventstore.RecordedEvent{}, err)
			return
		}
		log, indices, closed := s.snapshot(stream)
		if closed {
			fail(eventstore.ErrClosed)
			return
		}
		if len(indices) == 0 {
			fail(eventstore.ErrStreamNotFound)
			return
		}
		n := 0
		emit := func(rev uint64) bool {
			if err := ctx.Err(); err != nil {
				fail(err)
				return false
			}
			n++
			return yield(clone(log[indices[rev]]), nil) && (o.Limit == 0 || n < o.Limit)
		}
		last := uint64(len(indices) - 1)
		if o.Backwards {
			rev := min(from, last)
			for {
				if !emit(rev) || rev == 0 {
					return
				}
				rev--
			}
		}
		for rev := from; rev <= last; rev++ {
			if !emit(rev) {
				return
			}
		}
	}
}

// ReadAll yields the events of the global log after the given position, in position
// order, filtered and capped by opts; see eventstore.Store. It reads the log as it
// was when iteration began.
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position, opts ...eventstore.ReadOption) iter.Seq2[eventstore.RecordedEvent, error] {
	o := backend.ResolveReadOptions(opts)
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		fail := func(err error) { yield(eventstore.RecordedEvent{}, backend.ReadAllError(after, err)) }
		if err := backend.CheckReadAll(ctx, after, o); err != nil {
			yield(eventstore.RecordedEvent{}, err)
			return
		}
		log, _, closed := s.snapshot("")
		if closed {
			fail(eventstore.ErrClosed)
			return
		}
		n := 0
		for i := firstAfter(log, after); i < len(log); i++ {
			if err := ctx.Err(); err != nil {
				fail(err)
				return
			}
			e := &log[i]
			if !o.Matches(e.Stream, e.Type) {
				continue
			}
			n++
			if !yield(clone(*e), nil) || (o.Limit > 0 && n >= o.Limit) {
				return
			}
		}
	}
}

// firstAfter returns the index of the first event of log whose position is after p.
func firstAfter(log []eventstore.RecordedEvent, p eventstore.Position) int {
	return sort.Search(len(log), func(i int) bool { return p.Less(log[i].Position) })
}
