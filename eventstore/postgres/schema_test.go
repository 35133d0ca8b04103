package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/postgres"
	"github.com/idemkit/idem/eventstore/postgres/pgtest"
)

// version1 makes a new schema as version 1 of this package left it (the events
// table and the append function), appends one event to stream "account-1"
// through its append function, and returns the schema and the event's id.
func version1(t *testing.T) (schema string, id uuid.UUID) {
	t.Helper()
	schema = pgtest.Schema(t)
	pool, err := pgxpool.New(t.Context(), pgtest.URL(t))
	require.NoError(t, err)
	defer pool.Close()
	require.NoError(t, postgres.MigrateTo(t.Context(), pool, schema, 1))
	id = uuid.New()
	pgtest.Exec(t, "SELECT * FROM "+qualified(schema, "idem_append")+
		"('account-1', 2, -1, ARRAY[$1::uuid], ARRAY['Opened'], ARRAY[NULL::bytea], ARRAY[NULL::bytea], now())", id)
	require.Equal(t, 1, schemaVersion(t, schema))
	return schema, id
}

// schemaVersion reads the version a schema records.
func schemaVersion(t *testing.T, schema string) int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), pgtest.URL(t))
	require.NoError(t, err)
	defer conn.Close(context.WithoutCancel(t.Context()))
	var v int
	require.NoError(t, conn.QueryRow(t.Context(), "SELECT version FROM "+qualified(schema, "idem_schema_version")).Scan(&v))
	return v
}

// TestMigratesVersion1InPlace: a schema of version 1, holding events and a
// snapshot table of command/pgsnap's earlier shape, is migrated in place by Open:
// its events are found by id (the index is built over the existing rows), the old
// snapshot table (a cache in a format no handler reads) is replaced by the
// store's, and appends and retries go on as before.
func TestMigratesVersion1InPlace(t *testing.T) {
	ctx := t.Context()
	schema, id := version1(t)
	legacy := qualified(schema, "idem_snapshots")
	pgtest.Exec(t, "CREATE TABLE "+legacy+` (stream text COLLATE "C" PRIMARY KEY, revision bigint NOT NULL, state_version integer NOT NULL,
		state bytea NOT NULL, processed bytea NOT NULL, taken_at timestamptz NOT NULL)`)
	pgtest.Exec(t, "INSERT INTO "+legacy+" VALUES ('account-1', 0, 1, '\\x7b7d', '\\x5b5d', now())")

	s := pgtest.OpenSchema(t, schema)
	require.Equal(t, postgres.SchemaVersion, schemaVersion(t, schema))
	found, err := s.FindEvent(ctx, "account-1", id)
	require.NoError(t, err)
	require.Equal(t, uint64(0), found.Revision)
	_, err = s.LoadSnapshot(ctx, "account-1")
	require.ErrorIs(t, err, eventstore.ErrNoSnapshot, "the legacy table was replaced")
	require.NoError(t, s.SaveSnapshot(ctx, eventstore.Snapshot{Stream: "account-1", Revision: 0, Data: []byte("s")}))
	res, err := s.Append(ctx, "account-1", eventstore.NoStream(), eventstore.EventData{ID: id, Type: "Opened"})
	require.NoError(t, err)
	require.Equal(t, eventstore.Replayed, res.Outcome, "a retry of the version 1 append is still recognised")
	_, err = s.Append(ctx, "account-1", eventstore.Exact(0), eventstore.EventData{ID: uuid.New(), Type: "Deposited"})
	require.NoError(t, err)

	require.NoError(t, s.Close())
	again := pgtest.OpenSchema(t, schema)
	snap, err := again.LoadSnapshot(ctx, "account-1")
	require.NoError(t, err, "a second Open migrates nothing")
	require.Equal(t, []byte("s"), snap.Data)
}

