package sqlitetarget

import (
	"context"
	"fmt"

	"github.com/idemkit/idem/projection"
)

var _ projection.NameLister = (*Target)(nil)

// Names returns the names of the projections and reactors that have a generation
// recorded in the target, sorted (projection.NameLister). A name stored as
// anything but text is reported as corrupt.
func (t *Target) Names(ctx context.Context) ([]string, error) {
	rows, err := t.db.QueryContext(ctx, `SELECT DISTINCT name FROM idem_projection_generations ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list projection names: %w", storageError(ctx, err))
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		r, err := scanRecord(rows, "idem_projection_generations", []string{"name"})
		if err != nil {
			return nil, fmt.Errorf("list projection names: %w", storageError(ctx, err))
		}
		name := r.text(0)
		if err := r.corrupt(0); err != nil {
			return nil, fmt.Errorf("list projection names: %w", err)
		}
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list projection names: %w", storageError(ctx, err))
	}
	return names, nil
}
