package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/backend"
	"github.com/idemkit/idem/internal/quote"
	"github.com/idemkit/idem/internal/sqlitedsn"
)

// Store is an eventstore.Store in a SQLite file. It also implements
// eventstore.HeadReader. Create one with Open; every method is safe for concurrent
// use.
type Store struct {
	cfg  config
	path string

	// wdb holds the single writer connection (BEGIN IMMEDIATE on every transaction,
	// no busy handler after Open: see begin); only the leader of a batch and Open
	// use it.
	wdb *sql.DB
	// w is wdb's connection, held by the store: batches and snapshots run on it.
	w     *writer
	stmts writerStmts
	// rdb is the pool of read-only connections for reads and subscriptions, and
	// rstmts its prepared statements.
	rdb    *sql.DB
	rstmts readStmts

	// group queues appends and runs them in batches (runBatch).
	group *backend.GroupCommit
	// isClosed is set by Close.
	isClosed atomic.Bool
	// done is closed by Close: subscriptions end with ErrClosed.
	done chan struct{}

	commits backend.CommitSignal
	stats   backend.BatchStats
	metrics *backend.CommitMetrics
	// testCommitHook, set only by tests, runs before each commit; an error fails
	// the batch as a failed commit would.
	testCommitHook atomic.Pointer[func() error]
}

var (
	_ eventstore.Store      = (*Store)(nil)
	_ eventstore.HeadReader = (*Store)(nil)
)

// Open opens the event store in the SQLite file at path, creating the file and its
// schema if needed and migrating an older schema. Several Stores, in one process or
// several, may open the same file.
//
// Open fails, having changed nothing, with an error matching
// eventstore.ErrIncompatible for a file that is not a SQLite database, whose
// schema version is not one of this package (ErrSchemaTooNew too for a newer one),
// or whose events table has another shape; with one matching ErrReadOnly for a
// file it cannot write (a read-only file, directory or file system);
// fs.ErrNotExist when the file's directory does not exist; fs.ErrInvalid when path
// names a directory. See StorageError for the other classes of failure.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	cfg := defaultConfig()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, errors.New("sqlite: open " + quote.Q(path) + ": need the path of a database file")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	wdb, w, stmts, err := openWriter(ctx, path, cfg)
	if err != nil {
		return nil, err
	}
	rdb, rstmts, err := openReadPool(ctx, path, cfg)
	if err != nil {
		stmts.close()
		w.close()
		wdb.Close()
		return nil, err
	}
	return newStore(cfg, path, wdb, w, stmts, rdb, rstmts), nil
}

// newStore returns the Store over its opened connections.
func newStore(cfg config, path string, wdb *sql.DB, w *writer, stmts writerStmts, rdb *sql.DB, rstmts readStmts) *Store {
	s := &Store{cfg: cfg, path: path, wdb: wdb, w: w, stmts: stmts, rdb: rdb, rstmts: rstmts, done: make(chan struct{}),
		metrics: backend.NewCommitMetrics(cfg.telemetry.Meter, "github.com/idemkit/idem/eventstore/sqlite", "sqlite")}
	s.group = backend.NewGroupCommit(cfg.maxBatch, s.runBatch)
	return s
}

