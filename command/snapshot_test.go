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
)

func snapshotStores(t *testing.T) map[string]command.SnapshotStore {
	db, err := sql.Open("sqlite3", filepath.Join(t.TempDir(), "snap.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	sq, err := sqlitesnap.New(t.Context(), db)
	require.NoError(t, err)
	return map[string]command.SnapshotStore{"memory": command.NewMemorySnapshots(), "sqlite": sq}
}

func TestSnapshotKeepsProcessedCommands(t *testing.T) {
	eachBackend(t, func(t *testing.T, inner eventstore.Store) {
		for name, snaps := range snapshotStores(t) {
			t.Run(name, func(t *testing.T) {
				ctx := t.Context()
				store := &countingStore{Store: inner}
				agg := "snap-" + name
				h := newHandler(t, store, command.WithSnapshots(snaps), command.WithSnapshotEvery(10), command.WithSnapshotVersion(1))
				for i := range 25 {
					_, err := h.Handle(ctx, cmd{ID: fmt.Sprintf("c%d", i), AggregateID: agg, Payload: Deposit{Amount: 1}})
					require.NoError(t, err)
				}
				snap, err := snaps.LoadSnapshot(ctx, "account-"+agg)
				require.NoError(t, err)
				require.GreaterOrEqual(t, snap.Revision, uint64(19))
				require.Len(t, snap.Processed, int(snap.Revision)+1)
				require.Equal(t, "c0", snap.Processed[0].ID)

				// A fresh handler loads the snapshot and only the events after it.
				h2 := newHandler(t, store, command.WithSnapshots(snaps), command.WithSnapshotEvery(10), command.WithSnapshotVersion(1))
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
				require.Equal(t, uint64(0), res.Revision)
				require.Equal(t, command.EventID("account-"+agg, "c0", res.Fingerprint, 0), res.Events[0].ID)
				_, err = h2.Handle(ctx, cmd{ID: "c0", AggregateID: agg, Payload: Deposit{Amount: 2}})
				require.ErrorIs(t, err, command.ErrIdempotencyKeyReused)
				require.Len(t, streamEvents(t, inner, "account-"+agg), 25)

				// A snapshot of another schema version is ignored: rebuilt from events.
				h3 := newHandler(t, store, command.WithSnapshots(snaps), command.WithSnapshotEvery(1000), command.WithSnapshotVersion(2))
				before = store.eventsRead.Load()
				st, _, err = loadAcc(h3, ctx, agg)
				require.NoError(t, err)
				require.Equal(t, 25, st.Balance)
				require.Equal(t, int64(25), store.eventsRead.Load()-before)
			})
		}
	})
}

func TestDedupeWindow(t *testing.T) {
	eachBackend(t, func(t *testing.T, store eventstore.Store) {
		ctx := t.Context()
		t.Run("count", func(t *testing.T) {
			snaps := command.NewMemorySnapshots()
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
			snap, err := snaps.LoadSnapshot(ctx, "account-w")
			require.NoError(t, err)
			require.LessOrEqual(t, len(snap.Processed), 3, "snapshots carry the windowed set")

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

type failingSnapshots struct{}

func (failingSnapshots) LoadSnapshot(context.Context, string) (command.Snapshot, error) {
	return command.Snapshot{}, errors.New("disk on fire")
}
func (failingSnapshots) SaveSnapshot(context.Context, command.Snapshot) error {
	return errors.New("disk on fire")
}
