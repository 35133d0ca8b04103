package sqlite

import (
	"context"
	"iter"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/backend"
)

// SubscribeAll yields the events after the given position, then one Message with
// CaughtUp set, then new events as they are committed; see eventstore.Store.
// Filters apply; Limit does not.
//
// Appends through this Store wake the subscription on commit; appends by other
// processes (or other Stores on the same file) are seen by polling every
// PollInterval. There is no gap and no repeat between catch-up and live: SQLite has
// one writer and assigns positions inside its transaction, so positions become
// visible in order, and each pass reads everything after the last position scanned,
// up to a head it read first (everything at or below a visible head is final).
// The commit signal is taken before each pass, so a commit after the pass's reads
// always wakes the next one.
//
// It ends with no error when ctx is done or the caller stops ranging, with an
// error matching eventstore.ErrClosed when the store is closed, and with a
// *CorruptEventError when it reaches a stored row that is not an event (as
// ReadAll does).
func (s *Store) SubscribeAll(ctx context.Context, after eventstore.Position, opts ...eventstore.ReadOption) iter.Seq2[eventstore.Message, error] {
	o := backend.ResolveReadOptions(opts)
	o.Limit = 0
	return func(yield func(eventstore.Message, error) bool) {
		if err := backend.ValidateReadAll(o); err != nil {
			yield(eventstore.Message{}, backend.SubscribeError(after, err))
			return
		}
		r := newLogRange(o)
		buf := getPage()
		defer putPage(buf)
		log := backend.Log{
			Commits: &s.commits,
			Head:    s.head,
			Page: func(ctx context.Context, after, upTo int64) ([]eventstore.RecordedEvent, int64, error) {
				return r.page(ctx, s, buf, after, upTo, pageSize)
			},
			Closed: s.isClosed.Load,
			Done:   s.done,
			Poll:   s.cfg.pollInterval,
		}
		wrap := func(op string, err error) error { return s.readError(ctx, op, err) }
		backend.Tail(ctx, log, after, wrap)(yield)
	}
}
