package pgtarget

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/idemkit/idem/internal/quote"
	"github.com/idemkit/idem/projection"
)

// Generations returns the generations of name (projection.Target).
func (t *Target) Generations(ctx context.Context, name string) ([]projection.Generation, error) {
	gens, err := t.readGenerations(ctx, t.pool, name)
	if err != nil {
		return nil, fmt.Errorf("read generations: %w", err)
	}
	return gens, nil
}

// Guards returns the per-stream guards of streams in a generation of name
// (projection.Target).
func (t *Target) Guards(ctx context.Context, name string, generation int, streams []string) (map[string]uint64, error) {
	g, err := t.readGuards(ctx, t.pool, name, generation, streams)
	if err != nil {
		return nil, fmt.Errorf("read stream guards: %w", err)
	}
	return g, nil
}

// Parked returns the parked events of name (projection.Target).
func (t *Target) Parked(ctx context.Context, name string) ([]projection.ParkedEvent, error) {
	out, err := t.readParked(ctx, t.pool, name)
	if err != nil {
		return nil, fmt.Errorf("read parked events: %w", err)
	}
	return out, nil
}

// Write runs fn in one PostgreSQL transaction and commits it if fn returns nil
// (projection.Target). The transaction is READ COMMITTED whatever the server's
// default, so that each statement sees what the Write before it committed; it
// starts by taking the projection's lock (see lockStatement), so that Writes of
// one name run one after the other in every process, and sets the lock timeout.
func (t *Target) Write(ctx context.Context, name string, fn func(w projection.Writer[*Tx]) error) error {
	tx, err := t.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return fmt.Errorf("begin transaction: %w", storageError(ctx, err))
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	if _, err := tx.Exec(ctx, lockStatement, t.lockTimeout, hash64(t.schema, name)); err != nil {
		return fmt.Errorf("take the lock of %s: %w", quote.Q(name), storageError(ctx, err))
	}
	if err := fn(&writer{t: t, tx: tx, name: name}); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", storageError(ctx, err))
	}
	return nil
}
