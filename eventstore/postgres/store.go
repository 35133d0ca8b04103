package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/backend"
	"github.com/idemkit/idem/internal/pgsnapshot"
)

// Store is an eventstore.Store in a PostgreSQL schema. It also implements
// eventstore.HeadReader, eventstore.EventFinder and eventstore.SnapshotStore.
// Create one with Open or New; every method is safe for concurrent use, and
// several Stores (in one process or many) may share a schema.
type Store struct {
	cfg      config
	pool     *pgxpool.Pool
	ownsPool bool
	sql      statements
	snaps    *pgsnapshot.Table

	// group queues appends and runs them in batches (runBatch).
	group *backend.GroupCommit
	// isClosed is set by Close.
	isClosed atomic.Bool
	// done is closed by Close: subscriptions end with ErrClosed, the listener stops.
	done chan struct{}

	commits  backend.CommitSignal
	listener listener
	stats    backend.BatchStats
	metrics  *backend.CommitMetrics
	hooks    testHooks
}

var (
	_ eventstore.Store      = (*Store)(nil)
	_ eventstore.HeadReader = (*Store)(nil)
)

// Open connects to the database connString names (a URL or key=value string, as
// pgx and libpq read it; pgxpool's pool_max_conns and friends apply), creates the
// store's schema and tables if needed or migrates them, and returns a Store that
// owns its pool: Close closes it.
//
// A schema holding an events table that idem did not make fails with an error
// matching eventstore.ErrIncompatible; a schema written by a newer version with
// one matching ErrSchemaTooNew; a server that cannot be reached with one matching
// eventstore.ErrUnavailable; a bad option or connection string with one matching
// eventstore.ErrInvalidOption.
func Open(ctx context.Context, connString string, opts ...Option) (*Store, error) {
	cfg, err := configure(opts)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	poolCfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		// pgconn's message redacts the password.
		return nil, fmt.Errorf("postgres: open: %w: %v", eventstore.ErrInvalidOption, err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", storageError(ctx, "connect", err))
	}
	s, err := newStore(ctx, pool, cfg)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.ownsPool = true
	return s, nil
}

// New returns a Store over a pool the caller owns (Close leaves it open), after
// creating or migrating the schema as Open does. The pool's connections must be
// able to run one statement per call with prepared statements (pgx's default
// QueryExecModeCacheStatement, or QueryExecModeExec behind a pooler in
// transaction mode).
func New(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	if pool == nil {
		return nil, fmt.Errorf("postgres: new store: %w: nil pool", eventstore.ErrInvalidOption)
	}
	cfg, err := configure(opts)
	if err != nil {
		return nil, fmt.Errorf("postgres: new store: %w", err)
	}
	return newStore(ctx, pool, cfg)
}

func configure(opts []Option) (config, error) {
	cfg := defaultConfig()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&cfg); err != nil {
			return config{}, err
		}
	}
	return cfg, nil
}

func newStore(ctx context.Context, pool *pgxpool.Pool, cfg config) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := migrate(ctx, pool, cfg.schema, cfg.logger); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{
		cfg:     cfg,
		pool:    pool,
		sql:     newStatements(cfg.schema, appendFunctionName),
		snaps:   pgsnapshot.New(cfg.schema, snapshotTable),
		done:    make(chan struct{}),
		metrics: backend.NewCommitMetrics(cfg.meter, "github.com/idemkit/idem/eventstore/postgres", "postgres"),
	}
	s.group = backend.NewGroupCommit(cfg.maxBatch, s.runBatch)
	s.listener.init(s)
	return s, nil
}

// Pool returns the store's connection pool, for code that keeps other tables in
// the same database (read models: see projection/pgtarget). A pool made by Open
// belongs to the store and is closed by Close.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Schema returns the PostgreSQL schema holding the store's tables.
func (s *Store) Schema() string { return s.cfg.schema }

// Close waits for the running batch and the appends queued behind it to finish,
// ends running subscriptions with eventstore.ErrClosed, stops the LISTEN
// connection and, for a store made by Open, closes the pool. Later calls fail with
// eventstore.ErrClosed. Closing a closed Store does nothing and returns nil.
func (s *Store) Close() error {
	if !s.isClosed.CompareAndSwap(false, true) {
		return nil
	}
	close(s.done)
	s.group.Close() // no Append queues any more; the running batch ends
	s.listener.stop()
	if s.ownsPool {
		s.pool.Close()
	}
	return nil
}

// Head returns the position of the last event in the global log, or
// eventstore.Start() when the log is empty.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.Start(), err
	}
	if s.isClosed.Load() {
		return eventstore.Start(), eventstore.ErrClosed
	}
	head, err := s.head(ctx)
	if err != nil {
		return eventstore.Start(), fmt.Errorf("read head of schema %s: %w", s.cfg.schema, err)
	}
	return backend.SequencePosition(uint64(head)), nil
}

