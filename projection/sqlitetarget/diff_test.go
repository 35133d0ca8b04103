package sqlitetarget_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/sqlitetarget"
)

// twoGenerations records generations 1 (live) and 2 (rebuilt) of "p" with the
// tables setup creates, and fills each with its statements.
func twoGenerations(t *testing.T, tg *sqlitetarget.Target, tables []string, setup string, live, rebuilt []string) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, tg.Init(ctx))
	err := tg.Write(ctx, "p", func(w projection.Writer[Tx]) error {
		for n, stmts := range map[int][]string{1: live, 2: rebuilt} {
			g := projection.Generation{Name: "p", Number: n, Kind: projection.KindProjection, Version: 1, Tables: tables}
			if err := w.Create(ctx, g, func(tx Tx) error { _, err := tx.Exec(ctx, setup); return err }); err != nil {
				return err
			}
			for _, s := range stmts {
				if _, err := w.Tx(ctx, g).Exec(ctx, s); err != nil {
					return err
				}
			}
		}
		return nil
	})
	require.NoError(t, err)
}

// diff runs Diff in a Write of "p", as the runner does.
func diff(t *testing.T, tg *sqlitetarget.Target, live, rebuilt, limit int) ([]projection.TableDiff, error) {
	t.Helper()
	var tables []projection.TableDiff
	var derr error
	ctx := context.Background()
	err := tg.Write(ctx, "p", func(w projection.Writer[Tx]) error {
		g := projection.Generation{Name: "p", Number: rebuilt}
		tables, derr = tg.Diff(ctx, w.Tx(ctx, g), "p", live, rebuilt, limit)
		return nil
	})
	require.NoError(t, err)
	return tables, derr
}

// TestDiffByKey: rows are matched by primary key (NULL-safe, composite), values
// compared by SQLite's IS (1 and '1' differ); every mismatch is counted, the
// examples are capped and in key order.
func TestDiffByKey(t *testing.T) {
	tg := open(t)
	twoGenerations(t, tg, []string{"totals"},
		`CREATE TABLE {totals} (a TEXT, b INTEGER, n, PRIMARY KEY (a, b))`,
		[]string{`INSERT INTO {totals} VALUES ('x', 1, 10), ('x', 2, 20), (NULL, 1, 5), ('y', 1, 1), ('z', 9, 9), ('z', 8, 8)`},
		[]string{`INSERT INTO {totals} VALUES ('x', 1, 10), ('x', 2, 21), (NULL, 1, 5), ('y', 1, '1'), ('w', 1, 0), ('v', 1, 0), ('u', 1, 0)`})
	d, err := diff(t, tg, 1, 2, 2)
	require.NoError(t, err)
	require.Len(t, d, 1)
	td := d[0]
	require.Equal(t, []string{"a", "b", "n"}, td.Columns)
	require.Equal(t, []string{"a", "b"}, td.Key)
	require.Equal(t, 3, td.Missing, "u, v and w are missing from live")
	require.Equal(t, 2, td.Extra, "z-8 and z-9 are extra")
	require.Equal(t, 2, td.Different, "x-2 and y-1 differ; the NULL key matches")
	var missing []any
	for _, r := range td.Rows {
		if r.Kind == projection.Missing {
			missing = append(missing, r.Rebuilt[0])
			require.Nil(t, r.Live)
		}
	}
	require.Equal(t, []any{"u", "v"}, missing, "at most 2 examples, in key order")
}

// TestDiffWholeRows: a table without a primary key is compared as a multiset of
// whole rows: a row held twice by one generation and once by the other is one
// mismatch.
func TestDiffWholeRows(t *testing.T) {
	tg := open(t)
	twoGenerations(t, tg, []string{"log"}, `CREATE TABLE {log} (stream TEXT, amount INTEGER)`,
		[]string{`INSERT INTO {log} VALUES ('a', 1), ('a', 1), ('b', 2), ('c', NULL)`},
		[]string{`INSERT INTO {log} VALUES ('a', 1), ('b', 2), ('b', 2), ('b', 2), ('c', NULL)`})
	d, err := diff(t, tg, 1, 2, 10)
	require.NoError(t, err)
	td := d[0]
	require.Empty(t, td.Key)
	require.Equal(t, 2, td.Missing, "b-2 twice more in the rebuild")
	require.Equal(t, 1, td.Extra, "a-1 once more in live")
	require.Equal(t, 0, td.Different)
	require.Len(t, td.Rows, 3)
}

// TestDiffRefusesOtherShapes: tables whose columns differ, and a generation that
// is not recorded, fail the comparison.
func TestDiffRefusesOtherShapes(t *testing.T) {
	tg := open(t)
	ctx := context.Background()
	require.NoError(t, tg.Init(ctx))
	err := tg.Write(ctx, "p", func(w projection.Writer[Tx]) error {
		for n, ddl := range map[int]string{1: `CREATE TABLE {t} (k TEXT PRIMARY KEY, v INTEGER)`, 2: `CREATE TABLE {t} (k TEXT PRIMARY KEY, w INTEGER)`} {
			g := projection.Generation{Name: "p", Number: n, Kind: projection.KindProjection, Version: 1, Tables: []string{"t"}}
			if err := w.Create(ctx, g, func(tx Tx) error { _, err := tx.Exec(ctx, ddl); return err }); err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(t, err)
	_, err = diff(t, tg, 1, 2, 10)
	require.ErrorIs(t, err, projection.ErrInvalidProjection)
	require.ErrorContains(t, err, "columns differ")
	_, err = diff(t, tg, 1, 7, 10)
	require.ErrorIs(t, err, projection.ErrUnknownProjection)
}

// TestNames lists the names with a generation.
func TestNames(t *testing.T) {
	tg := open(t)
	twoGenerations(t, tg, []string{"log"}, `CREATE TABLE {log} (x)`, nil, nil)
	names, err := tg.Names(context.Background())
	require.NoError(t, err)
	require.Equal(t, []string{"p"}, names)
}
