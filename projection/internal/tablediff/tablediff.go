// Package tablediff is what the SQL projection targets share of
// projection.Differ: the walk over a projection's tables, the three mismatch
// queries of a table, and the counting of their rows. Each target writes the
// queries in its own dialect and reads its own rows.
package tablediff

import (
	"fmt"
	"slices"

	"github.com/idemkit/idem/internal/quote"
	"github.com/idemkit/idem/projection"
)

// Generations compares each logical table of generation rebuilt of name with
// the same table of generation live, both found in gens, through table (the
// logical table's name): projection.Differ.Diff over a target's bookkeeping.
func Generations(gens []projection.Generation, name string, live, rebuilt int,
	table func(logical string) (projection.TableDiff, error)) ([]projection.TableDiff, error) {
	l := slices.IndexFunc(gens, func(g projection.Generation) bool { return g.Number == live })
	r := slices.IndexFunc(gens, func(g projection.Generation) bool { return g.Number == rebuilt })
	if l < 0 || r < 0 {
		return nil, fmt.Errorf("compare generations %d and %d of %s: %w: not both recorded", live, rebuilt, quote.Q(name),
			projection.ErrUnknownProjection)
	}
	var out []projection.TableDiff
	for _, t := range gens[r].Tables {
		if !slices.Contains(gens[l].Tables, t) {
			return nil, fmt.Errorf("compare generations %d and %d of %s: %w: generation %d has no table %s",
				live, rebuilt, quote.Q(name), projection.ErrInvalidProjection, live, t)
		}
		d, err := table(t)
		if err != nil {
			return nil, fmt.Errorf("compare table %s of generations %d and %d of %s: %w", t, live, rebuilt, quote.Q(name), err)
		}
		out = append(out, d)
	}
	return out, nil
}

// Queries are the mismatch queries of one table: rows the live generation
// misses, rows it has in excess, and rows whose values differ ("" when the table
// has no column outside its key). Keyed queries select the live row's columns
// then the rebuilt row's; Whole ones (a table without a primary key, matched as a
// multiset) select a row and how many more times one generation holds it.
type Queries struct {
	Missing, Extra, Different string
	Whole                     bool
}

// Fill runs each query of q through run, which returns the query's mismatches
// (the first ones) and their count, into d.
func Fill(d *projection.TableDiff, q Queries, run func(query string, kind projection.DiffKind) ([]projection.RowDiff, int, error)) error {
	for _, k := range []struct {
		kind  projection.DiffKind
		query string
		n     *int
	}{{projection.Missing, q.Missing, &d.Missing}, {projection.Extra, q.Extra, &d.Extra}, {projection.Different, q.Different, &d.Different}} {
		if k.query == "" {
			continue
		}
		rows, n, err := run(k.query, k.kind)
		if err != nil {
			return err
		}
		*k.n = n
		d.Rows = append(d.Rows, rows...)
	}
	return nil
}

// Counter counts the rows of one mismatch query and keeps the first Limit as
// RowDiffs, their values copied by Copy.
type Counter struct {
	Kind  projection.DiffKind
	Cols  int // columns of the table
	Limit int
	Whole bool
	Copy  func([]any) []any

	Rows []projection.RowDiff
	N    int
}

// Add counts one row of the query: vals are the live then the rebuilt row's
// columns, or, for a Whole query, the row's columns, counted surplus times.
func (c *Counter) Add(vals []any, surplus int64) {
	times := int64(1)
	if c.Whole {
		times = surplus
	}
	for range times {
		c.N++
		if len(c.Rows) < c.Limit {
			c.Rows = append(c.Rows, c.rowDiff(vals))
		}
	}
}

// rowDiff builds a mismatch from a query's values.
func (c *Counter) rowDiff(vals []any) projection.RowDiff {
	d := projection.RowDiff{Kind: c.Kind}
	n := c.Cols
	switch {
	case c.Whole && c.Kind == projection.Missing:
		d.Rebuilt = c.Copy(vals[:n])
	case c.Whole:
		d.Live = c.Copy(vals[:n])
	default:
		if c.Kind != projection.Missing {
			d.Live = c.Copy(vals[:n])
		}
		if c.Kind != projection.Extra {
			d.Rebuilt = c.Copy(vals[n : 2*n])
		}
	}
	return d
}
