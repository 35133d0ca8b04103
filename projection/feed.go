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

// feed ranges over a subscription in its own goroutine, so that reading the log
// overlaps with applying it, and queues its messages for the apply loop, which
// takes them a batch at a time. A queue under a mutex rather than a channel: the
// apply loop then pays one handoff per batch, not one per event, and can still
// tell when no more events are immediately available (and commit a short batch at
// once, in live mode). Cancel ctx, then call stop, to stop it.
type feed struct {
	mu      sync.Mutex
	queue   []item // queue[head:] are waiting to be taken
	head    int
	limit   int  // most messages queued; the reader waits beyond it
	want    int  // messages the apply loop waits for before being woken
	ended   bool // the subscription ended: nothing more will be queued
	ready   chan struct{}
	room    chan struct{}
	stopped sync.WaitGroup
}

// startFeed subscribes from after and queues up to limit messages ahead of the
// apply loop; limit must be at least the largest batch asked of next.
func startFeed(ctx context.Context, store eventstore.Store, after eventstore.Position, opts []eventstore.ReadOption, limit int) *feed {
	f := &feed{queue: make([]item, 0, limit), limit: limit, want: 1,
		ready: make(chan struct{}, 1), room: make(chan struct{}, 1)}
	f.stopped.Go(func() {
		defer f.end()
		for m, err := range store.SubscribeAll(ctx, after, opts...) {
			if !f.push(ctx, item{m, err}) || err != nil {
				return
			}
		}
	})
	return f
}

// stop waits for the reading goroutine to end (after ctx was cancelled).
func (f *feed) stop() { f.stopped.Wait() }

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// push queues it, waiting while the queue is full; false if ctx ended first.
func (f *feed) push(ctx context.Context, it item) bool {
	f.mu.Lock()
	for len(f.queue)-f.head >= f.limit {
		f.mu.Unlock()
		select {
		case <-f.room:
		case <-ctx.Done():
			return false
		}
		f.mu.Lock()
	}
	if len(f.queue) == cap(f.queue) && f.head > 0 {
		n := copy(f.queue, f.queue[f.head:])
		clear(f.queue[n:])
		f.queue, f.head = f.queue[:n], 0
	}
	f.queue = append(f.queue, it)
	// Wake the apply loop only once it has something to do: in catch-up it waits
	// for a full batch, and waking it per event would cost more than the event.
	wake := len(f.queue)-f.head >= f.want || it.err != nil || it.m.CaughtUp
	f.mu.Unlock()
	if wake {
		signal(f.ready)
	}
	return true
}

func (f *feed) end() {
	f.mu.Lock()
	f.ended = true
	f.mu.Unlock()
	signal(f.ready)
}

// next appends messages' events to batch, up to max events, and returns it. It
// stops early at the CaughtUp message (caughtUp is then true) or an error. With
// fill unset it waits for one event at most, then takes only what is immediately
// available (live mode: commit soon); with fill set it waits until the batch is
// full (catch-up and rebuild: the history is there to read, so wait for a
// batch worth one transaction).
func (f *feed) next(ctx context.Context, batch []eventstore.RecordedEvent, max int, fill bool) (_ []eventstore.RecordedEvent, caughtUp bool, err error) {
	for {
		f.mu.Lock()
		stop := false
		n := f.head
		for ; n < len(f.queue) && !stop; n++ {
			it := f.queue[n]
			switch {
			case it.err != nil:
				err, stop = it.err, true
			case it.m.CaughtUp:
				caughtUp, stop = true, true
			default:
				batch = append(batch, it.m.Event)
				stop = len(batch) >= max
			}
		}
		clear(f.queue[f.head:n]) // let taken events be collected
		f.head = n
		if f.head == len(f.queue) {
			f.queue, f.head = f.queue[:0], 0
		}
		ended := f.ended && f.head == len(f.queue)
		f.want = 1
		if fill {
			f.want = max - len(batch)
		}
		f.mu.Unlock()
		signal(f.room)
		switch {
		case stop:
			return batch, caughtUp, err
		case len(batch) > 0 && !fill:
			return batch, false, nil
		case ended:
			if ctx.Err() != nil {
				return batch, false, ctx.Err()
			}
			return batch, false, errSubscriptionEnded
		}
		select {
		case <-ctx.Done():
			return batch, false, ctx.Err()
		case <-f.ready:
		}
	}
}
