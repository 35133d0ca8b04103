package ops

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"

	"github.com/google/uuid"

	"github.com/idemkit/idem/internal/sqlitedsn"
	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/sqlitetarget"
)

// bookkeeping is what the store-only commands read and write of a read model:
// the generations and parked events the runner records, by name.
type bookkeeping interface {
	Names(ctx context.Context) ([]string, error)
	Generations(ctx context.Context, name string) ([]projection.Generation, error)
	Parked(ctx context.Context, name string) ([]projection.ParkedEvent, error)
	Unpark(ctx context.Context, name string, generation int, id uuid.UUID) error
}

// readModel is an open read-model database: its target, as the application's
// runner takes it (a projection.Target[Tx] of some Tx), and its bookkeeping.
type readModel struct {
	path   string
	target any
	book   bookkeeping
	close  func() error
}

// targetBookkeeping reads and writes a target's bookkeeping, whatever its Tx.
type targetBookkeeping[Tx any] struct{ t projection.Target[Tx] }

func (b targetBookkeeping[Tx]) Names(ctx context.Context) ([]string, error) {
	l, ok := any(b.t).(projection.NameLister)
	if !ok {
		return nil, fmt.Errorf("list projections: %w: the read model (%T) cannot list its names", errors.ErrUnsupported, b.t)
	}
	return l.Names(ctx)
}

func (b targetBookkeeping[Tx]) Generations(ctx context.Context, name string) ([]projection.Generation, error) {
	return b.t.Generations(ctx, name)
}

func (b targetBookkeeping[Tx]) Parked(ctx context.Context, name string) ([]projection.ParkedEvent, error) {
	return b.t.Parked(ctx, name)
}

func (b targetBookkeeping[Tx]) Unpark(ctx context.Context, name string, generation int, id uuid.UUID) error {
	return b.t.Write(ctx, name, func(w projection.Writer[Tx]) error { return w.Unpark(ctx, generation, id) })
}

// openReadModel opens the read model at path, a SQLite file or a postgres:// URL
// (see openPostgresReadModel), read-only unless writable. The file must exist and
// hold the projection bookkeeping; a writable open checks that the file can be
// written before anything is done.
func openReadModel(ctx context.Context, path string, writable bool) (*readModel, error) {
	if path == "" {
		return nil, usagef("no read model: give --read (the read-model database: a SQLite path or a postgres:// URL)")
	}
	if isPostgresURL(path) {
		return openPostgresReadModel(ctx, path, writable)
	}
	if err := mustExist("read model", path); err != nil {
		return nil, err
	}
	var t *sqlitetarget.Target
	var closeFn func() error
	var err error
	if writable {
		t, err = sqlitetarget.Open(ctx, path)
		closeFn = func() error { return t.Close() }
	} else {
		var db *sql.DB
		t, db, err = openReadOnlyTarget(path)
		closeFn = func() error { return db.Close() }
	}
	if err != nil {
		return nil, fmt.Errorf("open read model %s: %w", path, err)
	}
	if err := checkReadModel(ctx, t.DB(), path, writable); err != nil {
		_ = closeFn()
		return nil, err
	}
	return &readModel{path: path, target: projection.Target[*sqlitetarget.Tx](t),
		book: targetBookkeeping[*sqlitetarget.Tx]{t}, close: closeFn}, nil
}

// openReadOnlyTarget opens a SQLite read model that cannot be written through
// (mode=ro, query_only), and the database it owns.
func openReadOnlyTarget(path string) (*sqlitetarget.Target, *sql.DB, error) {
	db, err := sql.Open("sqlite3", sqlitedsn.DSN(path, url.Values{"mode": {"ro"}, "_query_only": {"1"}, "_busy_timeout": {"10000"}}))
	if err != nil {
		return nil, nil, err
	}
	t, err := sqlitetarget.New(db)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return t, db, nil
}

// checkReadModel fails unless db holds the projection bookkeeping, and, when
// writable, unless the file can be written: SQLite opens a file it may not write
// read-only without a word, and the first write would fail halfway through a
// command. The check writes the schema version it read, in a transaction it rolls
// back: nothing changes.
func checkReadModel(ctx context.Context, db *sql.DB, path string, writable bool) error {
	var n int
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'idem_projection_generations'`).Scan(&n)
	switch {
	case err != nil:
		return fmt.Errorf("read model %s: %w", path, err)
	case n == 0:
		return fmt.Errorf("read model %s: not a projection read model (no idem_projection_generations table)", path)
	case !writable:
		return nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("read model %s: %w", path, err)
	}
	defer tx.Rollback() //nolint:errcheck // nothing written
	var v int
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
		return fmt.Errorf("read model %s: %w", path, err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, v)); err != nil {
		return fmt.Errorf("read model %s cannot be written: %w", path, err)
	}
	return nil
}
