package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/idemkit/idem/internal/quote"
)

// column is a column of the events table as PRAGMA table_xinfo describes it.
type column struct {
	name, typ string
	notNull   bool
	pk        int // its place in the primary key, 0 when not in it
}

// eventsColumns are the columns of the events table as migrations create it, in
// order: position is the rowid (INTEGER PRIMARY KEY).
var eventsColumns = []column{
	{"position", "INTEGER", false, 1},
	{"stream", "TEXT", true, 0},
	{"revision", "INTEGER", true, 0},
	{"id", "BLOB", true, 0},
	{"type", "TEXT", true, 0},
	{"data", "BLOB", false, 0},
	{"metadata", "BLOB", false, 0},
	{"recorded_at", "INTEGER", true, 0},
}

// checkEventsTable checks that the events table, if the file has one, is the one
// this package creates: the same columns with the same types and NOT NULL
// constraints, position an AUTOINCREMENT rowid (positions never reused), no
// collation but the default (stream = ? compares bytes), and a full UNIQUE index
// on (stream, revision), which the reads, the heads and the retry check rely on.
// Other indexes and triggers are allowed. A foreign table is reported with a
// *ForeignSchemaError; exists says whether there is a table at all.
func checkEventsTable(ctx context.Context, tx *sql.Tx, path string) (exists bool, err error) {
	foreign := func(format string, args ...any) (bool, error) {
		return true, &ForeignSchemaError{Path: path, Problem: fmt.Sprintf(format, args...)}
	}
	var kind, ddl string
	err = tx.QueryRowContext(ctx, "SELECT type, COALESCE(sql, '') FROM sqlite_schema WHERE name = 'events'").Scan(&kind, &ddl)
	switch {
	case err == sql.ErrNoRows:
		return false, nil
	case err != nil:
		return false, err
	case kind != "table":
		return foreign("events is a %s", quote.Trunc(kind))
	}
	upper := strings.ToUpper(ddl)
	if !strings.Contains(upper, "AUTOINCREMENT") {
		return foreign("position is not AUTOINCREMENT")
	}
	if strings.Contains(upper, "COLLATE") {
		return foreign("it declares a collation")
	}

	var cols []column
	rows, err := tx.QueryContext(ctx, `SELECT name, type, "notnull", pk, hidden FROM pragma_table_xinfo('events') ORDER BY cid`)
	if err != nil {
		return true, err
	}
	defer rows.Close()
	for rows.Next() {
		var c column
		var hidden int
		if err := rows.Scan(&c.name, &c.typ, &c.notNull, &c.pk, &hidden); err != nil {
			return true, err
		}
		if hidden != 0 {
			return foreign("column %s is hidden or generated", quote.Q(c.name))
		}
		c.typ = strings.ToUpper(c.typ)
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		return true, err
	}
	if len(cols) != len(eventsColumns) {
		return foreign("%d columns, not %d", len(cols), len(eventsColumns))
	}
	for i, c := range cols {
		if want := eventsColumns[i]; c != want {
			return foreign("column %d is %s %s (not null %v, key %d), not %s %s (not null %v, key %d)",
				i+1, quote.Q(c.name), quote.Q(c.typ), c.notNull, c.pk, want.name, want.typ, want.notNull, want.pk)
		}
	}

	ok, err := hasStreamRevisionIndex(ctx, tx)
	if err != nil || !ok {
		if err == nil {
			return foreign("no full UNIQUE index on (stream, revision)")
		}
		return true, err
	}
	return true, nil
}

// hasStreamRevisionIndex reports whether the events table has a UNIQUE index on
// (stream, revision), in that order, ascending, in byte order and without a WHERE
// clause.
func hasStreamRevisionIndex(ctx context.Context, tx *sql.Tx) (bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name FROM pragma_index_list('events') WHERE "unique" = 1 AND partial = 0`)
	if err != nil {
		return false, err
	}
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return false, err
		}
		names = append(names, name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	for _, name := range names {
		var key string
		err := tx.QueryRowContext(ctx, `SELECT COALESCE(group_concat(COALESCE(name, '?') || ' ' || coll || ' ' || desc, ',' ORDER BY seqno), '')
			FROM pragma_index_xinfo(?) WHERE key = 1`, name).Scan(&key)
		if err != nil {
			return false, err
		}
		if key == "stream BINARY 0,revision BINARY 0" {
			return true, nil
		}
	}
	return false, nil
}
