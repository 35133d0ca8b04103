package sqlitetarget_test

import (
	"context"
	"testing"

	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/sqlitetarget"
	"github.com/idemkit/idem/projection/targettest"
)

// TestConformance runs the target suite against the SQLite target: readers read
// the views.
func TestConformance(t *testing.T) {
	targettest.Run(t, targettest.Harness[*sqlitetarget.Tx]{
		New: func(t *testing.T) projection.Target[*sqlitetarget.Tx] { return open(t) },
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
