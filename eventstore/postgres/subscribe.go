package postgres

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
// Appends through this Store wake the subscription on commit; appends of other
// Stores and processes wake it through LISTEN/NOTIFY (one connection per Store,
// opened by the first subscription), and every poll interval it reads anyway, so
// a lost notification costs at most that long. There is no gap and no repeat
// between catch-up and live, and none later: positions are taken under a lock
// held until commit (see the package doc), so they become visible in order, and
// each pass reads everything after the last position scanned up to a head it read
// first: everything at or below a visible head is final. The signal is taken
// before each pass, so a commit after the pass's reads always wakes the next one.
//
// It ends with no error when ctx is done or the caller stops ranging, with an
// error matching eventstore.ErrClosed when the store is closed, and with the
// storage error when a read fails (eventstore.ErrUnavailable when the server went
// away): resubscribe after the last position delivered.
func (s *Store) SubscribeAll(ctx context.Context, after eventstore.Position, opts ...eventstore.ReadOption) iter.Seq2[eventstore.Message, error] {
	o := backend.ResolveReadOptions(opts)
	o.Limit = 0
	return func(yield func(eventstore.Message, error) bool) {
		if err := backend.ValidateReadAll(o); err != nil {
			yield(eventstore.Message{}, backend.SubscribeError(after, err))
			return
		}
		s.listener.ensure()
		r := newLogRange(s, o)
		log := backend.Log{
			Commits: &s.commits,
			Head:    s.head,
			Page: func(ctx context.Context, after, upTo int64) ([]eventstore.RecordedEvent, int64, error) {
				return r.page(ctx, after, upTo, pageSize)
			},
			Closed: s.isClosed.Load,
			Done:   s.done,
			Poll:   s.cfg.pollInterval,
		}
		backend.Tail(ctx, log, after, nil)(yield)
	}
}
