package pgsnap_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/aggregate"
	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/command/pgsnap"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/esdb"
	"github.com/idemkit/idem/eventstore/esdb/esdbtest"
	"github.com/idemkit/idem/eventstore/memory"
	"github.com/idemkit/idem/eventstore/postgres/pgtest"
	"github.com/idemkit/idem/eventstore/storetest"
)

// pool returns a pool on the test server, closed when t ends.
func pool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(t.Context(), pgtest.URL(t))
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return p
}

// open returns a snapshot store in a new schema, over p or a new pool.
func open(t *testing.T, p ...*pgxpool.Pool) (*pgsnap.Store, string) {
	t.Helper()
	if len(p) == 0 {
		p = append(p, pool(t))
	}
	schema := pgtest.Schema(t)
	s, err := pgsnap.New(t.Context(), p[0], pgsnap.WithSchema(schema))
	require.NoError(t, err)
	return s, schema
}

// withSnapshots is a memory event store whose snapshots live in PostgreSQL: the
// conformance suite's Snapshots group checks the PostgreSQL half.
type withSnapshots struct {
	eventstore.Store
	snaps *pgsnap.Store
}

func (w withSnapshots) LoadSnapshot(ctx context.Context, stream string) (eventstore.Snapshot, error) {
	return w.snaps.LoadSnapshot(ctx, stream)
}

func (w withSnapshots) SaveSnapshot(ctx context.Context, s eventstore.Snapshot) error {
	return w.snaps.SaveSnapshot(ctx, s)
}

// TestSnapshotsConform: round trip, never replaced by an older snapshot, bad
// input refused, cancelled contexts honoured (storetest's Snapshots group).
func TestSnapshotsConform(t *testing.T) {
	p := pool(t)
	storetest.Run(t, func(t *testing.T) eventstore.Store {
		snaps, _ := open(t, p)
		mem := memory.New()
		t.Cleanup(func() { _ = mem.Close() })
		return withSnapshots{mem, snaps}
	})
}

// TestNewRejectsBadInput: options it cannot use fail New with
// eventstore.ErrInvalidOption before any query; a foreign table of the same name
// with eventstore.ErrIncompatible, untouched; a missing schema is created.
func TestNewRejectsBadInput(t *testing.T) {
	_, err := pgsnap.New(t.Context(), nil)
	require.ErrorIs(t, err, eventstore.ErrInvalidOption)
	p := pool(t)
	for _, opt := range []pgsnap.Option{pgsnap.WithTable("x; DROP TABLE y"), pgsnap.WithTable(""), pgsnap.WithSchema("pg_catalog"),
		pgsnap.WithSchema("1x")} {
		_, err = pgsnap.New(t.Context(), p, opt)
		require.ErrorIs(t, err, eventstore.ErrInvalidOption)
	}
	_, schema := open(t)
	foreign := pgx.Identifier{schema, "foreign_snaps"}.Sanitize()
	pgtest.Exec(t, "CREATE TABLE "+foreign+" (id int)")
	_, err = pgsnap.New(t.Context(), p, pgsnap.WithSchema(schema), pgsnap.WithTable("foreign_snaps"))
	require.ErrorIs(t, err, eventstore.ErrIncompatible)
	pgtest.Exec(t, "INSERT INTO "+foreign+" VALUES (1)") // still the foreign table

	fresh := pgtest.Schema(t)
	s, err := pgsnap.New(t.Context(), p, pgsnap.WithSchema(fresh), pgsnap.WithTable("snaps"))
	require.NoError(t, err)
	require.NoError(t, s.SaveSnapshot(t.Context(), eventstore.Snapshot{Stream: "a-1", Revision: 1}))
	got, err := s.LoadSnapshot(t.Context(), "a-1")
	require.NoError(t, err)
	require.Empty(t, got.Data)
}

// TestReplacesItsEarlierTable: a table of this package's earlier shape (state
// version, state and processed commands in columns), a cache in a format no
// handler reads any more, is replaced by New.
func TestReplacesItsEarlierTable(t *testing.T) {
	schema := pgtest.Schema(t)
	pgtest.Exec(t, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize())
	table := pgx.Identifier{schema, "snaps"}.Sanitize()
	pgtest.Exec(t, "CREATE TABLE "+table+` (stream text COLLATE "C" PRIMARY KEY, revision bigint NOT NULL, state_version integer NOT NULL,
		state bytea NOT NULL, processed bytea NOT NULL, taken_at timestamptz NOT NULL)`)
	pgtest.Exec(t, "INSERT INTO "+table+" VALUES ('a-1', 3, 1, '\\x7b7d', '\\x5b5d', now())")
	s, err := pgsnap.New(t.Context(), pool(t), pgsnap.WithSchema(schema), pgsnap.WithTable("snaps"))
	require.NoError(t, err)
	_, err = s.LoadSnapshot(t.Context(), "a-1")
	require.ErrorIs(t, err, eventstore.ErrNoSnapshot)
	require.NoError(t, s.SaveSnapshot(t.Context(), eventstore.Snapshot{Stream: "a-1", Revision: 4, Data: []byte("x")}))
}

