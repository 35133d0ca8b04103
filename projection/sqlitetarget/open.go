package sqlitetarget

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/idemkit/idem/internal/sqlitedsn"
	"github.com/idemkit/idem/projection"
)

// Target is a SQLite projection.Target. Every method is safe for concurrent use.
type Target struct {
	db    *sql.DB
	owned bool // Open opened db: Close closes it

	// writeMu serialises this target's write transactions: SQLite has one writer,
	// and waiting here is cheaper than waiting in SQLite's busy handler. Writers in
	// other processes wait in the busy handler.
	writeMu sync.Mutex

	tables sync.Map // genKey -> *tables
}

var _ projection.Target[*Tx] = (*Target)(nil)

// SyncMode is SQLite's synchronous setting for the target's commits.
type SyncMode uint8

const (
	// Normal (the default) syncs the WAL only at checkpoints. It is safe for read
	// models: a power loss can lose only the last committed batches, and loses each
	// one whole, read-model changes and checkpoint together (they share a
	// transaction), so the restarted runner applies those events again, exactly
	// once (G8). A reactor may repeat its last side effects, with the same
	// idempotency keys.
	Normal SyncMode = iota + 1
	// Full syncs the WAL on every commit: a committed batch survives a power loss
	// too, so the read model never moves back. Commits are slower.
	Full
)

// String returns the pragma value: "NORMAL" or "FULL".
func (m SyncMode) String() string {
	switch m {
	case Normal:
		return "NORMAL"
	case Full:
		return "FULL"
	default:
		return "unknown"
	}
}

// DefaultBusyTimeout is how long a write waits for SQLite's lock held by another
// connection (another process, an event store in the same file) by default.
const DefaultBusyTimeout = 10 * time.Second

// Option configures Open. An option given a value out of its range makes Open fail
// with an error matching projection.ErrInvalidOption.
type Option func(*config) error

type config struct {
	sync        SyncMode
	busyTimeout time.Duration
}

// WithSynchronous sets the synchronous mode of the target's commits: Normal (the
// default; see it for what it risks) or Full.
func WithSynchronous(m SyncMode) Option {
	return func(c *config) error {
		if m != Normal && m != Full {
			return fmt.Errorf("%w: WithSynchronous: unknown mode %d", projection.ErrInvalidOption, m)
		}
		c.sync = m
		return nil
	}
}

// WithBusyTimeout sets how long a write waits for SQLite's lock when another
// connection holds it, d > 0 (DefaultBusyTimeout). A write that could not get it in
// time fails with an error matching projection.ErrTargetUnavailable, and the
// runner retries it.
func WithBusyTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("%w: WithBusyTimeout: %v, want more than 0", projection.ErrInvalidOption, d)
		}
		c.busyTimeout = d
		return nil
	}
}

// Open opens (creating it if needed) the SQLite database at path, taken literally
// ('#', '?' and '%' name a file; nothing in it can change the settings), with the
// settings the runner expects: WAL journal (readers are not blocked by the runner's
// transactions and see committed snapshots), synchronous NORMAL (WithSynchronous),
// and a busy timeout (WithBusyTimeout) so that writers in other processes wait
// instead of failing. Close closes it.
func Open(ctx context.Context, path string, opts ...Option) (*Target, error) {
	c := config{sync: Normal, busyTimeout: DefaultBusyTimeout}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&c); err != nil {
			return nil, fmt.Errorf("open projection target %s: %w", path, err)
		}
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", c.sync.String())
	q.Set("_busy_timeout", strconv.FormatInt(max(c.busyTimeout.Milliseconds(), 1), 10))
	q.Set("_foreign_keys", "on")
	db, err := sql.Open("sqlite3", sqlitedsn.DSN(path, q))
	if err != nil {
		return nil, fmt.Errorf("open projection target %s: %w", path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open projection target %s: %w", path, storageError(ctx, err))
	}
	return &Target{db: db, owned: true}, nil
}

// New returns a target over db, a database the caller opened with the "sqlite3"
// driver (github.com/mattn/go-sqlite3) and keeps: Close leaves it open. Open it in
// WAL mode with a busy timeout, as Open does, if other connections write to it.
func New(db *sql.DB) (*Target, error) {
	if db == nil {
		return nil, fmt.Errorf("new projection target: %w: nil database", projection.ErrInvalidOption)
	}
	if _, ok := db.Driver().(*sqlite3.SQLiteDriver); !ok {
		return nil, fmt.Errorf("new projection target: %w: the database was not opened with the sqlite3 driver (%T)",
			projection.ErrInvalidOption, db.Driver())
	}
	return &Target{db: db}, nil
}

// DB returns the database, for readers: they read the views named after the
// logical tables.
func (t *Target) DB() *sql.DB { return t.db }

// Close closes the database if Open opened it; with New, it does nothing.
func (t *Target) Close() error {
	if !t.owned {
		return nil
	}
	return t.db.Close()
}

// storageError maps a driver error: a lock not obtained in time (or a connection
// lost) matches projection.ErrTargetUnavailable, a damaged file
// eventstore.ErrCorrupt; context errors pass through.
func storageError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var sqErr sqlite3.Error
	if errors.As(err, &sqErr) {
		switch sqErr.Code {
		case sqlite3.ErrInterrupt:
			if ctx.Err() != nil {
				return ctx.Err()
			}
		case sqlite3.ErrBusy, sqlite3.ErrLocked, sqlite3.ErrIoErr, sqlite3.ErrFull, sqlite3.ErrCantOpen:
			return fmt.Errorf("%w: %w", projection.ErrTargetUnavailable, err)
		case sqlite3.ErrCorrupt, sqlite3.ErrNotADB:
			return fmt.Errorf("%w: %w", errCorruptFile, err)
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
