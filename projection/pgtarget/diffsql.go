package pgtarget

import (
	"context"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/internal/tablediff"
)

// nativeTypes are the types whose values pgx reads as plain Go values; other
// columns are selected as text.
var nativeTypes = []string{"smallint", "integer", "bigint", "real", "double precision", "boolean", "text",
	"bytea", "timestamp with time zone", "timestamp without time zone", "date"}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// selectList is the columns of alias as selected for a mismatch's values.
func selectList(cols []column, alias string) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = alias + "." + ident(c.name)
		if !slices.Contains(nativeTypes, c.typ) && !strings.HasPrefix(c.typ, "character varying") {
			parts[i] += "::text"
		}
	}
	return strings.Join(parts, ", ")
}

// textRow is a row of the columns of alias as text, compared NULL-safe with IS
// [NOT] DISTINCT FROM.
func textRow(names []string, alias string) string {
	parts := make([]string, len(names))
	for i, c := range names {
		parts[i] = alias + "." + ident(c) + "::text"
	}
	return "ROW(" + strings.Join(parts, ", ") + ")"
}

func diffQueries(cols []column, key []string, live, rebuilt string) tablediff.Queries {
	if len(key) == 0 {
		return wholeRowQueries(cols, live, rebuilt)
	}
	nulls := strings.TrimSuffix(strings.Repeat("NULL, ", len(cols)), ", ")
	var same, lorder, rorder []string
	for _, k := range key {
		same = append(same, "l."+ident(k)+" = r."+ident(k))
		lorder, rorder = append(lorder, "l."+ident(k)), append(rorder, "r."+ident(k))
	}
	on := strings.Join(same, " AND ")
	q := tablediff.Queries{
		Missing: "SELECT " + nulls + ", " + selectList(cols, "r") + " FROM " + rebuilt + " AS r WHERE NOT EXISTS (SELECT 1 FROM " +
			live + " AS l WHERE " + on + ") ORDER BY " + strings.Join(rorder, ", "),
		Extra: "SELECT " + selectList(cols, "l") + ", " + nulls + " FROM " + live + " AS l WHERE NOT EXISTS (SELECT 1 FROM " +
			rebuilt + " AS r WHERE " + on + ") ORDER BY " + strings.Join(lorder, ", "),
	}
	var rest []string
	for _, c := range cols {
		if !slices.Contains(key, c.name) {
			rest = append(rest, c.name)
		}
	}
	if len(rest) > 0 {
		q.Different = "SELECT " + selectList(cols, "l") + ", " + selectList(cols, "r") + " FROM " + live + " AS l JOIN " + rebuilt +
			" AS r ON " + on + " WHERE " + textRow(rest, "l") + " IS DISTINCT FROM " + textRow(rest, "r") + " ORDER BY " + strings.Join(lorder, ", ")
	}
	return q
}

// surplusColumn names the count column of the whole-row queries.
const surplusColumn = "idem_diff_surplus"

// wholeRowQueries match rows whole, as multisets, by the text of their values:
// each query selects one row of each group of equal rows, and how many more
// times one generation holds it than the other.
func wholeRowQueries(cols []column, live, rebuilt string) tablediff.Queries {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	group := func(table string) string {
		k := textRow(names, "t")
		return "(SELECT DISTINCT ON (" + k + ") " + selectList(cols, "t") + ", " + k + " AS idem_diff_row, count(*) OVER (PARTITION BY " +
			k + ") AS " + surplusColumn + " FROM " + table + " AS t ORDER BY " + k + ")"
	}
	surplus := func(from, other string) string {
		n := "f." + surplusColumn + " - coalesce(o." + surplusColumn + ", 0)"
		return "SELECT f.*, " + n + " FROM " + group(from) + " AS f LEFT JOIN " + group(other) +
			" AS o ON f.idem_diff_row IS NOT DISTINCT FROM o.idem_diff_row WHERE " + n + " > 0 ORDER BY f.idem_diff_row"
	}
	return tablediff.Queries{Missing: surplus(rebuilt, live), Extra: surplus(live, rebuilt), Whole: true}
}

// mismatches runs a mismatch query: it counts every mismatch and keeps the first
// limit. A keyed query's rows hold the live row then the rebuilt one; a whole-row
// query's rows hold one row, its text, its count and its surplus, counted that
// many times.
func mismatches(ctx context.Context, tx pgx.Tx, query string, kind projection.DiffKind, ncols, limit int, whole bool) ([]projection.RowDiff, int, error) {
	rows, err := tx.Query(ctx, query)
	if err != nil {
		return nil, 0, storageError(ctx, err)
	}
	defer rows.Close()
	c := tablediff.Counter{Kind: kind, Cols: ncols, Limit: limit, Whole: whole, Copy: plain}
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, 0, storageError(ctx, err)
		}
		var surplus int64
		if whole {
			surplus, _ = vals[len(vals)-1].(int64)
		}
		c.Add(vals, surplus)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, storageError(ctx, err)
	}
	return c.Rows, c.N, nil
}

// plain copies values, widening integers to int64 and float32 to float64.
func plain(vals []any) []any {
	out := make([]any, len(vals))
	for i, v := range vals {
		switch v := v.(type) {
		case int16:
			out[i] = int64(v)
		case int32:
			out[i] = int64(v)
		case float32:
			out[i] = float64(v)
		default:
			out[i] = v
		}
	}
	return out
}
