package ops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/postgres"
	"github.com/idemkit/idem/internal/pgconnect"
	"github.com/idemkit/idem/internal/pgident"
	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/pgtarget"
)

// ErrNotFound matches the failure of a --store or --read that names a database
// holding no idem event store or read model there (a PostgreSQL schema without
// its tables).
var ErrNotFound = errors.New("no idem store or read model there")

// ErrReadOnly matches the failure of a command that must write where it may not
// (a read model whose tables this role cannot write, a server in recovery), or
// of a listing that would have to migrate a store's schema first.
var ErrReadOnly = errors.New("cannot be written")

// isPostgresURL reports whether s is a postgres:// or postgresql:// URL.
func isPostgresURL(s string) bool {
	scheme, _, ok := strings.Cut(s, "://")
	return ok && (strings.EqualFold(scheme, "postgres") || strings.EqualFold(scheme, "postgresql"))
}

// pgLocation is a PostgreSQL URL of --store or --read: the connection string
// pgx reads, the schema (the URL's schema parameter, which is not sent to the
// server), and the URL to show, its password redacted.
type pgLocation struct {
	conn, schema, shown string
}

// parsePostgres splits raw into its location; schema is the default schema.
func parsePostgres(flag, raw, schema string) (pgLocation, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return pgLocation{}, usagef("%s: not a URL: %v", flag, redactedError(err))
	}
	q := u.Query()
	if s := q.Get("schema"); s != "" {
		schema = s
	}
	if err := pgident.Check(schema); err != nil {
		return pgLocation{}, usagef("%s %s: schema %q: %v", flag, u.Redacted(), schema, err)
	}
	q.Del("schema")
	u.RawQuery = q.Encode()
	return pgLocation{conn: u.String(), schema: schema, shown: u.Redacted()}, nil
}

// redactedError keeps a URL parse error's message but not the URL, which may
// hold a password.
func redactedError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// pgPool connects to loc's server. A read-only pool's sessions start with
// default_transaction_read_only on: nothing the command runs can write, even by
// mistake. A server that cannot be reached fails it with unavailable; one that
// refuses the connection (a password, a database, a setting) says why.
func pgPool(ctx context.Context, loc pgLocation, what string, writable bool, unavailable error) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(loc.conn)
	if err != nil {
		return nil, usagef("%s %s: %v", what, loc.shown, err) // pgconn's message redacts the password
	}
	if !writable {
		cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	}
	cfg.MaxConns = 4
	pool, err := pgconnect.Pool(ctx, cfg)
	if err != nil {
		if refused(err) {
			return nil, fmt.Errorf("%s %s: %w", what, loc.shown, err)
		}
		return nil, fmt.Errorf("%s %s: %w: %w", what, loc.shown, unavailable, err)
	}
	return pool, nil
}

// refused reports whether the server answered a connection with a refusal that
// trying again will not change (a bad password, an unknown database or
// setting), rather than being out of reach, starting or full.
func refused(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code[:min(len(pgErr.Code), 2)] {
	case "08", "53", "57": // connection exception, insufficient resources, operator intervention
		return false
	}
	return true
}

// hasTable fails with ErrNotFound unless schema.table exists.
func hasTable(ctx context.Context, pool *pgxpool.Pool, loc pgLocation, what, table string) error {
	var exists bool
	err := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, pgx.Identifier{loc.schema, table}.Sanitize()).Scan(&exists)
	switch {
	case err != nil:
		return fmt.Errorf("%s %s: %w", what, loc.shown, err)
	case !exists:
		return fmt.Errorf("%s %s: %w: schema %q has no %s table (give the schema with ?schema=NAME)",
			what, loc.shown, ErrNotFound, loc.schema, table)
	}
	return nil
}

// openPostgresStore opens the PostgreSQL event store raw names, read-only unless
// writable. The schema must hold a store: the tool never creates one.
func openPostgresStore(ctx context.Context, raw string, writable bool, log *slog.Logger) (eventstore.Store, error) {
	loc, err := parsePostgres("--store", raw, postgres.DefaultSchema)
	if err != nil {
		return nil, err
	}
	pool, err := pgPool(ctx, loc, "event store", writable, eventstore.ErrUnavailable)
	if err != nil {
		return nil, err
	}
	if err := hasTable(ctx, pool, loc, "event store", "idem_schema_version"); err != nil {
		pool.Close()
		return nil, err
	}
	s, err := postgres.New(ctx, pool, postgres.WithSchema(loc.schema), postgres.WithLogger(log), postgres.WithoutNotifications())
	if err != nil {
		pool.Close()
		if readOnlyTransaction(err) {
			return nil, fmt.Errorf("event store %s: %w: schema %q must be migrated to this version first, which a listing does not do: %w",
				loc.shown, ErrReadOnly, loc.schema, err)
		}
		return nil, fmt.Errorf("open event store %s: %w", loc.shown, err)
	}
	return pooledStore{s, pool}, nil
}

// readOnlyTransaction reports whether err is PostgreSQL's refusal to write in a
// read-only transaction.
func readOnlyTransaction(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "25006" // read_only_sql_transaction
}

// pooledStore is a store over a pool of the tool's: Close closes both.
type pooledStore struct {
	*postgres.Store
	pool *pgxpool.Pool
}

func (s pooledStore) Close() error {
	err := s.Store.Close()
	s.pool.Close()
	return err
}

// openPostgresReadModel opens the pgtarget read model raw names, read-only
// unless writable. The schema must hold the projection bookkeeping; a writable
// open checks that this role may write it before anything is done.
func openPostgresReadModel(ctx context.Context, raw string, writable bool) (*readModel, error) {
	loc, err := parsePostgres("--read", raw, pgtarget.DefaultSchema)
	if err != nil {
		return nil, err
	}
	pool, err := pgPool(ctx, loc, "read model", writable, projection.ErrTargetUnavailable)
	if err != nil {
		return nil, err
	}
	if err := checkPostgresReadModel(ctx, pool, loc, writable); err != nil {
		pool.Close()
		return nil, err
	}
	t, err := pgtarget.New(pool, pgtarget.WithSchema(loc.schema))
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("open read model %s: %w", loc.shown, err)
	}
	return &readModel{path: loc.shown, target: projection.Target[*pgtarget.Tx](t),
		book: targetBookkeeping[*pgtarget.Tx]{t}, close: func() error { pool.Close(); return nil }}, nil
}

// checkPostgresReadModel fails unless the schema holds the projection
// bookkeeping, and, when writable, unless this role may write it and create
// tables there (a rebuild creates a generation's tables) on a server that
// accepts writes.
func checkPostgresReadModel(ctx context.Context, pool *pgxpool.Pool, loc pgLocation, writable bool) error {
	if err := hasTable(ctx, pool, loc, "read model", "idem_projection_generations"); err != nil {
		return err
	}
	if !writable {
		return nil
	}
	var ok bool
	err := pool.QueryRow(ctx, `SELECT has_table_privilege($1, 'INSERT, UPDATE, DELETE') AND has_schema_privilege($2, 'CREATE')
		AND NOT pg_is_in_recovery()`, pgx.Identifier{loc.schema, "idem_projection_generations"}.Sanitize(), loc.schema).Scan(&ok)
	switch {
	case err != nil:
		return fmt.Errorf("read model %s: %w", loc.shown, err)
	case !ok:
		return fmt.Errorf("read model %s: %w: this role may not write schema %q (or the server is a standby)",
			loc.shown, ErrReadOnly, loc.schema)
	}
	return nil
}
