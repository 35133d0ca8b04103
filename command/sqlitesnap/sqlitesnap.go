// Package sqlitesnap is an eventstore.SnapshotStore in a SQLite database, over a
// *sql.DB the caller opens (with the "sqlite3" driver of github.com/mattn/go-sqlite3,
// which this package does not import). It keeps one row per stream, the latest
// snapshot; a save never replaces a snapshot of a later revision.
//
// The SQLite and PostgreSQL event stores keep snapshots beside their events
// already; this package is for snapshots of aggregates whose events live
// elsewhere (EventStoreDB), given to the command handler with
// command.WithSnapshots. Snapshots are a cache: deleting the table loses nothing
// but load time (G7).
package sqlitesnap

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/backend"
)

// DefaultTable is the table name used unless WithTable says otherwise.
const DefaultTable = "idem_snapshots"

// ErrInvalidStore: New was given a nil database or a bad table name.
var ErrInvalidStore = errors.New("invalid snapshot store")

// Option configures New.
type Option func(*Store) error

// WithTable stores snapshots in table (an SQL identifier of letters, digits and '_').
func WithTable(table string) Option {
	return func(s *Store) error {
		if !validIdent(table) {
			return fmt.Errorf("%w: table name %q", ErrInvalidStore, table)
		}
		s.table = table
		return nil
	}
}

// Store is an eventstore.SnapshotStore in SQLite. It is safe for concurrent use.
type Store struct {
	db    *sql.DB
	table string
	load  string
	save  string
}

var _ eventstore.SnapshotStore = (*Store)(nil)

// New creates the snapshot table in db if needed and returns a Store over it.
func New(ctx context.Context, db *sql.DB, opts ...Option) (*Store, error) {
	if db == nil {
		return nil, fmt.Errorf("open snapshot store: %w: nil *sql.DB", ErrInvalidStore)
	}
	s := &Store{db: db, table: DefaultTable}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(s); err != nil {
			return nil, err
		}
	}
	ddl := `CREATE TABLE IF NOT EXISTS ` + s.table + ` (
		stream   TEXT PRIMARY KEY,
		revision INTEGER NOT NULL,
		data     BLOB NOT NULL,
		taken_at INTEGER NOT NULL
	)`
	if _, err := db.ExecContext(ctx, ddl); err != nil {
		return nil, fmt.Errorf("open snapshot store: create table %s: %w", s.table, err)
	}
	s.load = `SELECT revision, data, taken_at FROM ` + s.table + ` WHERE stream = ?`
	s.save = `INSERT INTO ` + s.table + ` (stream, revision, data, taken_at) VALUES (?, ?, ?, ?)
		ON CONFLICT(stream) DO UPDATE SET revision = excluded.revision, data = excluded.data, taken_at = excluded.taken_at
		WHERE excluded.revision >= ` + s.table + `.revision OR typeof(` + s.table + `.revision) <> 'integer'` // a damaged row heals
	return s, nil
}

// LoadSnapshot implements eventstore.SnapshotStore. A row another tool or a damaged
// file left with the wrong storage classes is reported as eventstore.ErrCorrupt
// (the command handler then rebuilds from events), never a panic.
func (s *Store) LoadSnapshot(ctx context.Context, stream string) (eventstore.Snapshot, error) {
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return eventstore.Snapshot{}, backend.SnapshotError("load", stream, err)
	}
	var rev, data, taken any
	err := s.db.QueryRowContext(ctx, s.load, stream).Scan(&rev, &data, &taken)
	if errors.Is(err, sql.ErrNoRows) {
		return eventstore.Snapshot{}, backend.SnapshotError("load", stream, eventstore.ErrNoSnapshot)
	}
	if err != nil {
		return eventstore.Snapshot{}, backend.SnapshotError("load", stream, err)
	}
	corrupt := func(reason string) error {
		return backend.SnapshotError("load", stream, fmt.Errorf("%w: %s", eventstore.ErrCorrupt, reason))
	}
	r, ok := rev.(int64)
	if !ok || r < 0 {
		return eventstore.Snapshot{}, corrupt("revision is not a non-negative integer")
	}
	at, ok := taken.(int64)
	if !ok {
		return eventstore.Snapshot{}, corrupt("taken_at is not an integer")
	}
	body, ok := data.([]byte)
	if !ok {
		return eventstore.Snapshot{}, corrupt("data is not a blob")
	}
	return eventstore.Snapshot{Stream: stream, Revision: uint64(r), Data: body, TakenAt: time.Unix(0, at).UTC()}, nil
}

// SaveSnapshot implements eventstore.SnapshotStore.
func (s *Store) SaveSnapshot(ctx context.Context, snap eventstore.Snapshot) error {
	if err := eventstore.ValidateStreamName(snap.Stream); err != nil {
		return backend.SnapshotError("save", snap.Stream, err)
	}
	if snap.Revision > 1<<63-1 {
		return backend.SnapshotError("save", snap.Stream, fmt.Errorf("%w: revision out of range", eventstore.ErrInvalidEvent))
	}
	data := snap.Data
	if data == nil {
		data = []byte{}
	}
	if _, err := s.db.ExecContext(ctx, s.save, snap.Stream, int64(snap.Revision), data, snap.TakenAt.UnixNano()); err != nil {
		return backend.SnapshotError("save", snap.Stream, err)
	}
	return nil
}

func validIdent(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9')) {
			return false
		}
	}
	return true
}
