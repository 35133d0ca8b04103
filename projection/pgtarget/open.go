package pgtarget

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idemkit/idem/internal/pgconnect"
	"github.com/idemkit/idem/internal/pgident"
	"github.com/idemkit/idem/internal/quote"
	"github.com/idemkit/idem/projection"
)

// Target is a PostgreSQL projection.Target: read models and bookkeeping in one
// schema. Every method is safe for concurrent use, and several Targets, in one
// process or many, may share a schema.
type Target struct {
	pool   *pgxpool.Pool
	owned  bool // Open made the pool: Close closes it
	schema string
	// lockTimeout is the lock_timeout of every Write, as PostgreSQL reads it.
	lockTimeout string
	// generationsSQL is generationsQuery in the target's schema.
	generationsSQL string
	tables         sync.Map // genKey -> *tables
}

var _ projection.Target[*Tx] = (*Target)(nil)

// Defaults of the options.
const (
	// DefaultSchema is the schema of the read models and their bookkeeping
	// unless WithSchema says otherwise. It is not the event store's default
	// schema ("idem"): a logical table may be named events.
	DefaultSchema = "idem_read"
	// DefaultLockTimeout bounds every wait for a lock in a Write (WithLockTimeout).
	DefaultLockTimeout = 10 * time.Second
)

// Option configures Open and New. An option given a value it cannot use makes
// them fail, before any connection, with an error matching
// projection.ErrInvalidOption.
type Option func(*config) error

type config struct {
	schema      string
	lockTimeout time.Duration
}

// WithSchema keeps the read models and their bookkeeping in the PostgreSQL
// schema name, created by Init if missing; DefaultSchema by default. The name is
// a plain identifier: 1 to 63 ASCII letters, digits and underscores, not starting
// with a digit or "pg_". Readers read the views in it: qualify them
// (name.invoices) or put it on their search_path.
func WithSchema(name string) Option {
	return func(c *config) error {
		if err := pgident.Check(name); err != nil {
			return fmt.Errorf("%w: WithSchema(%s): %v", projection.ErrInvalidOption, quote.Q(name), err)
		}
		c.schema = name
		return nil
	}
}

// WithLockTimeout bounds every wait for a lock inside a Write, d > 0
// (DefaultLockTimeout): for another process's Write of the same projection, and
// for readers holding a view that a switch of generations must replace. A Write
// that waited longer fails with an error matching projection.ErrTargetUnavailable
// and is retried by the runner; meanwhile readers queued behind the switch go on.
// It is PostgreSQL's lock_timeout, set for the Write's transaction only
// (millisecond resolution).
func WithLockTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Millisecond {
			return fmt.Errorf("%w: WithLockTimeout(%v): want at least 1ms", projection.ErrInvalidOption, d)
		}
		c.lockTimeout = d
		return nil
	}
}

func configure(opts []Option) (config, error) {
	c := config{schema: DefaultSchema, lockTimeout: DefaultLockTimeout}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&c); err != nil {
			return config{}, err
		}
	}
	return c, nil
}

// Open connects to the database connString names (a URL or key=value string, as
// pgx reads it; pgxpool's pool_max_conns and friends apply) and returns a Target
// that owns its pool: Close closes it. It creates nothing: the runner calls Init.
// A server that cannot be reached fails it with an error matching
// projection.ErrTargetUnavailable; a bad option or connection string with one
// matching projection.ErrInvalidOption.
func Open(ctx context.Context, connString string, opts ...Option) (*Target, error) {
	c, err := configure(opts)
	if err != nil {
		return nil, fmt.Errorf("open projection target: %w", err)
	}
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		// pgconn's message redacts the password.
		return nil, fmt.Errorf("open projection target: %w: %v", projection.ErrInvalidOption, err)
	}
	pool, err := pgconnect.Pool(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open projection target: %w", storageError(ctx, err))
	}
	t := newTarget(pool, c)
	t.owned = true
	return t, nil
}

// New returns a Target over pool, which the caller keeps: Close leaves it open.
// The pool's connections must run statements with their arguments (pgx's default
// QueryExecModeCacheStatement, or QueryExecModeExec behind a pooler in
// transaction mode) and must not be in a read-only default transaction mode for
// the runner to write.
func New(pool *pgxpool.Pool, opts ...Option) (*Target, error) {
	if pool == nil {
		return nil, fmt.Errorf("new projection target: %w: nil pool", projection.ErrInvalidOption)
	}
	c, err := configure(opts)
	if err != nil {
		return nil, fmt.Errorf("new projection target: %w", err)
	}
	return newTarget(pool, c), nil
}

func newTarget(pool *pgxpool.Pool, c config) *Target {
	return &Target{
		pool:        pool,
		schema:      c.schema,
		lockTimeout: strconv.FormatInt(c.lockTimeout.Milliseconds(), 10) + "ms",
		generationsSQL: fmt.Sprintf(generationsQuery,
			qualified(c.schema, "idem_projection_generations"), qualified(c.schema, "idem_projection_parked_events")),
	}
}

// Pool returns the pool, for readers: they read the views named after the
// logical tables, in Schema.
func (t *Target) Pool() *pgxpool.Pool { return t.pool }

// Schema returns the schema of the read models and their bookkeeping.
func (t *Target) Schema() string { return t.schema }

// Close closes the pool if Open made it; with New, it does nothing.
func (t *Target) Close() error {
	if t.owned {
		t.pool.Close()
	}
	return nil
}
