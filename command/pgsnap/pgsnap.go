// Package pgsnap is an eventstore.SnapshotStore in a PostgreSQL table, over a
// pgxpool.Pool the caller owns: the twin of command/sqlitesnap. It keeps one row
// per stream, the latest snapshot; a save never replaces a snapshot of a later
// revision, so replicas saving at once keep the newest.
//
// The PostgreSQL event store (eventstore/postgres) keeps snapshots beside its
// events already, in the same table in its own schema, and the command handler
// uses them by default. This package is for aggregates whose events live
// elsewhere (EventStoreDB) and whose snapshots should live in PostgreSQL, given
// to the command handler with command.WithSnapshots. Its table has the store's
// shape, through the same code (internal/pgsnapshot): in the store's schema, with
// the default table name, it is the store's own table.
//
// Snapshots are a cache: dropping the table loses nothing but load time (G7). A
// row that cannot be decoded is reported as eventstore.ErrCorrupt naming the
// table and the stream; the handler then loads the aggregate from its events.
package pgsnap

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/backend"
	"github.com/idemkit/idem/eventstore/postgres"
	"github.com/idemkit/idem/internal/pgident"
	"github.com/idemkit/idem/internal/pgsnapshot"
	"github.com/idemkit/idem/internal/quote"
)

// Defaults of the options.
const (
	// DefaultSchema is the schema of the table unless WithSchema says otherwise:
	// the event store's default schema.
	DefaultSchema = postgres.DefaultSchema
	// DefaultTable is the table name unless WithTable says otherwise: the name of
	// the event store's own snapshot table.
	DefaultTable = "idem_snapshots"
)

// Option configures New. An option given a value it cannot use makes New fail,
// before any query, with an error matching eventstore.ErrInvalidOption.
type Option func(*config) error

type config struct{ schema, table string }

// WithSchema keeps the table in the PostgreSQL schema name, created if missing;
// DefaultSchema by default. The name is a plain identifier: 1 to 63 ASCII
// letters, digits and underscores, not starting with a digit or "pg_".
func WithSchema(name string) Option {
	return func(c *config) error {
		if err := pgident.Check(name); err != nil {
			return fmt.Errorf("%w: WithSchema(%s): %v", eventstore.ErrInvalidOption, quote.Q(name), err)
		}
		c.schema = name
		return nil
	}
}

// WithTable stores snapshots in table, a plain identifier as for WithSchema;
// DefaultTable by default.
func WithTable(name string) Option {
	return func(c *config) error {
		if err := pgident.Check(name); err != nil {
			return fmt.Errorf("%w: WithTable(%s): %v", eventstore.ErrInvalidOption, quote.Q(name), err)
		}
		c.table = name
		return nil
	}
}

// Store is an eventstore.SnapshotStore in a PostgreSQL table. It is safe for
// concurrent use, by several processes too.
type Store struct {
	pool  *pgxpool.Pool
	table *pgsnapshot.Table
}

var _ eventstore.SnapshotStore = (*Store)(nil)

// New creates the schema and the snapshot table if needed and returns a Store
// over pool. A table of the same name with other columns fails it with an error
// matching eventstore.ErrIncompatible (one of this package's earlier shape, a
// cache no handler reads any more, is replaced); a server that cannot be reached
// with one matching eventstore.ErrUnavailable.
func New(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	c := config{schema: DefaultSchema, table: DefaultTable}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&c); err != nil {
			return nil, fmt.Errorf("open snapshot store: %w", err)
		}
	}
	if pool == nil {
		return nil, fmt.Errorf("open snapshot store: %w: nil pool", eventstore.ErrInvalidOption)
	}
	s := &Store{pool: pool, table: pgsnapshot.New(c.schema, c.table)}
	if err := s.create(ctx, c.schema); err != nil {
		return nil, fmt.Errorf("open snapshot store %s: %w", s.table.Name(), err)
	}
	return s, nil
}

// create makes the schema and the table in one transaction, under the table's
// lock, so that replicas starting at once do not race on CREATE.
func (s *Store) create(ctx context.Context, schema string) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return postgres.MapError(ctx, "begin", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	if err := s.table.Lock(ctx, tx); err != nil {
		return postgres.MapError(ctx, "lock", err)
	}
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&exists); err != nil {
		return postgres.MapError(ctx, "look up schema", err)
	}
	if !exists {
		if _, err := tx.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
			return postgres.MapError(ctx, "create schema", err)
		}
	}
	if _, err := s.table.Ensure(ctx, tx); err != nil {
		return postgres.MapError(ctx, "create table", err)
	}
	return postgres.MapError(ctx, "commit", tx.Commit(ctx))
}

// LoadSnapshot implements eventstore.SnapshotStore. A row that cannot be decoded
// (a NULL or negative revision, a NULL state, an infinite time: what a loosened
// table lets in) fails with an error matching eventstore.ErrCorrupt.
func (s *Store) LoadSnapshot(ctx context.Context, stream string) (eventstore.Snapshot, error) {
	fail := func(err error) (eventstore.Snapshot, error) {
		return eventstore.Snapshot{}, backend.SnapshotError("load", stream, err)
	}
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return fail(err)
	}
	snap, found, err := s.table.Load(ctx, s.pool, stream)
	switch {
	case err != nil:
		return fail(postgres.MapError(ctx, "load snapshot", err))
	case !found:
		return fail(eventstore.ErrNoSnapshot)
	}
	return snap, nil
}

// SaveSnapshot implements eventstore.SnapshotStore.
func (s *Store) SaveSnapshot(ctx context.Context, snap eventstore.Snapshot) error {
	if err := pgsnapshot.Validate(snap); err != nil {
		return backend.SnapshotError("save", snap.Stream, err)
	}
	if err := s.table.Save(ctx, s.pool, snap); err != nil {
		return backend.SnapshotError("save", snap.Stream, postgres.MapError(ctx, "save snapshot", err))
	}
	return nil
}