// TestMigrationRefusesWhatItDidNotMake: Open refuses, with ErrIncompatible and
// without changing anything, a version 1 schema whose events table was altered
// (the shape is checked before any migration runs) or that holds a table named
// idem_snapshots that is not a snapshot table of ours.
func TestMigrationRefusesWhatItDidNotMake(t *testing.T) {
	for name, damage := range map[string]string{
		"AlteredEvents":         "ALTER TABLE %s ADD COLUMN tenant text",
		"ForeignSnapshotsTable": "CREATE TABLE %s (id integer PRIMARY KEY)",
	} {
		t.Run(name, func(t *testing.T) {
			schema, _ := version1(t)
			table := "events"
			if name == "ForeignSnapshotsTable" {
				table = "idem_snapshots"
			}
			pgtest.Exec(t, fmt.Sprintf(damage, qualified(schema, table)))
			_, err := postgres.Open(t.Context(), pgtest.URL(t), postgres.WithSchema(schema), postgres.WithLogger(pgtest.Logger))
			require.ErrorIs(t, err, eventstore.ErrIncompatible)
			require.Contains(t, err.Error(), table)
			require.Equal(t, 1, schemaVersion(t, schema), "nothing migrated")
			if name == "ForeignSnapshotsTable" {
				pgtest.Exec(t, "INSERT INTO "+qualified(schema, table)+" VALUES (1)") // still the foreign table
			}
		})
	}
}

// TestLostIndexOrTableIsIncompatible: a schema that lost an index the store
// relies on (for the revision check, for FindEvent), or whose snapshot table was
// changed, is refused at Open with ErrIncompatible naming what is missing.
func TestLostIndexOrTableIsIncompatible(t *testing.T) {
	for name, c := range map[string]struct{ sql, says string }{
		"FindIndexDropped":     {"DROP INDEX %[1]s.events_stream_id", "(stream, id)"},
		"FindIndexPartial":     {"DROP INDEX %[1]s.events_stream_id; CREATE INDEX events_stream_id ON %[1]s.events (stream, id) WHERE revision > 0", "(stream, id)"},
		"RevisionKeyDropped":   {"ALTER TABLE %[1]s.events DROP CONSTRAINT events_stream_revision_key", "unique index on (stream, revision)"},
		"SnapshotColumnAdded":  {"ALTER TABLE %[1]s.idem_snapshots ADD COLUMN note text", "idem_snapshots has columns"},
		"SnapshotKeyDropped":   {"ALTER TABLE %[1]s.idem_snapshots DROP CONSTRAINT idem_snapshots_pkey", "no unique index on stream"},
		"SnapshotTableDropped": {"DROP TABLE %[1]s.idem_snapshots", "no such table"},
	} {
		t.Run(name, func(t *testing.T) {
			schema := pgtest.Schema(t)
			require.NoError(t, pgtest.OpenSchema(t, schema).Close())
			pgtest.Exec(t, fmt.Sprintf(c.sql, pgx.Identifier{schema}.Sanitize()))
			_, err := postgres.Open(t.Context(), pgtest.URL(t), postgres.WithSchema(schema), postgres.WithLogger(pgtest.Logger))
			require.ErrorIs(t, err, eventstore.ErrIncompatible)
			require.Contains(t, err.Error(), c.says)
		})
	}
}

