package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/postgres"
	"github.com/idemkit/idem/eventstore/postgres/pgtest"
)

// qualified is schema.table, quoted.
func qualified(schema, table string) string { return pgx.Identifier{schema, table}.Sanitize() }

// TestDamagedRowsAreCorrupt is the corruption matrix of the events table. Wrong
// column types cannot get in (Open refuses a table whose columns changed type,
// TestAlteredTableIsIncompatible), but a tool that loosens the table can store
// NULLs, negative revisions, empty names and infinite times. Each is reported
// with eventstore.ErrCorrupt naming the row's position, by every read (FindEvent
// included) and by an append to its stream; never a panic, a hang or an untyped
// error.
func TestDamagedRowsAreCorrupt(t *testing.T) {
	cases := []struct {
		name string
		// column and value of the damaged row (a literal), the rest being valid
		column, value string
		// appendSees: an append to the damaged row's stream fails too (its head is
		// the damaged row)
		appendSees bool
	}{
		{"TypeNull", "type", "NULL", false},
		{"TypeEmpty", "type", "''", false},
		{"IDNull", "id", "NULL", false},
		{"RecordedAtNull", "recorded_at", "NULL", false},
		{"RecordedAtInfinite", "recorded_at", "'infinity'", false},
		{"RevisionNegative", "revision", "-5", true},
		{"RevisionNull", "revision", "NULL", true},
		{"StreamNull", "stream", "NULL", false},
		{"StreamEmpty", "stream", "''", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			schema := pgtest.Schema(t)
			store := pgtest.OpenSchema(t, schema)
			_, err := store.Append(ctx, "good-1", eventstore.NoStream(), eventstore.EventData{ID: uuid.New(), Type: "Good"})
			require.NoError(t, err)
			events := qualified(schema, "events")
			// What another tool's migration might do to the table.
			pgtest.Exec(t, "ALTER TABLE "+events+" ALTER COLUMN "+c.column+" DROP NOT NULL")
			pgtest.Exec(t, "ALTER TABLE "+events+" DROP CONSTRAINT events_revision_check")
			badID := uuid.New()
			row := map[string]string{"position": "1000", "stream": "'bad-1'", "revision": "0", "id": "'" + badID.String() + "'",
				"type": "'Bad'", "data": "NULL", "metadata": "NULL", "recorded_at": "now()"}
			row[c.column] = c.value
			var cols, vals []string
			for _, col := range []string{"position", "stream", "revision", "id", "type", "data", "metadata", "recorded_at"} {
				cols, vals = append(cols, col), append(vals, row[col])
			}
			pgtest.Exec(t, fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)", events, strings.Join(cols, ", "), strings.Join(vals, ", ")))

			requireCorrupt := func(what string, err error) {
				t.Helper()
				require.ErrorIs(t, err, eventstore.ErrCorrupt, what)
				require.Contains(t, err.Error(), "position 1000", "%s: the error names the row", what)
			}
			_, err = collect(store.ReadAll(ctx, eventstore.Start()))
			requireCorrupt("ReadAll", err)
			for msg, err := range store.SubscribeAll(ctx, eventstore.Start()) {
				if err != nil {
					requireCorrupt("SubscribeAll", err)
					break
				}
				require.False(t, msg.CaughtUp, "SubscribeAll caught up past a damaged row")
			}
			if c.column != "stream" {
				_, err = collect(store.ReadStream(ctx, "bad-1", 0))
				requireCorrupt("ReadStream", err)
				_, err = collect(store.ReadStream(ctx, "bad-1", eventstore.StreamEnd, eventstore.Backwards()))
				requireCorrupt("ReadStream backwards", err)
			}
			if c.column != "stream" && c.column != "id" {
				_, err = store.FindEvent(ctx, "bad-1", badID)
				requireCorrupt("FindEvent", err)
			}
			_, err = store.Append(ctx, "bad-1", eventstore.Any(), eventstore.EventData{ID: uuid.New(), Type: "Next"})
			if c.appendSees {
				requireCorrupt("Append", err)
			}
			good, err := collect(store.ReadStream(ctx, "good-1", 0))
			require.NoError(t, err, "other streams read as before")
			require.Len(t, good, 1)
		})
	}
}

