package projection

import (
	"context"
	"errors"
	"sync"

	"github.com/idemkit/idem/eventstore"
)

var errSubscriptionEnded = errors.New("subscription ended unexpectedly")

type item struct {
	m   eventstore.Message
	err error
}

// feed ranges over a subscription in its own goroutine and hands its messages over
// a buffered channel, so that the apply loop can tell when no more events are
// immediately available (and commit a short batch at once, in live mode). Cancel
// ctx, then call wait, to stop it.
func feed(ctx context.Context, store eventstore.Store, after eventstore.Position, opts []eventstore.ReadOption, size int) (<-chan item, func()) {
	ch := make(chan item, size)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(ch)
		for m, err := range store.SubscribeAll(ctx, after, opts...) {
			select {
			case ch <- item{m, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	})
	return ch, wg.Wait
}

// nextBatch waits for one message, then takes whatever else is immediately
// available, up to max events. It stops early at the CaughtUp message.
func nextBatch(ctx context.Context, ch <-chan item, batch []eventstore.RecordedEvent, max int) (_ []eventstore.RecordedEvent, caughtUp bool, err error) {
	take := func(it item, ok bool) (stop bool) {
		switch {
		case !ok:
			err = errSubscriptionEnded
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return true
		case it.err != nil:
			err = it.err
			return true
		case it.m.CaughtUp:
			caughtUp = true
			return true
		}
		batch = append(batch, it.m.Event)
		return len(batch) >= max
	}
	select {
	case <-ctx.Done():
		return batch, false, ctx.Err()
	case it, ok := <-ch:
		if take(it, ok) {
			return batch, caughtUp, err
		}
	}
	for {
		select {
		case it, ok := <-ch:
			if take(it, ok) {
				return batch, caughtUp, err
			}
		default:
			return batch, false, nil
		}
	}
}
