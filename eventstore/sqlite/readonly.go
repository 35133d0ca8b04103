package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/internal/quote"
	"github.com/idemkit/idem/internal/sqlitedsn"
)

// ErrSchemaTooOld: OpenReadOnly found a store written by an older version of this
// package, whose schema Open would migrate; a read-only store cannot. Errors that
// match it also match eventstore.ErrIncompatible.
var ErrSchemaTooOld = errors.New("event store schema needs migrating")

// OpenReadOnly opens the event store in the existing SQLite file at path for
// reading only, for tools that inspect a store and must never change it (a
// backup, a file another process is writing, a read-only file). Nothing it does
// can write the file: SQLite opens it read-only (mode=ro, query_only). It reads as
// Open's store does, and its Append and SaveSnapshot fail with an error matching
// ErrReadOnly. In WAL mode SQLite may leave the empty -wal and -shm files that
// readers use beside the file, as any reader does.
//
// It fails, having changed nothing, with fs.ErrNotExist when there is no file at
// path (it never creates one), fs.ErrInvalid for a directory, and with an error
// matching eventstore.ErrIncompatible for a file that is not a store of this
// schema version: not a database, a foreign events table, a newer schema
// (ErrSchemaTooNew) or an older one (ErrSchemaTooOld: open it once with Open to
// migrate it).
func OpenReadOnly(ctx context.Context, path string, opts ...Option) (*Store, error) {
	cfg := defaultConfig()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	if err := checkExisting(path); err != nil {
		return nil, err
	}
	params := url.Values{
		"mode":          {"ro"},
		"_query_only":   {"1"},
		"_busy_timeout": {strconv.FormatInt(cfg.busyTimeout.Milliseconds(), 10)},
	}
	wdb, err := sql.Open("sqlite3", sqlitedsn.DSN(path, params))
	if err != nil {
		return nil, storageError(ctx, "open "+quote.Q(path), err)
	}
	wdb.SetMaxOpenConns(1)
	if err := checkSchema(ctx, wdb, path); err != nil {
		wdb.Close()
		return nil, explainOpen(path, err)
	}
	// The writer's statements are prepared on the read-only connection, so that an
	// append fails as SQLite refuses it (ErrReadOnly) rather than on a missing
	// statement.
	w, err := newWriter(ctx, wdb, "BEGIN")
	if err != nil {
		wdb.Close()
		return nil, storageError(ctx, "open "+quote.Q(path), err)
	}
	stmts, err := prepareWriterStmts(ctx, w.conn)
	if err != nil {
		w.close()
		wdb.Close()
		return nil, storageError(ctx, "prepare statements on "+quote.Q(path), err)
	}
	return openReaders(ctx, cfg, path, wdb, w, stmts, params)
}

// checkExisting fails unless path names an existing file.
func checkExisting(path string) error {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return errors.New("sqlite: open " + quote.Q(path) + " read-only: need the path of a database file")
	}
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &StorageError{Op: "open " + quote.Q(path) + " read-only", Kind: fs.ErrNotExist, Err: errors.New("no such file")}
	case err != nil:
		return storageError(nil, "open "+quote.Q(path)+" read-only", err)
	case info.IsDir():
		return &StorageError{Op: "open " + quote.Q(path) + " read-only", Kind: fs.ErrInvalid,
			Err: errors.New("a directory, not a database file")}
	}
	return nil
}

// checkSchema checks, in a read transaction, that the file holds this package's
// schema at the current version.
func checkSchema(ctx context.Context, db *sql.DB, path string) error {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return storageError(ctx, "open "+quote.Q(path)+" read-only", err)
	}
	defer tx.Rollback() //nolint:errcheck // read only
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
	switch {
	case !exists:
		return &ForeignSchemaError{Path: path, Problem: "there is no events table: not an event store"}
	case version < schemaVersion:
		return fmt.Errorf("open %s read-only: %w: %w: schema version %d, this version reads %d; open it once read-write to migrate it",
			quote.Q(path), eventstore.ErrIncompatible, ErrSchemaTooOld, version, schemaVersion)
	}
	return nil
}

// openReaders opens the read pool beside wdb, with the same read-only params,
// and returns the store.
func openReaders(ctx context.Context, cfg config, path string, wdb *sql.DB, w *writer, stmts writerStmts, params url.Values) (*Store, error) {
	fail := func(err error) (*Store, error) {
		stmts.close()
		w.close()
		wdb.Close()
		return nil, err
	}
	rdb, err := sql.Open("sqlite3", sqlitedsn.DSN(path, params))
	if err != nil {
		return fail(storageError(ctx, "open "+quote.Q(path), err))
	}
	rdb.SetMaxOpenConns(4)
	rdb.SetMaxIdleConns(4)
	rstmts, err := prepareReadStmts(ctx, rdb)
	if err != nil {
		rdb.Close()
		return fail(storageError(ctx, "prepare statements on "+quote.Q(path), err))
	}
	return newStore(cfg, path, wdb, w, stmts, rdb, rstmts), nil
}
