package memory

import (
	"context"
	"iter"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/backend"
)

// SubscribeAll yields the events after the given position, then one Message with
// CaughtUp set, then new events as they are committed; see eventstore.Store. It is
// woken by each commit, never polls, and has no gap and no repeat between catch-up
// and live: each pass reads the log and the commit signal under one lock, so a commit
// after the read always wakes it. Filters apply; Limit does not. It ends with no error
// when ctx is done or the caller stops ranging, and with eventstore.ErrClosed when the
// store is closed.
func (s *Store) SubscribeAll(ctx context.Context, after eventstore.Position, opts ...eventstore.ReadOption) iter.Seq2[eventstore.Message, error] {
	o := backend.ResolveReadOptions(opts)
	return func(yield func(eventstore.Message, error) bool) {
		fail := func(err error) { yield(eventstore.Message{}, backend.SubscribeError(after, err)) }
		if err := backend.ValidateReadAll(o); err != nil {
			fail(err)
			return
		}
		cursor := after    // the last position scanned
		delivered := after // the last position delivered
		caughtUp := false
		for {
			if ctx.Err() != nil {
				return
			}
			s.mu.RLock()
			log, wake, closed := s.log, s.wake, s.closed
			s.mu.RUnlock()
			if closed {
				fail(eventstore.ErrClosed)
				return
			}
			for i := firstAfter(log, cursor); i < len(log); i++ {
				if ctx.Err() != nil {
					return
				}
				e := &log[i]
				cursor = e.Position
				if !o.Matches(e.Stream, e.Type) {
					continue
				}
				delivered = e.Position
				if !yield(eventstore.Message{Event: clone(*e), Position: e.Position}, nil) {
					return
				}
			}
			if !caughtUp {
				caughtUp = true
				if !yield(eventstore.Message{CaughtUp: true, Position: delivered}, nil) {
					return
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-s.done:
			case <-wake:
			}
		}
	}
}