// head returns the last position of the log, 0 when it is empty.
func (s *Store) head(ctx context.Context) (int64, error) {
	var head int64
	err := s.withConn(ctx, "read head", func(c *pgxpool.Conn) error {
		return c.QueryRow(ctx, s.sql.head).Scan(&head)
	})
	return head, err
}

// withConn runs f on a connection of the pool, waiting at most the store's
// timeout for one, and maps f's error.
func (s *Store) withConn(ctx context.Context, op string, f func(c *pgxpool.Conn) error) error {
	conn, err := s.acquire(ctx, op)
	if err != nil {
		return err
	}
	defer conn.Release()
	if err := f(conn); err != nil {
		return s.mapError(ctx, op, err)
	}
	return nil
}

// acquire takes a connection from the pool, waiting at most the store's timeout
// (ErrPoolExhausted) or until ctx ends (its error).
func (s *Store) acquire(ctx context.Context, op string) (*pgxpool.Conn, error) {
	if s.isClosed.Load() {
		return nil, eventstore.ErrClosed
	}
	actx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	conn, err := s.pool.Acquire(actx)
	if err == nil {
		return conn, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if actx.Err() != nil {
		return nil, &Error{Op: op, Kind: eventstore.ErrUnavailable, Err: poolExhausted(s.pool, s.cfg.timeout)}
	}
	return nil, s.mapError(ctx, op, err)
}

// poolExhausted is the error of a wait for a connection that ran out of time.
func poolExhausted(pool *pgxpool.Pool, timeout time.Duration) error {
	st := pool.Stat()
	return fmt.Errorf("%w within %v (%d of %d connections in use)", ErrPoolExhausted, timeout, st.AcquiredConns(), st.MaxConns())
}

// mapError maps an error of a read: ErrClosed once the store is closed (the pool
// reports it closed), the context's error, or a typed storage error.
func (s *Store) mapError(ctx context.Context, op string, err error) error {
	if s.isClosed.Load() {
		return eventstore.ErrClosed
	}
	return storageError(ctx, op, err)
}

// statements are the store's SQL texts, naming its schema.
type statements struct {
	append         string
	streamForward  string
	streamBackward string
	streamExists   string
	head           string
	readAll        string
	readAllFilter  string
	findEvent      string
}

// eventColumns are the columns scanEvent expects, in order; streamColumns the same
// without the stream, for reads of one stream.
const (
	eventColumns  = "position, stream, revision, id, type, data, metadata, recorded_at"
	streamColumns = "position, revision, id, type, data, metadata, recorded_at"
)

func newStatements(schema, appendFn string) statements {
	events := pgx.Identifier{schema, "events"}.Sanitize()
	return statements{
		append: "SELECT o_outcome, o_revision, o_position FROM " + pgx.Identifier{schema, appendFn}.Sanitize() +
			"($1, $2, $3, $4, $5, $6, $7, $8)",
		streamForward:  "SELECT " + streamColumns + " FROM " + events + " WHERE stream = $1 AND revision >= $2 ORDER BY revision LIMIT $3",
		streamBackward: "SELECT " + streamColumns + " FROM " + events + " WHERE stream = $1 AND revision <= $2 ORDER BY revision DESC LIMIT $3",
		streamExists: "SELECT EXISTS (SELECT 1 FROM " + events + " WHERE stream = $1)," +
			" (SELECT position FROM " + events + " WHERE stream = $1 AND (revision IS NULL OR revision < 0) LIMIT 1)",
		head: "SELECT COALESCE(MAX(position), 0) FROM " + events,
		// The (stream, id) index finds the rows; an id a stream holds twice (an
		// append with Any that repeated an old id) answers its first event.
		findEvent: "SELECT " + streamColumns + " FROM " + events + " WHERE stream = $1 AND id = $2 ORDER BY revision LIMIT 1",
		readAll:   "SELECT " + eventColumns + " FROM " + events + " WHERE position > $1 AND position <= $2 ORDER BY position LIMIT $3",
		readAllFilter: "SELECT " + eventColumns + " FROM " + events + " WHERE position > $1 AND position <= $2" +
			" AND ($4::text[] IS NULL OR EXISTS (SELECT 1 FROM unnest($4::text[]) AS p(prefix) WHERE starts_with(stream, p.prefix)))" +
			" AND ($5::text[] IS NULL OR type = ANY ($5::text[]))" +
			" ORDER BY position LIMIT $3",
	}
}

// testHooks are set only by tests (export_test.go).
type testHooks struct {
	// commitDelay, when set, returns how long a batch sleeps in the database after
	// its appends and before its commit, holding what it holds.
	commitDelay atomic.Pointer[func() time.Duration]
}

// errLeaderGone reports that the leader's own caller gave up while its batch
// waited for a connection.
var errLeaderGone = errors.New("leader's context ended")
