package pgtarget_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/pgtarget"
	"github.com/idemkit/idem/projection/targettest"
)

// TestConformance runs the target suite against the PostgreSQL target, on a real
// server: readers read the views, through the target's pool.
func TestConformance(t *testing.T) {
	targettest.Run(t, targettest.Harness[*pgtarget.Tx]{
		New: func(t *testing.T) projection.Target[*pgtarget.Tx] { return open(t) },
		CreateTable: func(ctx context.Context, tx *pgtarget.Tx, table string) error {
			_, err := tx.Exec(ctx, `CREATE TABLE {`+table+`} (n bigint NOT NULL)`)
			return err
		},
		Insert: func(ctx context.Context, tx *pgtarget.Tx, table string, n int64) error {
			_, err := tx.Exec(ctx, `INSERT INTO {`+table+`} (n) VALUES ($1)`, n)
			return err
		},
		Read: func(ctx context.Context, target projection.Target[*pgtarget.Tx], table string) ([]int64, error) {
			tg := target.(*pgtarget.Target)
			rows, err := tg.Pool().Query(ctx, `SELECT n FROM `+pgx.Identifier{tg.Schema(), table}.Sanitize()+` ORDER BY n`)
			if err != nil {
				return nil, err
			}
			return pgx.CollectRows(rows, pgx.RowTo[int64])
		},
	})
}
