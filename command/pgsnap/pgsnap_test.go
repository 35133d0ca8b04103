package pgsnap_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/aggregate"
	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/command/pgsnap"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/postgres"
	"github.com/idemkit/idem/eventstore/postgres/pgtest"
)

// open returns an event store in a new schema and a snapshot store in the same
// schema, on the store's pool.
func open(t *testing.T, opts ...pgsnap.Option) (*postgres.Store, *pgsnap.Store) {
	t.Helper()
	store := pgtest.Open(t)
	snaps, err := pgsnap.New(t.Context(), store.Pool(), append([]pgsnap.Option{pgsnap.WithSchema(store.Schema())}, opts...)...)
	require.NoError(t, err)
	return store, snaps
}

func TestSaveLoad(t *testing.T) {
	ctx := t.Context()
	_, s := open(t)
	_, err := s.LoadSnapshot(ctx, "a-1")
	require.ErrorIs(t, err, command.ErrNoSnapshot)
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC) // PostgreSQL keeps microseconds
	snap := command.Snapshot{Stream: "a-1", Revision: 9, StateVersion: 3, State: []byte(`{"n":1}`), TakenAt: at,
		Processed: []command.ProcessedCommand{{ID: "c", Fingerprint: "f", FirstRevision: 8, LastRevision: 9, RecordedAt: at}}}
	require.NoError(t, s.SaveSnapshot(ctx, snap))
	got, err := s.LoadSnapshot(ctx, "a-1")
	require.NoError(t, err)
	require.Equal(t, snap, got)

	require.NoError(t, s.SaveSnapshot(ctx, command.Snapshot{Stream: "a-1", Revision: 4, State: []byte(`old`)}))
	got, err = s.LoadSnapshot(ctx, "a-1")
	require.NoError(t, err)
	require.Equal(t, uint64(9), got.Revision, "an older snapshot never replaces a newer one")

	require.NoError(t, s.SaveSnapshot(ctx, command.Snapshot{Stream: "a-1", Revision: 12, State: nil}))
	got, err = s.LoadSnapshot(ctx, "a-1")
	require.NoError(t, err)
	require.Equal(t, uint64(12), got.Revision)
	require.Empty(t, got.State)
	require.Empty(t, got.Processed)

	require.ErrorIs(t, s.SaveSnapshot(ctx, command.Snapshot{Stream: ""}), command.ErrInvalidSnapshot)
	require.ErrorIs(t, s.SaveSnapshot(ctx, command.Snapshot{Stream: "a-1", Revision: 1 << 63}), command.ErrInvalidSnapshot)
	require.ErrorIs(t, s.SaveSnapshot(ctx, command.Snapshot{Stream: "a-1", StateVersion: 1 << 40}), command.ErrInvalidSnapshot)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.LoadSnapshot(cancelled, "a-1")
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, s.SaveSnapshot(cancelled, snap), context.Canceled)
}

func TestNewRejectsBadInput(t *testing.T) {
	_, err := pgsnap.New(t.Context(), nil)
	require.ErrorIs(t, err, command.ErrInvalidSnapshot)
	store := pgtest.Open(t)
	for _, opt := range []pgsnap.Option{pgsnap.WithTable("x; DROP TABLE y"), pgsnap.WithTable(""), pgsnap.WithSchema("pg_catalog"),
		pgsnap.WithSchema("1x")} {
		_, err = pgsnap.New(t.Context(), store.Pool(), opt)
		require.ErrorIs(t, err, command.ErrInvalidSnapshot)
	}
	// A table of the same name made by someone else.
	pgtest.Exec(t, "CREATE TABLE "+pgx.Identifier{store.Schema(), "foreign_snaps"}.Sanitize()+" (id int)")
	_, err = pgsnap.New(t.Context(), store.Pool(), pgsnap.WithSchema(store.Schema()), pgsnap.WithTable("foreign_snaps"))
	require.ErrorIs(t, err, eventstore.ErrIncompatible)
	// Its own schema, created on demand.
	schema := pgtest.Schema(t)
	s, err := pgsnap.New(t.Context(), store.Pool(), pgsnap.WithSchema(schema))
	require.NoError(t, err)
	require.NoError(t, s.SaveSnapshot(t.Context(), command.Snapshot{Stream: "a-1", Revision: 1}))
}

