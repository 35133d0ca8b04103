package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/internal/pgsnapshot"
)

// eventsColumns is the shape of the events table, as information_schema reports
// it: Open refuses a table of the same name with another shape (ErrIncompatible).
var eventsColumns = []struct{ name, typ string }{
	{"position", "bigint"},
	{"stream", "text"},
	{"revision", "bigint"},
	{"id", "uuid"},
	{"type", "text"},
	{"data", "bytea"},
	{"metadata", "bytea"},
	{"recorded_at", "timestamp with time zone"},
}

// eventsIndex is an index the store relies on, by its columns.
type eventsIndex struct {
	columns []string
	unique  bool
	since   int // the schema version that made it
	why     string
}

// eventsIndexes are the indexes of the events table that the store relies on: a
// schema lacking one (dropped, or left invalid by a failed rebuild) is refused,
// since without it a guarantee or a cost the docs promise would not hold.
var eventsIndexes = []eventsIndex{
	{[]string{"position"}, true, 1, "positions are unique and the global log is read in their order"},
	{[]string{"stream", "revision"}, true, 1, "revisions are checked by the database (G1) and streams read in order"},
	{[]string{"stream", "id"}, false, 2, "FindEvent is one index seek"},
}

// checkShape refuses, with ErrIncompatible, a schema at version whose tables are
// not the ones that version made: an events table whose columns changed or that
// lost one of its indexes, or (from version 2) a snapshot table of another shape.
// Nullability is not checked: rows that a loosened table let in are reported,
// when read, as corrupt.
func checkShape(ctx context.Context, tx pgx.Tx, schema string, version int) error {
	op := "open schema " + schema
	if err := checkEventsColumns(ctx, tx, schema); err != nil {
		return err
	}
	have, err := indexesOf(ctx, tx, pgx.Identifier{schema, "events"}.Sanitize())
	if err != nil {
		return storageError(ctx, op, err)
	}
	for _, want := range eventsIndexes {
		if want.since > version {
			continue
		}
		if !slices.ContainsFunc(have, func(h eventsIndex) bool { return slices.Equal(h.columns, want.columns) && (h.unique || !want.unique) }) {
			return fmt.Errorf("%s: %w: table %s.events has no valid %s on (%s), which the store needs: %s",
				op, eventstore.ErrIncompatible, schema, indexKind(want.unique), strings.Join(want.columns, ", "), want.why)
		}
	}
	if version >= 2 {
		if err := pgsnapshot.New(schema, snapshotTable).Check(ctx, tx); err != nil {
			return storageError(ctx, op, err)
		}
	}
	return nil
}

func indexKind(unique bool) string {
	if unique {
		return "unique index"
	}
	return "index"
}

// checkEventsColumns refuses an events table whose columns are not the ones this
// package made (a tool altered or replaced it).
func checkEventsColumns(ctx context.Context, tx pgx.Tx, schema string) error {
	op := "open schema " + schema
	rows, err := tx.Query(ctx, `SELECT column_name::text || ' ' || data_type::text FROM information_schema.columns
		WHERE table_schema = $1 AND table_name = 'events' ORDER BY ordinal_position`, schema)
	if err != nil {
		return storageError(ctx, op, err)
	}
	have, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return storageError(ctx, op, err)
	}
	var want []string
	for _, c := range eventsColumns {
		want = append(want, c.name+" "+c.typ)
	}
	if !slices.Equal(want, have) {
		return fmt.Errorf("%s: %w: table %s.events has columns (%s), want (%s)",
			op, eventstore.ErrIncompatible, schema, strings.Join(have, ", "), strings.Join(want, ", "))
	}
	return nil
}

// indexesOf lists the valid, complete (no WHERE, no expression) indexes of table
// by their key columns.
func indexesOf(ctx context.Context, tx pgx.Tx, table string) ([]eventsIndex, error) {
	rows, err := tx.Query(ctx, `SELECT i.indisunique,
			ARRAY(SELECT a.attname::text FROM unnest(i.indkey[0:i.indnkeyatts-1]) WITH ORDINALITY AS k(attnum, n)
				JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.n)
		FROM pg_index i
		WHERE i.indrelid = $1::regclass AND i.indisvalid AND i.indisready AND i.indislive
			AND i.indpred IS NULL AND i.indexprs IS NULL`, table)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (eventsIndex, error) {
		var ix eventsIndex
		err := r.Scan(&ix.unique, &ix.columns)
		return ix, err
	})
}
