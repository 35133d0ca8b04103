package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/idemkit/idem/internal/quote"
)

// schemaVersion is the version of the newest schema this package knows; it is kept
// in the file's PRAGMA user_version.
const schemaVersion = 3

// migrations[i] takes the schema from version i to version i+1.
var migrations = []string{
	// 1: the global log.
	//
	// position is the global log's sequence: AUTOINCREMENT so that a position is
	// never reused. SQLite has one writer at a time and assigns positions inside the
	// write transaction, so positions grow in commit order: "read everything after
	// the last position seen" never skips an event that commits later (no gap for
	// subscriptions). UNIQUE(stream, revision) serves reads of a stream and the G2
	// retry check, which looks ids up by stream and revision: there is deliberately
	// no global index on ids (random ids make such an index costly on every insert).
	// The same index gives a stream's head (its last revision) in one lookup: a
	// separate table of heads would cost an update and a page write per append.
	//
	// IF NOT EXISTS: a table of this exact shape made by hand is taken as it is
	// (checkEventsTable has refused any other before the migration runs).
	`CREATE TABLE IF NOT EXISTS events (
		position    INTEGER PRIMARY KEY AUTOINCREMENT,
		stream      TEXT    NOT NULL,
		revision    INTEGER NOT NULL,
		id          BLOB    NOT NULL,
		type        TEXT    NOT NULL,
		data        BLOB,
		metadata    BLOB,
		recorded_at INTEGER NOT NULL,
		UNIQUE (stream, revision)
	);`,
	// 2: pre-release files of version 1 also kept a streams table of heads, now read
	// from the events index; it is dropped, and builds that still wrote it refuse
	// the file (ErrSchemaTooNew) instead of keeping it out of step. Only in a file
	// that was at version 1: in a file new to this package, a table of that name
	// is someone else's (see migrateSchema).
	`DROP TABLE IF EXISTS streams;`,
	// 3: FindEvent and snapshots (eventstore.EventFinder, eventstore.SnapshotStore).
	//
	// (stream, id) finds an event by id with one index seek, however long its
	// stream: the command handler asks "is this command recorded?" by the id of its
	// first event (G3) instead of loading the aggregate. It costs an index entry per
	// event (measured in docs/benchmarks.md). The stream prefix clusters a stream's
	// entries, so the appends of one aggregate touch few index pages.
	//
	// idem_snapshots holds the latest snapshot of each stream, opaque to the store:
	// a cache beside the events (the same shape as command/sqlitesnap's table).
	`CREATE INDEX IF NOT EXISTS events_stream_id ON events (stream, id);
	CREATE TABLE IF NOT EXISTS idem_snapshots (
		stream   TEXT PRIMARY KEY,
		revision INTEGER NOT NULL,
		data     BLOB NOT NULL,
		taken_at INTEGER NOT NULL
	) WITHOUT ROWID;`,
}

// migrate creates or upgrades the schema in one write transaction, so that two
// processes opening a new file at once do not both create it, then puts the file
// in WAL mode. Nothing is changed in a file that is not this package's (a schema
// version out of range, a foreign events table): not even its journal mode, which
// is why WAL is set last rather than when connecting.
func migrate(ctx context.Context, db *sql.DB, path string, busyTimeout time.Duration, logger *slog.Logger) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return storageError(ctx, "open "+quote.Q(path), err)
	}
	defer conn.Close()
	if err := migrateSchema(ctx, conn, path, logger); err != nil {
		return err
	}
	mode, err := setWAL(ctx, conn, busyTimeout)
	if err != nil {
		return storageError(ctx, "set WAL mode on "+quote.Q(path), err)
	}
	if mode != "wal" {
		return fmt.Errorf("open %s: journal mode is %q, not wal: the file system may not support WAL", quote.Q(path), mode)
	}
	return nil
}

// setWAL puts the file in WAL mode (a no-op once it is) and returns the journal
// mode it is in. Converting a file needs it to itself: another process opening
// the same new file may hold a lock, and SQLite then fails at once rather than
// wait (its busy handler would deadlock), so the wait is here, up to the busy
// timeout.
func setWAL(ctx context.Context, conn *sql.Conn, busyTimeout time.Duration) (string, error) {
	deadline := time.Now().Add(busyTimeout)
	delay := time.Millisecond
	for {
		var mode string
		err := conn.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return mode, err
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// migrateSchema checks the schema version and the events table, and creates or
// upgrades the schema.
func migrateSchema(ctx context.Context, conn *sql.Conn, path string, logger *slog.Logger) error {
	tx, err := conn.BeginTx(ctx, nil) // BEGIN IMMEDIATE (_txlock): takes the write lock now
	if err != nil {
		return storageError(ctx, "begin schema migration of "+quote.Q(path), err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit

	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return storageError(ctx, "read schema version of "+quote.Q(path), err)
	}
	if version < 0 || version > schemaVersion {
		return &SchemaVersionError{Path: path, Found: version, Supported: schemaVersion}
	}
	exists, err := checkEventsTable(ctx, tx, path)
	if err != nil {
		return storageError(ctx, "check the events table of "+quote.Q(path), err)
	}
	if version > 0 && !exists {
		return &ForeignSchemaError{Path: path, Problem: fmt.Sprintf("the file says schema version %d but has no events table", version)}
	}
	if version == schemaVersion {
		// SQLite opens a file it may not write read-only, without a word, and
		// every append would fail: a write, rolled back, finds out now.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", version)); err != nil {
			return storageError(ctx, "open "+quote.Q(path), err)
		}
		return nil
	}
	for v := version; v < schemaVersion; v++ {
		if v == 1 && version == 0 {
			continue // no streams table of ours to drop
		}
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			return storageError(ctx, fmt.Sprintf("migrate schema of %s to version %d", quote.Q(path), v+1), err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return storageError(ctx, "set schema version of "+quote.Q(path), err)
	}
	if err := tx.Commit(); err != nil {
		return storageError(ctx, "commit schema migration of "+quote.Q(path), err)
	}
	logger.InfoContext(ctx, "event store schema migrated", "path", path, "from", version, "to", schemaVersion)
	return nil
}
