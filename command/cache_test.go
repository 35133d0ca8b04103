package command_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
)

func TestCachedDuplicateCostsNoIO(t *testing.T) {
	eachBackend(t, func(t *testing.T, inner eventstore.Store) {
		ctx := t.Context()
		store := &countingStore{Store: inner}
		h := newHandler(t, store, command.WithCache(16))
		c := cmd{ID: "c1", AggregateID: "a", Payload: Deposit{Amount: 3}}
		first, err := h.Handle(ctx, c)
		require.NoError(t, err)
		reads, appends := store.reads.Load(), store.appends.Load()

		again, err := h.Handle(ctx, c)
		require.NoError(t, err)
		require.True(t, again.Duplicate)
		require.Equal(t, first.Events[0].ID, again.Events[0].ID)
		require.Equal(t, reads, store.reads.Load(), "no read")
		require.Equal(t, appends, store.appends.Load(), "no append")

		// A new command on the cached aggregate costs one append and no read.
		_, err = h.Handle(ctx, cmd{ID: "c2", AggregateID: "a", Payload: Deposit{Amount: 4}})
		require.NoError(t, err)
		require.Equal(t, reads, store.reads.Load())
		require.Equal(t, appends+1, store.appends.Load())
		require.GreaterOrEqual(t, h.Stats().CacheHits, uint64(2))
	})
}

func TestStaleCacheIsCaughtByTheExactAppend(t *testing.T) {
	eachBackend(t, func(t *testing.T, store eventstore.Store) {
		ctx := t.Context()
		h1 := newHandler(t, store, command.WithCache(4))
		h2 := newHandler(t, store, command.WithCache(4))
		_, err := h1.Handle(ctx, cmd{ID: "c1", AggregateID: "a", Payload: Deposit{Amount: 10}})
		require.NoError(t, err)
		// Another process (h2) moves the aggregate on; h1's cache is now stale.
		_, err = h2.Handle(ctx, cmd{ID: "c2", AggregateID: "a", Payload: Deposit{Amount: 20}})
		require.NoError(t, err)
		// A withdrawal the stale state (10) would reject, the true state (30) allows.
		res, err := h1.Handle(ctx, cmd{ID: "c3", AggregateID: "a", Payload: Withdraw{Amount: 15}})
		require.NoError(t, err, "a rejection decided on a cached state is confirmed on the stored one")
		require.Equal(t, uint64(2), res.Revision)
		// A command the stale state allows: the Exact append catches the staleness.
		_, err = h2.Handle(ctx, cmd{ID: "c4", AggregateID: "a", Payload: Deposit{Amount: 1}})
		require.NoError(t, err)
		res, err = h1.Handle(ctx, cmd{ID: "c5", AggregateID: "a", Payload: Withdraw{Amount: 1}})
		require.NoError(t, err)
		require.Equal(t, uint64(4), res.Revision)
		require.Equal(t, uint64(1), h1.Stats().ConflictsRetried, "the Exact append caught the stale cache")
		// And h2's redelivery of c1, known only from the stream, is a duplicate.
		dup, err := h2.Handle(ctx, cmd{ID: "c1", AggregateID: "a", Payload: Deposit{Amount: 10}})
		require.NoError(t, err)
		require.True(t, dup.Duplicate)
		st, rev, err := loadAcc(h1, ctx, "a")
		require.NoError(t, err)
		require.Equal(t, 15, st.Balance)
		require.Equal(t, uint64(4), rev)
	})
}

// G3: the same command id with another payload must be loud even when it is decided
// on a stale cached state. Before event ids carried the fingerprint, the stale
// decision produced the ids of the stored original, the store took the append for a
// retry (G2) and the reused key was answered as applied.
func TestKeyReuseDecidedOnStaleCacheIsLoud(t *testing.T) {
	eachBackend(t, func(t *testing.T, store eventstore.Store) {
		ctx := t.Context()
		h1 := newHandler(t, store, command.WithCache(4))
		h2 := newHandler(t, store, command.WithCache(4))
		_, err := h1.Handle(ctx, cmd{ID: "c1", AggregateID: "a", Payload: Deposit{Amount: 10}})
		require.NoError(t, err)
		// h2 caches the aggregate at revision 0.
		_, err = h2.Handle(ctx, cmd{ID: "c1", AggregateID: "a", Payload: Deposit{Amount: 10}})
		require.NoError(t, err)
		// h1 records "x" at revision 1; h2's cache does not know it.
		_, err = h1.Handle(ctx, cmd{ID: "x", AggregateID: "a", Payload: Deposit{Amount: 5}})
		require.NoError(t, err)
		_, err = h2.Handle(ctx, cmd{ID: "x", AggregateID: "a", Payload: Deposit{Amount: 6}})
		require.ErrorIs(t, err, command.ErrIdempotencyKeyReused)
		require.Len(t, streamEvents(t, store, "account-a"), 2, "nothing written")
		st, _, err := loadAcc(h1, ctx, "a")
		require.NoError(t, err)
		require.Equal(t, 15, st.Balance)
	})
}