// TestForeignEventsTableIsIncompatible: a schema holding an events table that
// idem did not make is refused with eventstore.ErrIncompatible, and left as it
// was.
func TestForeignEventsTableIsIncompatible(t *testing.T) {
	schema := pgtest.Schema(t)
	pgtest.Exec(t, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize())
	pgtest.Exec(t, "CREATE TABLE "+qualified(schema, "events")+" (id serial PRIMARY KEY, payload jsonb)")
	_, err := postgres.Open(t.Context(), pgtest.URL(t), postgres.WithSchema(schema))
	require.ErrorIs(t, err, eventstore.ErrIncompatible)
	require.Contains(t, err.Error(), "not made by idem")
	pgtest.Exec(t, "INSERT INTO "+qualified(schema, "events")+" (payload) VALUES ('{}')") // still the foreign table
}

// TestAlteredTableIsIncompatible: an idem events table whose columns were changed
// (a type, a column added) is refused at Open with eventstore.ErrIncompatible.
func TestAlteredTableIsIncompatible(t *testing.T) {
	for name, alter := range map[string]string{
		"RevisionType": "ALTER COLUMN revision TYPE numeric",
		"DataType":     "ALTER COLUMN data TYPE text",
		"ExtraColumn":  "ADD COLUMN tenant text",
		"Dropped":      "DROP COLUMN metadata",
	} {
		t.Run(name, func(t *testing.T) {
			schema := pgtest.Schema(t)
			s := pgtest.OpenSchema(t, schema)
			require.NoError(t, s.Close())
			pgtest.Exec(t, "ALTER TABLE "+qualified(schema, "events")+" "+alter)
			_, err := postgres.Open(t.Context(), pgtest.URL(t), postgres.WithSchema(schema))
			require.ErrorIs(t, err, eventstore.ErrIncompatible)
		})
	}
}

// TestSchemaTooNew: a schema written by a newer version is refused, typed, and
// left as it was.
func TestSchemaTooNew(t *testing.T) {
	schema := pgtest.Schema(t)
	s := pgtest.OpenSchema(t, schema)
	require.NoError(t, s.Close())
	pgtest.Exec(t, "UPDATE "+qualified(schema, "idem_schema_version")+" SET version = 99")
	_, err := postgres.Open(t.Context(), pgtest.URL(t), postgres.WithSchema(schema))
	require.ErrorIs(t, err, postgres.ErrSchemaTooNew)
	require.ErrorIs(t, err, eventstore.ErrIncompatible)
	var ve *postgres.SchemaVersionError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, 99, ve.Found)
	require.Equal(t, postgres.SchemaVersion, ve.Supported)
}

// TestReopenKeepsEverything: a second Open of a schema migrates nothing and sees
// the events, and retries of appends made before are still recognised (G2).
func TestReopenKeepsEverything(t *testing.T) {
	ctx := t.Context()
	schema := pgtest.Schema(t)
	s := pgtest.OpenSchema(t, schema)
	ev := eventstore.EventData{ID: uuid.New(), Type: "Opened"}
	first, err := s.Append(ctx, "account-1", eventstore.NoStream(), ev)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	s = pgtest.OpenSchema(t, schema)
	again, err := s.Append(ctx, "account-1", eventstore.NoStream(), ev)
	require.NoError(t, err)
	require.Equal(t, eventstore.Replayed, again.Outcome)
	require.Equal(t, first.Position, again.Position)
}

