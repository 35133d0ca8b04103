package projection

import (
	"context"
	"fmt"

	"github.com/idemkit/idem/eventstore"
)

// Lag counts the events that projection or reactor name wants (its event types
// and stream prefixes) after position after, up to the runner's lag limit
// (WithLagLimit; capped then says the count is a lower bound). It reads the store
// only, never the target: a tool that read a checkpoint from the target itself
// gets the lag Status would report, without the runner creating its bookkeeping.
func (r *Runner[Tx]) Lag(ctx context.Context, name string, after eventstore.Position) (events uint64, capped bool, err error) {
	r.mu.Lock()
	var w worker
	for _, x := range r.workers() {
		if x.stats().snapshot().Name == name {
			w = x
		}
	}
	r.mu.Unlock()
	if w == nil {
		return 0, false, fmt.Errorf("lag: projection %s: %w", quoteShort(name), ErrUnknownProjection)
	}
	opts := append(append([]eventstore.ReadOption(nil), w.filters()...), eventstore.Limit(r.set.lagLimit))
	for _, err := range r.store.ReadAll(ctx, after, opts...) {
		if err != nil {
			return events, false, fmt.Errorf("lag of %s: %w", quoteShort(name), err)
		}
		events++
	}
	return events, events >= uint64(r.set.lagLimit), nil
}
