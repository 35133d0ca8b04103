package sqlitetarget

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/internal/tablediff"
)

var _ projection.Differ[*Tx] = (*Target)(nil)

// Diff compares each logical table of generation rebuilt of name with the same
// table of generation live, in tx, a Write's transaction (projection.Differ).
// Rows are matched by the primary key of the rebuilt generation's table
// (NULL-safe, with IS), or whole, counted as a multiset, when it has none; values
// compare as SQLite compares them with IS (an integer 1 and a text '1' differ).
// Examples of each kind are taken in key order. A table whose columns differ
// between the two generations fails with an error matching
// projection.ErrInvalidProjection.
func (t *Target) Diff(ctx context.Context, tx *Tx, name string, live, rebuilt, limit int) ([]projection.TableDiff, error) {
	gens, err := readGenerations(ctx, tx.SQL(), name)
	if err != nil {
		return nil, fmt.Errorf("compare generations: %w", err)
	}
	return tablediff.Generations(gens, name, live, rebuilt, func(table string) (projection.TableDiff, error) {
		return diffTable(ctx, tx.SQL(), table, PhysicalTable(table, live), PhysicalTable(table, rebuilt), limit)
	})
}

// diffTable compares one table of two generations.
func diffTable(ctx context.Context, tx *sql.Tx, table, live, rebuilt string, limit int) (projection.TableDiff, error) {
	d := projection.TableDiff{Table: table}
	cols, key, err := tableShape(ctx, tx, rebuilt)
	if err != nil {
		return d, err
	}
	liveCols, _, err := tableShape(ctx, tx, live)
	if err != nil {
		return d, err
	}
	if !slices.Equal(cols, liveCols) {
		return d, fmt.Errorf("%w: its columns differ: (%s) live, (%s) rebuilt", projection.ErrInvalidProjection,
			strings.Join(liveCols, ", "), strings.Join(cols, ", "))
	}
	d.Columns, d.Key = cols, key
	q := diffQueries(cols, key, quoteIdent(live), quoteIdent(rebuilt))
	err = tablediff.Fill(&d, q, func(query string, kind projection.DiffKind) ([]projection.RowDiff, int, error) {
		return mismatches(ctx, tx, query, kind, len(cols), limit, q.Whole)
	})
	return d, err
}

