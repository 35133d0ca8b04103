package pgtarget

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/internal/tablediff"
)

var _ projection.Differ[*Tx] = (*Target)(nil)

// Diff compares each logical table of generation rebuilt of name with the same
// table of generation live, in tx, a Write's transaction (projection.Differ).
// Rows are matched by the primary key of the rebuilt generation's table, or
// whole, counted as a multiset, when it has none. Other values compare by their
// text (as PostgreSQL prints them: a numeric 1.0 and 1.00 differ; json and other
// types without an equality compare too). Examples of each kind are taken in key
// order; their values are int64, float64, bool, string, []byte, time.Time or
// nil, and the text of other types (uuid, numeric, json...). A table whose
// columns (names and types) differ between the two generations fails with an
// error matching projection.ErrInvalidProjection.
func (t *Target) Diff(ctx context.Context, tx *Tx, name string, live, rebuilt, limit int) ([]projection.TableDiff, error) {
	gens, err := t.readGenerations(ctx, tx.tx, name)
	if err != nil {
		return nil, fmt.Errorf("compare generations: %w", err)
	}
	return tablediff.Generations(gens, name, live, rebuilt, func(table string) (projection.TableDiff, error) {
		return t.diffTable(ctx, tx.tx, table, PhysicalTable(table, live), PhysicalTable(table, rebuilt), limit)
	})
}

// diffTable compares one table of two generations.
func (t *Target) diffTable(ctx context.Context, tx pgx.Tx, table, live, rebuilt string, limit int) (projection.TableDiff, error) {
	d := projection.TableDiff{Table: table}
	cols, key, err := t.tableShape(ctx, tx, rebuilt)
	if err != nil {
		return d, err
	}
	liveCols, _, err := t.tableShape(ctx, tx, live)
	if err != nil {
		return d, err
	}
	if !slices.Equal(cols, liveCols) {
		return d, fmt.Errorf("%w: its columns differ: (%s) live, (%s) rebuilt", projection.ErrInvalidProjection,
			columnList(liveCols), columnList(cols))
	}
	for _, c := range cols {
		d.Columns = append(d.Columns, c.name)
	}
	d.Key = key
	q := diffQueries(cols, key, t.table(live), t.table(rebuilt))
	err = tablediff.Fill(&d, q, func(query string, kind projection.DiffKind) ([]projection.RowDiff, int, error) {
		return mismatches(ctx, tx, query, kind, len(cols), limit, q.Whole)
	})
	return d, err
}

// column is a column of a table: its name and its type, as format_type prints it.
type column struct{ name, typ string }

func columnList(cols []column) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = c.name + " " + c.typ
	}
	return strings.Join(parts, ", ")
}

// tableShape returns the columns of a physical table of the schema, in order,
// and those of its primary key, in key order.
func (t *Target) tableShape(ctx context.Context, tx pgx.Tx, table string) (cols []column, key []string, err error) {
	rows, err := tx.Query(ctx, `SELECT a.attname::text, format_type(a.atttypid, a.atttypmod),
			coalesce((SELECT k.n FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n) WHERE k.attnum = a.attnum), 0)
		FROM pg_attribute a LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
		WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`, t.table(table))
	if err != nil {
		return nil, nil, storageError(ctx, err)
	}
	defer rows.Close()
	pks := map[int]string{}
	for rows.Next() {
		var c column
		var pk int
		if err := rows.Scan(&c.name, &c.typ, &pk); err != nil {
			return nil, nil, storageError(ctx, err)
		}
		cols = append(cols, c)
		if pk > 0 {
			pks[pk] = c.name
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, storageError(ctx, err)
	}
	if len(cols) == 0 {
		return nil, nil, fmt.Errorf("%w: table %s does not exist", projection.ErrInvalidProjection, t.table(table))
	}
	for i := 1; i <= len(pks); i++ {
		key = append(key, pks[i])
	}
	return cols, key, nil
}
