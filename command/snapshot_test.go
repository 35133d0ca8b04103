package command_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/command/sqlitesnap"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/memory"
)

func snapshotStores(t *testing.T) map[string]eventstore.SnapshotStore {
	db, err := sql.Open("sqlite3", filepath.Join(t.TempDir(), "snap.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	sq, err := sqlitesnap.New(t.Context(), db)
	require.NoError(t, err)
	return map[string]eventstore.SnapshotStore{"memory": memory.New(), "sqlite": sq}
}

// plainStore hides a store's optional capabilities: it is only an
// eventstore.Store, as EventStoreDB is (no FindEvent, no snapshots).
type plainStore struct{ eventstore.Store }

// TestSnapshotsBoundLoads: a fresh handler loads the latest snapshot and only the
// events after it (G7), and still recognises a command recorded long before the
// snapshot: by looking it up when the store finds events by id, from the processed
// set the snapshot carries when it cannot.
func TestSnapshotsBoundLoads(t *testing.T) {
	for _, finder := range []bool{true, false} {
		for name, snaps := range snapshotStores(t) {
			t.Run(fmt.Sprintf("finder=%v/%s", finder, name), func(t *testing.T) {
				ctx := t.Context()
				var inner eventstore.Store = memory.New()
				if !finder {
					inner = plainStore{inner}
				}
				store := &countingStore{Store: inner}
				agg := "snap-" + name
				opts := []command.Option{command.WithSnapshots(snaps), command.WithSnapshotEvery(10), command.WithSnapshotVersion(1)}
				h := newHandler(t, store, opts...)
				for i := range 25 {
					_, err := h.Handle(ctx, cmd{ID: fmt.Sprintf("c%d", i), AggregateID: agg, Payload: Deposit{Amount: 1}})
					require.NoError(t, err)
				}
				snap, err := snaps.LoadSnapshot(ctx, "account-"+agg)
				require.NoError(t, err)
				require.GreaterOrEqual(t, snap.Revision, uint64(19))

				// A fresh handler loads the snapshot and only the events after it.
				h2 := newHandler(t, store, opts...)
				before := store.eventsRead.Load()
				st, rev, err := loadAcc(h2, ctx, agg)
				require.NoError(t, err)
				require.Equal(t, 25, st.Balance)
				require.Equal(t, uint64(24), rev)
				require.Equal(t, int64(24-snap.Revision), store.eventsRead.Load()-before, "O(events since the snapshot)")

				// c0 was processed long before the snapshot: still a duplicate.
				res, err := h2.Handle(ctx, cmd{ID: "c0", AggregateID: agg, Payload: Deposit{Amount: 1}})
				require.NoError(t, err)
				require.True(t, res.Duplicate)
				require.Equal(t, command.ByCommandID, res.DuplicateBy)
				require.Equal(t, uint64(0), res.Revision)
				require.Equal(t, command.EventID("account-"+agg, "c0", 0), res.Events[0].ID)
				_, err = h2.Handle(ctx, cmd{ID: "c0", AggregateID: agg, Payload: Deposit{Amount: 2}})
				require.ErrorIs(t, err, command.ErrIdempotencyKeyReused)
				require.Len(t, streamEvents(t, inner, "account-"+agg), 25)
				if finder {
					require.Positive(t, h2.Stats().Lookups, "found by id, not from a set in the snapshot")
				}

				// A snapshot of another version is ignored: rebuilt from events.
				h3 := newHandler(t, store, command.WithSnapshots(snaps), command.WithSnapshotEvery(1000), command.WithSnapshotVersion(2))
				before = store.eventsRead.Load()
				st, _, err = loadAcc(h3, ctx, agg)
				require.NoError(t, err)
				require.Equal(t, 25, st.Balance)
				require.Equal(t, int64(25), store.eventsRead.Load()-before)
			})
		}
	}
}

// TestSnapshotsByDefault: a handler on a store that keeps snapshots beside its
// events snapshots there without being told, every DefaultSnapshotEvery events.
func TestSnapshotsByDefault(t *testing.T) {
	ctx := t.Context()
	store := memory.New()
	h := newHandler(t, store)
	for i := range command.DefaultSnapshotEvery + 5 {
		_, err := h.Handle(ctx, cmd{ID: fmt.Sprintf("c%d", i), AggregateID: "a", Payload: Deposit{Amount: 1}})
		require.NoError(t, err)
	}
	snap, err := store.LoadSnapshot(ctx, "account-a")
	require.NoError(t, err)
	require.Equal(t, uint64(command.DefaultSnapshotEvery-1), snap.Revision)
	require.Equal(t, uint64(1), h.Stats().SnapshotsSaved)

	off := newHandler(t, memory.New(), command.WithoutSnapshots())
	for i := range command.DefaultSnapshotEvery {
		_, err := off.Handle(ctx, cmd{ID: fmt.Sprintf("c%d", i), AggregateID: "a", Payload: Deposit{Amount: 1}})
		require.NoError(t, err)
	}
	require.Zero(t, off.Stats().SnapshotsSaved)
}

// TestDedupeWindow: on a store that cannot find events by id, a bounded window
// makes a duplicate older than it fall back to the business key (G7).
func TestDedupeWindow(t *testing.T) {
	eachBackend(t, func(t *testing.T, inner eventstore.Store) {
		ctx := t.Context()
		store := plainStore{inner}
		t.Run("count", func(t *testing.T) {
			snaps := memory.New()
			h := newHandler(t, store, command.WithDedupeWindow(3), command.WithSnapshots(snaps), command.WithSnapshotEvery(2), command.WithSnapshotVersion(1))
			_, err := h.Handle(ctx, cmd{ID: "open", AggregateID: "w", Payload: Open{Owner: "o"}})
			require.NoError(t, err)
			for i := range 5 {
				_, err := h.Handle(ctx, cmd{ID: fmt.Sprintf("d%d", i), AggregateID: "w", Payload: Deposit{Amount: 1}})
				require.NoError(t, err)
			}
			processed, err := h.Processed(ctx, "w")
			require.NoError(t, err)
			require.Len(t, processed, 3)
			require.Equal(t, "d4", processed[2].ID)

			// Within the window: a duplicate by command id.
			res, err := h.Handle(ctx, cmd{ID: "d4", AggregateID: "w", Payload: Deposit{Amount: 1}})
			require.NoError(t, err)
			require.True(t, res.Duplicate)
			// Older than the window: falls back to the business key (Open is
			// AlreadyDone once the account is open).
			res, err = h.Handle(ctx, cmd{ID: "open", AggregateID: "w", Payload: Open{Owner: "o"}})
			require.NoError(t, err)
			require.True(t, res.Duplicate)
			require.Equal(t, command.ByBusinessKey, res.DuplicateBy)
			require.Len(t, streamEvents(t, store, "account-w"), 6)
		})
		t.Run("age", func(t *testing.T) {
			now := time.Now()
			clock := func() time.Time { return now }
			h := newHandler(t, store, command.WithDedupeMaxAge(time.Hour), command.WithClock(clock))
			_, err := h.Handle(ctx, cmd{ID: "open", AggregateID: "age", Payload: Open{Owner: "o"}})
			require.NoError(t, err)
			res, err := h.Handle(ctx, cmd{ID: "open", AggregateID: "age", Payload: Open{Owner: "o"}})
			require.NoError(t, err)
			require.Equal(t, command.ByCommandID, res.DuplicateBy)
			now = now.Add(2 * time.Hour)
			res, err = h.Handle(ctx, cmd{ID: "open", AggregateID: "age", Payload: Open{Owner: "o"}})
			require.NoError(t, err)
			require.Equal(t, command.ByBusinessKey, res.DuplicateBy, "older than the window")
		})
	})
}

func TestSnapshotStoreFailureFallsBackToEvents(t *testing.T) {
	store := backends()[0].open(t)
	h := newHandler(t, store, command.WithSnapshots(failingSnapshots{}), command.WithSnapshotEvery(1), command.WithSnapshotVersion(1))
	for i := range 3 {
		_, err := h.Handle(t.Context(), cmd{ID: fmt.Sprint(i), AggregateID: "f", Payload: Deposit{Amount: 1}})
		require.NoError(t, err)
	}
	st, _, err := loadAcc(h, t.Context(), "f")
	require.NoError(t, err)
	require.Equal(t, 3, st.Balance)
}

// TestWindowOnAStoreThatFindsEvents: where the store finds events by id, a command
// older than the window is still recognised, by one lookup: the window only
// bounds what the handler keeps in memory.
func TestWindowOnAStoreThatFindsEvents(t *testing.T) {
	ctx := t.Context()
	h := newHandler(t, memory.New(), command.WithDedupeWindow(3))
	_, err := h.Handle(ctx, cmd{ID: "open", AggregateID: "w", Payload: Open{Owner: "o"}})
	require.NoError(t, err)
	for i := range 5 {
		_, err := h.Handle(ctx, cmd{ID: fmt.Sprintf("d%d", i), AggregateID: "w", Payload: Deposit{Amount: 1}})
		require.NoError(t, err)
	}
	res, err := h.Handle(ctx, cmd{ID: "open", AggregateID: "w", Payload: Open{Owner: "o"}})
	require.NoError(t, err)
	require.Equal(t, command.ByCommandID, res.DuplicateBy)
	require.Positive(t, h.Stats().Lookups)
}

type failingSnapshots struct{}

func (failingSnapshots) LoadSnapshot(context.Context, string) (eventstore.Snapshot, error) {
	return eventstore.Snapshot{}, errors.New("disk on fire")
}
func (failingSnapshots) SaveSnapshot(context.Context, eventstore.Snapshot) error {
	return errors.New("disk on fire")
}
