package targettest_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/sqlitetarget"
	"github.com/idemkit/idem/projection/targettest"
)

// conformance is what a target's test calls, here for the SQLite target. In the
// target's own package it is a func TestConformance(t *testing.T).
func conformance(t *testing.T) {
	targettest.Run(t, targettest.Harness[*sqlitetarget.Tx]{
		New: func(t *testing.T) projection.Target[*sqlitetarget.Tx] {
			tg, err := sqlitetarget.Open(t.Context(), filepath.Join(t.TempDir(), "read.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { tg.Close() })
			return tg
		},
		CreateTable: func(ctx context.Context, tx *sqlitetarget.Tx, table string) error {
			_, err := tx.Exec(ctx, `CREATE TABLE {`+table+`} (n INTEGER NOT NULL)`)
			return err
		},
		Insert: func(ctx context.Context, tx *sqlitetarget.Tx, table string, n int64) error {
			_, err := tx.Exec(ctx, `INSERT INTO {`+table+`} (n) VALUES (?)`, n)
			return err
		},
		Read: func(ctx context.Context, target projection.Target[*sqlitetarget.Tx], table string) ([]int64, error) {
			rows, err := target.(*sqlitetarget.Target).DB().QueryContext(ctx, `SELECT n FROM "`+table+`" ORDER BY n`)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			var out []int64
			for rows.Next() {
				var n int64
				if err := rows.Scan(&n); err != nil {
					return nil, err
				}
				out = append(out, n)
			}
			return out, rows.Err()
		},
	})
}

// ExampleRun shows how a target runs the conformance suite (see conformance above).
func ExampleRun() {
	_ = conformance
}
