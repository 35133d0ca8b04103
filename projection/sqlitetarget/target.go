package sqlitetarget

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/idemkit/idem/projection"
)

// Generations returns the generations of name (projection.Target).
func (t *Target) Generations(ctx context.Context, name string) ([]projection.Generation, error) {
	gens, err := readGenerations(ctx, t.db, name)
	if err != nil {
		return nil, fmt.Errorf("read generations: %w", err)
	}
	return gens, nil
}

// Guards returns the per-stream guards of streams in a generation of name
// (projection.Target).
func (t *Target) Guards(ctx context.Context, name string, generation int, streams []string) (map[string]uint64, error) {
	list, err := json.Marshal(streams)
	if err != nil {
		return nil, err
	}
	g, err := readGuards(ctx, t.db, name, generation, streams, string(list))
	if err != nil {
		return nil, fmt.Errorf("read stream guards: %w", err)
	}
	return g, nil
}

// Parked returns the parked events of name (projection.Target).
func (t *Target) Parked(ctx context.Context, name string) ([]projection.ParkedEvent, error) {
	out, err := readParked(ctx, t.db, name)
	if err != nil {
		return nil, fmt.Errorf("read parked events: %w", err)
	}
	return out, nil
}

// Write runs fn in one SQLite transaction, which it starts by taking the write lock
// (see lockStatement), and commits it if fn returns nil (projection.Target). Writes
// of this target are serialised by a mutex, and with other processes' by SQLite's
// lock.
func (t *Target) Write(ctx context.Context, name string, fn func(w projection.Writer[*Tx]) error) error {
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", storageError(ctx, err))
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	w := &writer{t: t, tx: tx, name: name, done: ctx.Done(), quiet: context.WithoutCancel(ctx)}
	if _, err := w.exec(ctx, lockStatement); err != nil {
		return fmt.Errorf("take the write lock: %w", err)
	}
	if err := fn(w); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", storageError(ctx, err))
	}
	return nil
}
