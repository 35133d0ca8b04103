package pgtarget_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore/memory"
	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/pgtarget"
)

// twoGenerations records generations 1 (live) and 2 (rebuilt) of "p" with the
// tables setup creates, and fills each with its statements.
func twoGenerations(t *testing.T, tg *pgtarget.Target, tables []string, setup string, live, rebuilt []string) {
	t.Helper()
	ctx := t.Context()
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
func diff(t *testing.T, tg *pgtarget.Target, live, rebuilt, limit int) ([]projection.TableDiff, error) {
	t.Helper()
	var tables []projection.TableDiff
	var derr error
	ctx := t.Context()
	err := tg.Write(ctx, "p", func(w projection.Writer[Tx]) error {
		g := projection.Generation{Name: "p", Number: rebuilt}
		tables, derr = tg.Diff(ctx, w.Tx(ctx, g), "p", live, rebuilt, limit)
		return nil
	})
	require.NoError(t, err)
	return tables, derr
}

// TestDiffByKey: rows are matched by primary key (composite, in key order),
// other values compared by their text, NULL-safe (json, which has no equality,
// included); every mismatch is counted, the examples are capped and in key order.
func TestDiffByKey(t *testing.T) {
	tg := open(t)
	twoGenerations(t, tg, []string{"totals"},
		`CREATE TABLE {totals} (n numeric, b int, a text, doc json, PRIMARY KEY (a, b))`,
		[]string{`INSERT INTO {totals} VALUES (10, 1, 'x', '{}'), (20, 2, 'x', NULL), (5, 1, 'n', NULL), (1.0, 1, 'y', '[1]'), (9, 9, 'z', NULL), (8, 8, 'z', NULL)`},
		[]string{`INSERT INTO {totals} VALUES (10, 1, 'x', '{}'), (21, 2, 'x', NULL), (5, 1, 'n', NULL), (1.00, 1, 'y', '[1]'), (0, 1, 'w', NULL), (0, 1, 'v', NULL), (0, 1, 'u', NULL)`})
	d, err := diff(t, tg, 1, 2, 2)
	require.NoError(t, err)
	require.Len(t, d, 1)
	td := d[0]
	require.Equal(t, "totals", td.Table)
	require.Equal(t, []string{"n", "b", "a", "doc"}, td.Columns)
	require.Equal(t, []string{"a", "b"}, td.Key, "in key order")
	require.Equal(t, 3, td.Missing, "u, v and w are missing from live")
	require.Equal(t, 2, td.Extra, "z-8 and z-9 are extra")
	require.Equal(t, 2, td.Different, "x-2 and y-1 (1.0 and 1.00) differ")
	var missing []any
	for _, r := range td.Rows {
		switch r.Kind {
		case projection.Missing:
			missing = append(missing, r.Rebuilt[2])
			require.Nil(t, r.Live)
		case projection.Different:
			if r.Live[2] == "y" {
				require.Equal(t, []any{"1.0", int64(1), "y", "[1]"}, r.Live)
				require.Equal(t, []any{"1.00", int64(1), "y", "[1]"}, r.Rebuilt)
				continue
			}
			require.Equal(t, []any{"20", int64(2), "x", nil}, r.Live, "numeric as text, int widened")
			require.Equal(t, []any{"21", int64(2), "x", nil}, r.Rebuilt)
		}
	}
	require.Equal(t, []any{"u", "v"}, missing, "at most 2 examples, in key order")
}

// TestDiffWholeRows: a table without a primary key is compared as a multiset of
// whole rows: a row held twice by one generation and once by the other is one
// mismatch.
func TestDiffWholeRows(t *testing.T) {
	tg := open(t)
	twoGenerations(t, tg, []string{"log"}, `CREATE TABLE {log} (stream text, amount int, doc jsonb)`,
		[]string{`INSERT INTO {log} VALUES ('a', 1, NULL), ('a', 1, NULL), ('b', 2, '{"k": 1}'), ('c', NULL, NULL)`},
		[]string{`INSERT INTO {log} VALUES ('a', 1, NULL), ('b', 2, '{"k": 1}'), ('b', 2, '{"k": 1}'), ('b', 2, '{"k":1}'), ('c', NULL, NULL)`})
	d, err := diff(t, tg, 1, 2, 10)
	require.NoError(t, err)
	td := d[0]
	require.Empty(t, td.Key)
	require.Equal(t, 2, td.Missing, "b-2 twice more in the rebuild")
	require.Equal(t, 1, td.Extra, "a-1 once more in live")
	require.Equal(t, 0, td.Different)
	require.Len(t, td.Rows, 3)
	require.Equal(t, []any{"a", int64(1), nil}, td.Rows[2].Live)
	require.Equal(t, []any{"b", int64(2), `{"k": 1}`}, td.Rows[0].Rebuilt)
}

// TestDiffRefusesOtherShapes: tables whose columns differ (by name or type), and
// a generation that is not recorded, fail the comparison.
func TestDiffRefusesOtherShapes(t *testing.T) {
	for name, ddl := range map[string]string{
		"Name": `CREATE TABLE {t} (k text PRIMARY KEY, w int)`,
		"Type": `CREATE TABLE {t} (k text PRIMARY KEY, v bigint)`,
	} {
		t.Run(name, func(t *testing.T) {
			tg := open(t)
			ctx := t.Context()
			require.NoError(t, tg.Init(ctx))
			err := tg.Write(ctx, "p", func(w projection.Writer[Tx]) error {
				for n, ddl := range map[int]string{1: `CREATE TABLE {t} (k text PRIMARY KEY, v int)`, 2: ddl} {
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
		})
	}
}

// TestNames lists the names with a generation, sorted.
func TestNames(t *testing.T) {
	tg := open(t)
	twoGenerations(t, tg, []string{"log"}, `CREATE TABLE {log} (x int)`, nil, nil)
	err := tg.Write(t.Context(), "B", func(w projection.Writer[Tx]) error {
		return w.Create(t.Context(), projection.Generation{Name: "B", Number: 1, Kind: projection.KindReactor}, nil)
	})
	require.NoError(t, err)
	names, err := tg.Names(t.Context())
	require.NoError(t, err)
	require.Equal(t, []string{"B", "p"}, names)
}

// TestReconcile: Runner.Reconcile compares the live read model with a shadow
// rebuilt from history, through Diff: none after a catch-up, and the row a tool
// changed behind the runner's back.
func TestReconcile(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	appendAll(t, store, "a-1", "x", "y")
	appendAll(t, store, "b-1", "z")
	tg := open(t)
	r, err := projection.NewRunner(store, tg, quiet)
	require.NoError(t, err)
	require.NoError(t, r.Add(counts()))
	require.NoError(t, r.CatchUp(ctx))
	rep, err := r.Reconcile(ctx, "counts")
	require.NoError(t, err)
	require.Zero(t, rep.Mismatches())
	_, err = tg.Pool().Exec(ctx, `UPDATE `+tg.Schema()+`.counts SET n = 7 WHERE stream = 'a-1'`)
	require.NoError(t, err)
	rep, err = r.Reconcile(ctx, "counts")
	require.NoError(t, err)
	require.Equal(t, 1, rep.Mismatches())
	require.Equal(t, []any{"a-1", int64(7)}, rep.Tables[0].Rows[0].Live)
	require.Equal(t, []any{"a-1", int64(2)}, rep.Tables[0].Rows[0].Rebuilt)
}
