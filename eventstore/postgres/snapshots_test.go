package postgres_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore/postgres/pgtest"
)

// TestHandlerSnapshotsAndLooksUpBesideTheEvents: the command handler keeps
// snapshots in the store's own idem_snapshots table by default (G7); a fresh
// replica loads the aggregate from the snapshot and the events after it, and
// recognises a command older than the snapshot by looking its first event up by
// id (FindEvent, G3) instead of reading the stream; a snapshot damaged under it
// is skipped and the state rebuilt from events.
func TestHandlerSnapshotsAndLooksUpBesideTheEvents(t *testing.T) {
	ctx := t.Context()
	schema := pgtest.Schema(t)
	store := pgtest.OpenSchema(t, schema)
	h := newAccountHandler(t, store, command.WithSnapshotEvery(3))
	_, err := h.Handle(ctx, accountCmd{ID: "open", AggregateID: "a1", Payload: openAccount{Owner: "ann"}})
	require.NoError(t, err)
	for i := range 9 {
		_, err := h.Handle(ctx, accountCmd{ID: fmt.Sprint("dep-", i), AggregateID: "a1", Payload: deposit{Amount: i + 1, Ref: fmt.Sprint(i)}})
		require.NoError(t, err)
	}
	snap, err := store.LoadSnapshot(ctx, "account-a1")
	require.NoError(t, err, "the handler saved a snapshot in the store")
	require.GreaterOrEqual(t, snap.Revision, uint64(6))

	fresh := newAccountHandler(t, store, command.WithSnapshotEvery(3))
	l, err := fresh.Load(ctx, "a1")
	require.NoError(t, err)
	require.Equal(t, 45, l.State.Balance)
	dup, err := fresh.Handle(ctx, accountCmd{ID: "dep-0", AggregateID: "a1", Payload: deposit{Amount: 1, Ref: "0"}})
	require.NoError(t, err)
	require.True(t, dup.Duplicate, "a command before the snapshot is still known")
	require.Equal(t, uint64(1), dup.Revision)
	require.NotZero(t, fresh.Stats().Lookups, "found by its event's id")

	table := qualified(schema, "idem_snapshots")
	pgtest.Exec(t, "ALTER TABLE "+table+" ALTER COLUMN taken_at DROP NOT NULL")
	pgtest.Exec(t, "UPDATE "+table+" SET taken_at = NULL")
	l, err = newAccountHandler(t, store).Load(ctx, "a1")
	require.NoError(t, err, "a damaged snapshot is skipped: the state is rebuilt from events")
	require.Equal(t, 45, l.State.Balance)
}
