package pgtarget

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/idemkit/idem/projection"
)

var _ projection.NameLister = (*Target)(nil)

// Names returns the names of the projections and reactors that have a generation
// recorded in the target's schema, sorted as bytes (projection.NameLister). A
// NULL name (a table whose constraint was dropped) is reported as corrupt.
func (t *Target) Names(ctx context.Context) ([]string, error) {
	rows, err := t.pool.Query(ctx, `SELECT DISTINCT name FROM `+t.table("idem_projection_generations")+` ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list projection names: %w", storageError(ctx, err))
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var v pgtype.Text
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("list projection names: %w", storageError(ctx, err))
		}
		r := record{table: "idem_projection_generations", cols: []string{"name"}}
		name := r.text(0, v)
		if err := r.corrupt("name NULL"); err != nil {
			return nil, fmt.Errorf("list projection names: %w", err)
		}
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list projection names: %w", storageError(ctx, err))
	}
	return names, nil
}