// openWriter opens the store's one writing connection, migrates the schema, takes
// the connection for the store's life and prepares the append statements on it.
func openWriter(ctx context.Context, path string, cfg config) (*sql.DB, *writer, writerStmts, error) {
	fail := func(err error) (*sql.DB, *writer, writerStmts, error) { return nil, nil, writerStmts{}, err }
	wdb, err := sql.Open("sqlite3", sqlitedsn.DSN(path, url.Values{
		"_txlock":       {"immediate"},
		"_busy_timeout": {busyMillis(cfg)},
		"_synchronous":  {cfg.sync.String()},
	}))
	if err != nil {
		return fail(storageError(ctx, "open "+quote.Q(path), err))
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	if err := migrate(ctx, wdb, path, cfg.busyTimeout, cfg.logger); err != nil {
		wdb.Close()
		return fail(explainOpen(path, err))
	}
	// The lock wait of appends happens in Go (begin), where a caller can give up.
	if _, err := wdb.ExecContext(ctx, "PRAGMA busy_timeout = 0"); err != nil {
		wdb.Close()
		return fail(storageError(ctx, "open "+quote.Q(path), err))
	}
	w, err := newWriter(ctx, wdb, "BEGIN IMMEDIATE")
	if err != nil {
		wdb.Close()
		return fail(storageError(ctx, "open "+quote.Q(path), err))
	}
	stmts, err := prepareWriterStmts(ctx, w.conn)
	if err != nil {
		w.close()
		wdb.Close()
		return fail(storageError(ctx, "prepare statements on "+quote.Q(path), err))
	}
	return wdb, w, stmts, nil
}

// openReadPool opens the pool of read-only connections and prepares the read
// statements.
func openReadPool(ctx context.Context, path string, cfg config) (*sql.DB, readStmts, error) {
	rdb, err := sql.Open("sqlite3", sqlitedsn.DSN(path, url.Values{
		"_busy_timeout": {busyMillis(cfg)},
		"_query_only":   {"1"},
	}))
	if err != nil {
		return nil, readStmts{}, storageError(ctx, "open "+quote.Q(path), err)
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	rdb.SetMaxOpenConns(readers)
	rdb.SetMaxIdleConns(readers)
	if err := rdb.PingContext(ctx); err != nil {
		rdb.Close()
		return nil, readStmts{}, explainOpen(path, storageError(ctx, "open "+quote.Q(path), err))
	}
	rstmts, err := prepareReadStmts(ctx, rdb)
	if err != nil {
		rdb.Close()
		return nil, readStmts{}, storageError(ctx, "prepare statements on "+quote.Q(path), err)
	}
	return rdb, rstmts, nil
}

// busyMillis is the busy timeout as the driver's DSN spells it.
func busyMillis(cfg config) string { return strconv.FormatInt(cfg.busyTimeout.Milliseconds(), 10) }

// DB returns the store's pool of read-only connections to its file, for code that
// wants to query the file beside the store (projections, snapshots, inspection).
// The connections refuse writes (PRAGMA query_only). The pool belongs to the
// store: do not close it; it is closed by Close. The tables and their meaning are
// described in schema.go and may change with the schema version.
func (s *Store) DB() *sql.DB { return s.rdb }

// Path returns the path of the store's database file.
func (s *Store) Path() string { return s.path }

// Close waits for the running batch and the appends queued behind it to finish,
// ends running subscriptions with eventstore.ErrClosed and closes the database.
// Later calls fail with eventstore.ErrClosed. Closing a closed Store does nothing
// and returns nil.
func (s *Store) Close() error {
	if !s.isClosed.CompareAndSwap(false, true) {
		return nil
	}
	close(s.done)
	s.group.Close() // no Append queues any more; the running batch ends
	s.stmts.close()
	s.rstmts.close()
	return errors.Join(
		storageError(nil, "close writer of "+quote.Q(s.path), s.w.close()),
		storageError(nil, "close writer of "+quote.Q(s.path), s.wdb.Close()),
		storageError(nil, "close readers of "+quote.Q(s.path), s.rdb.Close()),
	)
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
		return eventstore.Start(), s.readError(ctx, "read head of "+quote.Q(s.path), err)
	}
	return backend.SequencePosition(uint64(head)), nil
}

// head returns the last position of the log, 0 when it is empty. A last position
// that is not positive (only damage can leave one) is reported with a
// *CorruptEventError for its row: no read could go on from it.
func (s *Store) head(ctx context.Context) (int64, error) {
	var head any
	if err := s.queryRow(ctx, headQuery).Scan(&head); err != nil {
		return 0, err
	}
	if head == nil {
		return 0, nil
	}
	if h, ok := head.(int64); ok && h > 0 {
		return h, nil
	}
	buf := getPage()
	defer putPage(buf)
	_, err := s.queryEvents(ctx, buf, "", eventAtQuery, head)
	if err == nil {
		err = fmt.Errorf("the last position of the log is %s: %w", describe(head), eventstore.ErrCorrupt)
	}
	return 0, err
}

// readError maps an error of a read: ErrClosed once the store is closed (the pool
// reports "database is closed"), the context's error, or a typed storage error.
func (s *Store) readError(ctx context.Context, op string, err error) error {
	if s.isClosed.Load() {
		return eventstore.ErrClosed
	}
	return storageError(ctx, op, err)
}