// TestDamagedRowsAreInvalidSnapshots writes damaged snapshot rows straight into
// the table (after loosening it, as another tool might): LoadSnapshot reports a
// typed error (the handler then rebuilds from events), never a panic or a hang.
func TestDamagedRowsAreInvalidSnapshots(t *testing.T) {
	ctx := t.Context()
	store, s := open(t)
	table := pgx.Identifier{store.Schema(), pgsnap.DefaultTable}.Sanitize()
	for _, col := range []string{"revision", "state_version", "state", "processed", "taken_at"} {
		pgtest.Exec(t, "ALTER TABLE "+table+" ALTER COLUMN "+col+" DROP NOT NULL")
	}
	pgtest.Exec(t, "ALTER TABLE "+table+" DROP CONSTRAINT IF EXISTS "+pgsnap.DefaultTable+"_revision_check")
	good := map[string]string{"revision": "3", "state_version": "1", "state": `'\x7b7d'`, "processed": `'\x5b5d'`, "taken_at": "now()"}
	wrong := map[string][]string{
		"revision":      {"NULL", "-1"},
		"state_version": {"NULL"},
		"state":         {"NULL"},
		"processed":     {"NULL", `'\x7b6e6f74206a736f6e'`, `convert_to('[{"first":"x"}]', 'UTF8')`, `convert_to('{}', 'UTF8')`},
		"taken_at":      {"NULL", "'infinity'", "'-infinity'"},
	}
	n := 0
	for col, values := range wrong {
		for _, v := range values {
			n++
			t.Run(fmt.Sprintf("%s=%s", col, v), func(t *testing.T) {
				row := map[string]string{}
				for k, g := range good {
					row[k] = g
				}
				row[col] = v
				stream := fmt.Sprintf("bad-%d", n)
				pgtest.Exec(t, fmt.Sprintf("INSERT INTO %s (stream, revision, state_version, state, processed, taken_at) VALUES ('%s', %s, %s, %s, %s, %s)",
					table, stream, row["revision"], row["state_version"], row["state"], row["processed"], row["taken_at"]))
				_, err := s.LoadSnapshot(ctx, stream)
				require.ErrorIs(t, err, command.ErrInvalidSnapshot)
				require.ErrorIs(t, err, eventstore.ErrCorrupt)
			})
		}
	}
}

// TestHandlerSnapshotsOnPostgres: the command handler with snapshots in PostgreSQL
// beside the events: a fresh replica loads from the snapshot, still knows every
// processed command (G7), and a snapshot damaged under it falls back to events.
func TestHandlerSnapshotsOnPostgres(t *testing.T) {
	ctx := t.Context()
	store, snaps := open(t)
	type add struct{ N int }
	type added struct{ N int }
	codec, err := aggregate.NewCodec[add, added](aggregate.Command[add]("counter.Add"), aggregate.Event[added]("counter.Added"))
	require.NoError(t, err)
	decider := aggregate.Decider[int, add, added]{
		Category: "counter",
		Initial:  func() int { return 0 },
		Evolve:   func(s int, e added) int { return s + e.N },
		Decide:   func(_ int, c add) ([]added, error) { return []added{added(c)}, nil },
	}
	newHandler := func() *command.Handler[int, add, added] {
		h, err := command.NewHandler(store, decider, codec, command.WithSnapshots(snaps), command.WithSnapshotEvery(3))
		require.NoError(t, err)
		return h
	}
	h := newHandler()
	for i := range 10 {
		_, err := h.Handle(ctx, command.Command[add]{ID: fmt.Sprint("c-", i), AggregateID: "x", Payload: add{N: i}})
		require.NoError(t, err)
	}
	snap, err := snaps.LoadSnapshot(ctx, "counter-x")
	require.NoError(t, err)
	require.GreaterOrEqual(t, snap.Revision, uint64(6))

	fresh := newHandler()
	l, err := fresh.Load(ctx, "x")
	require.NoError(t, err)
	require.Equal(t, 45, l.State)
	dup, err := fresh.Handle(ctx, command.Command[add]{ID: "c-0", AggregateID: "x", Payload: add{N: 0}})
	require.NoError(t, err)
	require.True(t, dup.Duplicate, "the oldest command, before the snapshot, is still known")

	pgtest.Exec(t, "ALTER TABLE "+pgx.Identifier{store.Schema(), pgsnap.DefaultTable}.Sanitize()+" ALTER COLUMN taken_at DROP NOT NULL")
	pgtest.Exec(t, "UPDATE "+pgx.Identifier{store.Schema(), pgsnap.DefaultTable}.Sanitize()+" SET taken_at = NULL")
	l, err = newHandler().Load(ctx, "x")
	require.NoError(t, err, "a damaged snapshot is skipped: the state is rebuilt from events")
	require.Equal(t, 45, l.State)
}

// Example keeps snapshots beside the events, on the event store's pool. (It is
// compiled, not run: it needs a server.)
func Example() {
	ctx := context.Background()
	store, err := postgres.Open(ctx, os.Getenv("IDEM_POSTGRES_URL"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	snaps, err := pgsnap.New(ctx, store.Pool(), pgsnap.WithSchema(store.Schema()))
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = snaps.SaveSnapshot(ctx, command.Snapshot{Stream: "account-1", Revision: 99, StateVersion: 1, State: []byte(`{"Balance":5}`)})
	s, _ := snaps.LoadSnapshot(ctx, "account-1")
	fmt.Println(s.Revision, string(s.State))
}
