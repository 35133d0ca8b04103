package demo

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/postgres"
	"github.com/idemkit/idem/examples/invoicing"
	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/pgtarget"
	"github.com/idemkit/idem/projection/sqlitetarget"
)

// runner is what the demo does with a projection.Runner, whatever its target.
type runner interface {
	Run(ctx context.Context) error
	CatchUp(ctx context.Context) error
	Stats() []projection.Stats
	AddReactor(r projection.Reactor) error
}

// readTarget is where a run keeps its read models: a SQLite file beside the event
// store's (the default), or, when the events are in PostgreSQL, a schema of the
// run's own beside them (readSchema), through projection/pgtarget on the event
// store's pool: the workers stand for replicas of a service on several machines,
// which share no file. db is how readers read the views, the same queries either
// way; runner builds a runner of the two read models, their code version raised
// by bump (1 builds new generations beside the active ones and switches to them).
type readTarget struct {
	db     *sql.DB
	runner func(bump int, opts ...projection.Option) (runner, error)
	close  func()
}

// openReadTarget opens the read models' target of a run whose events are in
// store; dbPath+".read" is the SQLite file.
func openReadTarget(ctx context.Context, store eventstore.Store, dbPath string) (*readTarget, error) {
	if pg, ok := store.(*postgres.Store); ok {
		return openPostgresReadTarget(ctx, pg, readSchema(dbPath))
	}
	db, err := openSQL(dbPath + ".read")
	if err != nil {
		return nil, err
	}
	target, err := sqlitetarget.New(db)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &readTarget{
		db: db,
		runner: func(bump int, opts ...projection.Option) (runner, error) {
			return newReadModelsRunner(store, target, bump, opts, invoicing.InvoicesPerCustomer(), invoicing.RevenueTotals())
		},
		close: func() { _ = db.Close() },
	}, nil
}

// readSchema is the PostgreSQL schema of a run's read models, beside its events'.
func readSchema(path string) string { return demoSchema(path) + "_read" }

// openPostgresReadTarget keeps the read models in schema, on the store's pool.
// Readers read through a pool of their own whose search_path is the schema, so
// that they name the views as on SQLite.
func openPostgresReadTarget(ctx context.Context, store *postgres.Store, schema string) (*readTarget, error) {
	target, err := pgtarget.New(store.Pool(), pgtarget.WithSchema(schema))
	if err != nil {
		return nil, err
	}
	cfg := store.Pool().Config().Copy()
	cfg.MaxConns = 2
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	readers, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("demo: open the read models' readers: %w", err)
	}
	db := stdlib.OpenDBFromPool(readers)
	return &readTarget{
		db: db,
		runner: func(bump int, opts ...projection.Option) (runner, error) {
			return newReadModelsRunner(store, target, bump, opts, invoicing.InvoicesPerCustomerPostgres(), invoicing.RevenueTotalsPostgres())
		},
		close: func() { _ = db.Close(); readers.Close() },
	}, nil
}

// newReadModelsRunner returns a runner over store and target with ps, their
// versions raised by bump.
func newReadModelsRunner[Tx any](store eventstore.Store, target projection.Target[Tx], bump int, opts []projection.Option,
	ps ...projection.Projection[Tx]) (runner, error) {
	r, err := projection.NewRunner(store, target, append([]projection.Option{projection.WithLogger(quietLogger())}, opts...)...)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		p.Version += bump
		if err := r.Add(p); err != nil {
			return nil, err
		}
	}
	return r, nil
}