// TestDamagedRowsAreCorrupt writes damaged snapshot rows straight into the table
// (after loosening it, as another tool might): LoadSnapshot reports
// eventstore.ErrCorrupt naming the table, the stream and the column (the handler
// then rebuilds from events), never a panic or a hang.
func TestDamagedRowsAreCorrupt(t *testing.T) {
	ctx := t.Context()
	s, schema := open(t)
	table := pgx.Identifier{schema, pgsnap.DefaultTable}.Sanitize()
	for _, col := range []string{"revision", "data", "taken_at"} {
		pgtest.Exec(t, "ALTER TABLE "+table+" ALTER COLUMN "+col+" DROP NOT NULL")
	}
	pgtest.Exec(t, "ALTER TABLE "+table+" DROP CONSTRAINT "+pgsnap.DefaultTable+"_revision_check")
	good := map[string]string{"revision": "3", "data": `'\x7b7d'`, "taken_at": "now()"}
	wrong := map[string][]string{
		"revision": {"NULL", "-1"},
		"data":     {"NULL"},
		"taken_at": {"NULL", "'infinity'", "'-infinity'"},
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
				pgtest.Exec(t, fmt.Sprintf("INSERT INTO %s (stream, revision, data, taken_at) VALUES ('%s', %s, %s, %s)",
					table, stream, row["revision"], row["data"], row["taken_at"]))
				_, err := s.LoadSnapshot(ctx, stream)
				require.ErrorIs(t, err, eventstore.ErrCorrupt)
				require.Contains(t, err.Error(), pgsnap.DefaultTable)
				require.Contains(t, err.Error(), stream)
				require.Contains(t, err.Error(), col)
			})
		}
	}
}

type (
	add   struct{ N int }
	added struct{ N int }
)

// TestHandlerWithEventsInEventStoreDB: the case this package is for. Events live
// in EventStoreDB (its emulator here), which keeps no snapshots and finds no
// events by id; snapshots live in PostgreSQL. A fresh handler loads from the
// snapshot, still knows every processed command (the snapshot carries them, G7),
// and a snapshot damaged under it falls back to events.
func TestHandlerWithEventsInEventStoreDB(t *testing.T) {
	ctx := t.Context()
	srv := esdbtest.Start(t)
	store, err := esdb.Open(ctx, srv.URL(), esdb.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	snaps, schema := open(t)
	codec, err := aggregate.NewCodec[add, added](aggregate.Command[add]("counter.Add"), aggregate.Event[added]("counter.Added"))
	require.NoError(t, err)
	decider := aggregate.Decider[int, add, added]{
		Category: "counter",
		Initial:  func() int { return 0 },
		Evolve:   func(s int, e added) int { return s + e.N },
		Decide:   func(_ int, c add) ([]added, error) { return []added{added(c)}, nil },
	}
	newHandler := func() *command.Handler[int, add, added] {
		h, err := command.NewHandler(store, decider, codec, command.WithSnapshots(snaps), command.WithSnapshotEvery(3),
			command.WithLogger(slog.New(slog.DiscardHandler)))
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
	require.WithinDuration(t, time.Now(), snap.TakenAt, time.Minute)

	fresh := newHandler()
	l, err := fresh.Load(ctx, "x")
	require.NoError(t, err)
	require.Equal(t, 45, l.State)
	dup, err := fresh.Handle(ctx, command.Command[add]{ID: "c-0", AggregateID: "x", Payload: add{N: 0}})
	require.NoError(t, err)
	require.True(t, dup.Duplicate, "the oldest command, before the snapshot, is still known")

	table := pgx.Identifier{schema, pgsnap.DefaultTable}.Sanitize()
	pgtest.Exec(t, "ALTER TABLE "+table+" ALTER COLUMN taken_at DROP NOT NULL")
	pgtest.Exec(t, "UPDATE "+table+" SET taken_at = NULL")
	l, err = newHandler().Load(ctx, "x")
	require.NoError(t, err, "a damaged snapshot is skipped: the state is rebuilt from events")
	require.Equal(t, 45, l.State)
}