// TestNonUTF8DatabaseIsIncompatible: a database whose encoding cannot hold every
// stream name and type is refused at Open.
func TestNonUTF8DatabaseIsIncompatible(t *testing.T) {
	url := pgtest.URL(t)
	name := pgtest.NewSchemaName("idem_test_db")
	pgtest.Exec(t, "CREATE DATABASE "+name+" ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
	t.Cleanup(func() { pgtest.Exec(t, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	cfg, err := pgx.ParseConfig(url)
	require.NoError(t, err)
	other := strings.Replace(url, "/"+cfg.Database+"?", "/"+name+"?", 1)
	require.NotEqual(t, url, other)
	_, err = postgres.Open(t.Context(), other)
	require.ErrorIs(t, err, eventstore.ErrIncompatible)
	require.Contains(t, err.Error(), "SQL_ASCII")
}

// TestNULInTypeIsRefused: PostgreSQL text cannot hold a NUL byte; an event type
// with one is refused as an invalid event, and nothing is written.
func TestNULInTypeIsRefused(t *testing.T) {
	s := pgtest.Open(t)
	_, err := s.Append(t.Context(), "s-1", eventstore.NoStream(),
		eventstore.EventData{ID: uuid.New(), Type: "A"}, eventstore.EventData{ID: uuid.New(), Type: "B\x00C"})
	var invalid *eventstore.InvalidEventError
	require.ErrorAs(t, err, &invalid)
	require.Equal(t, 1, invalid.Index)
	_, err = collect(s.ReadStream(t.Context(), "s-1", 0))
	require.ErrorIs(t, err, eventstore.ErrStreamNotFound)
}

// TestBadOptionsAndConnections: options a constructor cannot use fail it with
// ErrInvalidOption, before any connection; an unreachable server fails Open with
// eventstore.ErrUnavailable.
func TestBadOptionsAndConnections(t *testing.T) {
	ctx := t.Context()
	for name, opt := range map[string]postgres.Option{
		"SchemaEmpty":       postgres.WithSchema(""),
		"SchemaPg":          postgres.WithSchema("pg_events"),
		"SchemaDigit":       postgres.WithSchema("1events"),
		"SchemaDash":        postgres.WithSchema("my-events"),
		"SchemaQuote":       postgres.WithSchema(`x"; DROP SCHEMA public; --`),
		"SchemaLong":        postgres.WithSchema(strings.Repeat("s", 64)),
		"MaxAppendSize":     postgres.WithMaxAppendSize(0),
		"PollInterval":      postgres.WithPollInterval(-time.Second),
		"Timeout":           postgres.WithTimeout(0),
		"MaxBatch":          postgres.WithMaxBatch(0),
		"Logger":            postgres.WithLogger(nil),
		"Clock":             postgres.WithClock(nil),
		"SchemaNotUTF8Name": postgres.WithSchema("caf\xe9"),
	} {
		_, err := postgres.Open(ctx, "postgres://nobody@127.0.0.1:1/none", opt)
		require.ErrorIs(t, err, eventstore.ErrInvalidOption, name)
	}
	_, err := postgres.New(ctx, nil)
	require.ErrorIs(t, err, eventstore.ErrInvalidOption)
	_, err = postgres.Open(ctx, "postgres://%zz")
	require.ErrorIs(t, err, eventstore.ErrInvalidOption)

	_, err = postgres.Open(ctx, "postgres://nobody@127.0.0.1:1/none?connect_timeout=2")
	require.ErrorIs(t, err, eventstore.ErrUnavailable)
	var pgErr *postgres.Error
	require.ErrorAs(t, err, &pgErr)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = postgres.Open(cancelled, pgtest.URL(t), postgres.WithSchema(pgtest.Schema(t)))
	require.ErrorIs(t, err, context.Canceled)
}

// collect ranges over seq and returns the events before the first error, and
// that error.
func collect(seq func(func(eventstore.RecordedEvent, error) bool)) ([]eventstore.RecordedEvent, error) {
	var out []eventstore.RecordedEvent
	for ev, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, ev)
	}
	return out, nil
}
