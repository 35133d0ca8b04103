package command

import (
	"context"
	"errors"
	"iter"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/aggregate"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/memory"
)

// A counter: one command, one event; the decider's types are the concrete ones.
type inc struct{ By int }
type incremented struct{ By int }

type counter = Handler[int, inc, incremented]

func counterHandler(t *testing.T, store eventstore.Store, opts ...Option) *counter {
	codec, err := aggregate.NewCodec[inc, incremented](aggregate.Command[inc]("counter.Inc"),
		aggregate.Event[incremented]("counter.Incremented"))
	require.NoError(t, err)
	h, err := NewHandler(store, aggregate.Decider[int, inc, incremented]{
		Category: "counter",
		Initial:  func() int { return 0 },
		Evolve:   func(s int, e incremented) int { return s + e.By },
		Decide:   func(_ int, c inc) ([]incremented, error) { return []incremented{{By: c.By}}, nil },
	}, codec, append([]Option{WithBackoff(0, 0)}, opts...)...)
	require.NoError(t, err)
	return h
}

// failingReads, when armed, yields one event of a read from a revision above 0
// and then fails.
type failingReads struct {
	eventstore.Store
	armed atomic.Bool
}

var errReadBroke = errors.New("read broke")

func (f *failingReads) ReadStream(ctx context.Context, stream string, from uint64, opts ...eventstore.ReadOption) iter.Seq2[eventstore.RecordedEvent, error] {
	inner := f.Store.ReadStream(ctx, stream, from, opts...)
	if from == 0 || !f.armed.Load() {
		return inner
	}
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		for ev, err := range inner {
			if !yield(ev, err) || err != nil {
				return
			}
			yield(eventstore.RecordedEvent{}, errReadBroke)
			return
		}
	}
}

// TestFailedCatchUpLeavesTheCachedAggregate: the cached aggregate is shared, so a
// catch-up folds into a copy; when the catch-up fails (a read that breaks midway,
// an event that does not decode), the cached aggregate is exactly as it was, and
// once the cause is gone the next command catches up from it.
func TestFailedCatchUpLeavesTheCachedAggregate(t *testing.T) {
	for _, cause := range []string{"read", "decode"} {
		t.Run(cause, func(t *testing.T) {
			ctx := t.Context()
			mem := memory.New()
			t.Cleanup(func() { _ = mem.Close() })
			store := &failingReads{Store: mem}
			h := counterHandler(t, store, WithCache(4), WithRetries(2))
			other := counterHandler(t, mem) // another process
			for i, id := range []string{"c1", "c2"} {
				_, err := h.Handle(ctx, Command[inc]{ID: id, AggregateID: "x", Payload: inc{By: i + 1}})
				require.NoError(t, err)
			}
			a := h.cache.get("counter-x")
			require.NotNil(t, a)
			state, rev, set, recent := a.state, a.revision, a.set.list(), len(a.recent)
			require.Equal(t, 3, state)

			// The other process writes two events; h's cache is stale.
			for _, id := range []string{"o1", "o2"} {
				_, err := other.Handle(ctx, Command[inc]{ID: id, AggregateID: "x", Payload: inc{By: 10}})
				require.NoError(t, err)
			}
			switch cause {
			case "read":
				store.armed.Store(true)
			case "decode":
				_, err := mem.Append(ctx, "counter-x", eventstore.Exact(3), eventstore.EventData{ID: EventID("counter-x", "bad", 0),
					Type: "counter.Unknown", Data: []byte(`{}`), Metadata: []byte(`{"command_id":"bad","fingerprint":"f","index":0,"count":1}`)})
				require.NoError(t, err)
			}
			_, err := h.Handle(ctx, Command[inc]{ID: "c3", AggregateID: "x", Payload: inc{By: 100}})
			require.Error(t, err, "the Exact append conflicts and the catch-up fails")
			if cause == "read" {
				require.ErrorIs(t, err, errReadBroke)
			} else {
				require.ErrorIs(t, err, aggregate.ErrUnknownEventType)
			}

			require.Same(t, a, h.cache.get("counter-x"), "the cache still holds the aggregate it had")
			require.Equal(t, state, a.state)
			require.Equal(t, rev, a.revision)
			require.Equal(t, set, a.set.list())
			_, seen := a.set.get("o1")
			require.False(t, seen, "the first event the failed catch-up read is not in the cached set")
			require.Len(t, a.recent, recent)
			require.Empty(t, a.pending)
			require.Zero(t, h.turns.size(), "the turn was given back")

			if cause == "decode" {
				return // the stream stays unreadable for this codec (G11)
			}
			store.armed.Store(false)
			res, err := h.Handle(ctx, Command[inc]{ID: "c3", AggregateID: "x", Payload: inc{By: 100}})
			require.NoError(t, err)
			require.Equal(t, uint64(4), res.Revision)
			got := h.cache.get("counter-x")
			require.NotSame(t, a, got, "the caught-up copy replaced it")
			require.Equal(t, 123, got.state)
			require.Equal(t, 3, a.state, "the old aggregate was never changed")
			require.Equal(t, uint64(2), h.Stats().ConflictsRetried, "one conflict per Handle, each caught up")
		})
	}
}