// TestIndexBuiltAheadOfTheUpgrade: an operator may build the FindEvent index
// with CREATE INDEX CONCURRENTLY before upgrading a large version 1 schema, so
// that the migration does not block appends while it builds: a valid index of
// that name is kept, and one a failed concurrent build left invalid is built
// again.
func TestIndexBuiltAheadOfTheUpgrade(t *testing.T) {
	indexOID := func(t *testing.T, schema string) (oid uint32, valid bool) {
		conn, err := pgx.Connect(t.Context(), pgtest.URL(t))
		require.NoError(t, err)
		defer conn.Close(context.WithoutCancel(t.Context()))
		require.NoError(t, conn.QueryRow(t.Context(), `SELECT i.indexrelid::oid, i.indisvalid FROM pg_index i
			WHERE i.indexrelid = to_regclass($1)`, qualified(schema, "events_stream_id")).Scan(&oid, &valid))
		return oid, valid
	}
	t.Run("Valid", func(t *testing.T) {
		schema, id := version1(t)
		pgtest.Exec(t, "CREATE INDEX CONCURRENTLY events_stream_id ON "+qualified(schema, "events")+" (stream, id)")
		before, _ := indexOID(t, schema)
		s := pgtest.OpenSchema(t, schema)
		after, valid := indexOID(t, schema)
		require.Equal(t, before, after, "the index built ahead is kept")
		require.True(t, valid)
		_, err := s.FindEvent(t.Context(), "account-1", id)
		require.NoError(t, err)
	})
	t.Run("LeftInvalid", func(t *testing.T) {
		schema, id := version1(t)
		// Two rows with one (stream, id): a unique concurrent build fails and
		// leaves its index behind, invalid.
		pgtest.Exec(t, "INSERT INTO "+qualified(schema, "events")+
			" (position, stream, revision, id, type, recorded_at) VALUES (100, 'account-1', 1, $1, 'Again', now())", id)
		conn, err := pgx.Connect(t.Context(), pgtest.URL(t))
		require.NoError(t, err)
		_, err = conn.Exec(t.Context(), "CREATE UNIQUE INDEX CONCURRENTLY events_stream_id ON "+qualified(schema, "events")+" (stream, id)")
		require.Error(t, err)
		require.NoError(t, conn.Close(t.Context()))
		_, valid := indexOID(t, schema)
		require.False(t, valid)

		s := pgtest.OpenSchema(t, schema)
		_, valid = indexOID(t, schema)
		require.True(t, valid, "the invalid index was built again")
		found, err := s.FindEvent(t.Context(), "account-1", id)
		require.NoError(t, err)
		require.Equal(t, uint64(0), found.Revision, "an id a stream holds twice answers its first event")
	})
}

// TestDamagedSnapshotRowsAreCorrupt is the corruption matrix of the snapshot
// table: a tool that loosens the table can store NULLs, negative revisions and
// infinite times. LoadSnapshot reports each with eventstore.ErrCorrupt naming the
// table and the stream, never a panic or a zero value; other streams' snapshots
// load as before.
func TestDamagedSnapshotRowsAreCorrupt(t *testing.T) {
	ctx := t.Context()
	schema := pgtest.Schema(t)
	store := pgtest.OpenSchema(t, schema)
	require.NoError(t, store.SaveSnapshot(ctx, eventstore.Snapshot{Stream: "good-1", Revision: 4, Data: []byte("ok"), TakenAt: time.Now()}))
	table := qualified(schema, "idem_snapshots")
	for _, col := range []string{"revision", "data", "taken_at"} {
		pgtest.Exec(t, "ALTER TABLE "+table+" ALTER COLUMN "+col+" DROP NOT NULL")
	}
	pgtest.Exec(t, "ALTER TABLE "+table+" DROP CONSTRAINT idem_snapshots_revision_check")
	for i, c := range []struct{ column, value string }{
		{"revision", "NULL"}, {"revision", "-1"},
		{"data", "NULL"},
		{"taken_at", "NULL"}, {"taken_at", "'infinity'"}, {"taken_at", "'-infinity'"},
	} {
		t.Run(c.column+"="+c.value, func(t *testing.T) {
			row := map[string]string{"revision": "3", "data": `'\x7b7d'`, "taken_at": "now()"}
			row[c.column] = c.value
			stream := fmt.Sprintf("bad-%d", i)
			pgtest.Exec(t, fmt.Sprintf("INSERT INTO %s (stream, revision, data, taken_at) VALUES ('%s', %s, %s, %s)",
				table, stream, row["revision"], row["data"], row["taken_at"]))
			_, err := store.LoadSnapshot(ctx, stream)
			require.ErrorIs(t, err, eventstore.ErrCorrupt)
			require.Contains(t, err.Error(), "idem_snapshots")
			require.Contains(t, err.Error(), stream)
			require.Contains(t, err.Error(), c.column)
			good, err := store.LoadSnapshot(ctx, "good-1")
			require.NoError(t, err)
			require.Equal(t, []byte("ok"), good.Data)
		})
	}
}