// tableShape returns the columns of a table, in order, and those of its primary
// key, in key order.
func tableShape(ctx context.Context, tx *sql.Tx, table string) (cols, key []string, err error) {
	rows, err := tx.QueryContext(ctx, `SELECT name, pk FROM pragma_table_info(?) ORDER BY cid`, table)
	if err != nil {
		return nil, nil, storageError(ctx, err)
	}
	defer rows.Close()
	pks := map[int]string{}
	for rows.Next() {
		var name string
		var pk int
		if err := rows.Scan(&name, &pk); err != nil {
			return nil, nil, storageError(ctx, err)
		}
		cols = append(cols, name)
		if pk > 0 {
			pks[pk] = name
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, storageError(ctx, err)
	}
	if len(cols) == 0 {
		return nil, nil, fmt.Errorf("%w: table %s does not exist", projection.ErrInvalidProjection, table)
	}
	for i := 1; i <= len(pks); i++ {
		key = append(key, pks[i])
	}
	return cols, key, nil
}

func diffQueries(cols, key []string, live, rebuilt string) tablediff.Queries {
	list := func(alias string) string {
		parts := make([]string, len(cols))
		for i, c := range cols {
			parts[i] = alias + "." + quoteColumn(c)
		}
		return strings.Join(parts, ", ")
	}
	nulls := strings.TrimSuffix(strings.Repeat("NULL, ", len(cols)), ", ")
	same := func(columns []string) string {
		parts := make([]string, len(columns))
		for i, c := range columns {
			parts[i] = "l." + quoteColumn(c) + " IS r." + quoteColumn(c)
		}
		return strings.Join(parts, " AND ")
	}
	if len(key) == 0 {
		return wholeRowQueries(cols, live, rebuilt, same(cols))
	}
	order := func(alias string) string {
		parts := make([]string, len(key))
		for i, c := range key {
			parts[i] = alias + "." + quoteColumn(c)
		}
		return " ORDER BY " + strings.Join(parts, ", ")
	}
	q := tablediff.Queries{
		Missing: "SELECT " + nulls + ", " + list("r") + " FROM " + rebuilt + " AS r WHERE NOT EXISTS (SELECT 1 FROM " + live +
			" AS l WHERE " + same(key) + ")" + order("r"),
		Extra: "SELECT " + list("l") + ", " + nulls + " FROM " + live + " AS l WHERE NOT EXISTS (SELECT 1 FROM " + rebuilt +
			" AS r WHERE " + same(key) + ")" + order("l"),
	}
	var rest []string
	for _, c := range cols {
		if !slices.Contains(key, c) {
			rest = append(rest, c)
		}
	}
	if len(rest) > 0 {
		q.Different = "SELECT " + list("l") + ", " + list("r") + " FROM " + live + " AS l JOIN " + rebuilt + " AS r ON " +
			same(key) + " WHERE NOT (" + same(rest) + ")" + order("l")
	}
	return q
}

// wholeRowQueries match rows whole, as multisets: each query selects a row's
// columns and how many more times one generation holds it than the other
// (surplusColumn).
func wholeRowQueries(cols []string, live, rebuilt, same string) tablediff.Queries {
	list := make([]string, len(cols))
	for i, c := range cols {
		list[i] = quoteColumn(c)
	}
	all := strings.Join(list, ", ")
	surplus := func(from, fromAlias, other, otherAlias string) string {
		sel := fromAlias + "." + strings.Join(list, ", "+fromAlias+".")
		n := fromAlias + "." + surplusColumn + " - coalesce(" + otherAlias + "." + surplusColumn + ", 0)"
		return "SELECT " + sel + ", " + n + " FROM (SELECT " + all + ", count(*) AS " + surplusColumn + " FROM " + from +
			" GROUP BY " + all + ") AS " + fromAlias + " LEFT JOIN (SELECT " + all + ", count(*) AS " + surplusColumn +
			" FROM " + other + " GROUP BY " + all + ") AS " + otherAlias + " ON " + same + " WHERE " + n + " > 0 ORDER BY " + sel
	}
	return tablediff.Queries{Missing: surplus(rebuilt, "r", live, "l"), Extra: surplus(live, "l", rebuilt, "r"), Whole: true}
}

// surplusColumn names the count column of the whole-row queries.
const surplusColumn = "idem_diff_surplus"

// quoteColumn quotes a column name, whatever it holds.
func quoteColumn(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// mismatches runs a mismatch query: it counts every mismatch and keeps the first
// limit. A keyed query's rows hold the live row then the rebuilt one; a whole-row
// query's rows hold one row and its surplus, counted that many times.
func mismatches(ctx context.Context, tx *sql.Tx, query string, kind projection.DiffKind, ncols, limit int, whole bool) ([]projection.RowDiff, int, error) {
	rows, err := tx.QueryContext(ctx, query)
	if err != nil {
		return nil, 0, storageError(ctx, err)
	}
	defer rows.Close()
	width := 2 * ncols
	if whole {
		width = ncols + 1
	}
	vals, ptrs := make([]any, width), make([]any, width)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	c := tablediff.Counter{Kind: kind, Cols: ncols, Limit: limit, Whole: whole, Copy: slices.Clone[[]any]}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, 0, storageError(ctx, err)
		}
		var surplus int64
		if whole {
			surplus, _ = vals[ncols].(int64)
		}
		c.Add(vals, surplus)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, storageError(ctx, err)
	}
	return c.Rows, c.N, nil
}
