// Package sqlitesnap is a command.SnapshotStore in a SQLite database, over a
// *sql.DB the caller opens (with the "sqlite3" driver of github.com/mattn/go-sqlite3,
// which this package does not import). It keeps one row per stream, the latest
// snapshot; a save never replaces a snapshot of a later revision.
//
// The snapshots can live in the event store's file or in a file of their own. They
// are a cache: deleting the table loses nothing but load time, and a snapshot whose
// state version differs from the code's is ignored by the command handler (G7).
package sqlitesnap

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
)

// DefaultTable is the table name used unless WithTable says otherwise.
const DefaultTable = "idem_snapshots"

// Option configures New.
type Option func(*Store)

// WithTable stores snapshots in table (an SQL identifier of letters, digits and '_').
func WithTable(table string) Option { return func(s *Store) { s.table = table } }

// Store is an command.SnapshotStore in SQLite. It is safe for concurrent use.
type Store struct {
	db    *sql.DB
	table string
	load  string
	save  string
}

// New creates the snapshot table in db if needed and returns a Store over it.
func New(ctx context.Context, db *sql.DB, opts ...Option) (*Store, error) {
	s := &Store{db: db, table: DefaultTable}
	for _, o := range opts {
		if o != nil {
			o(s)
		}
	}
	if db == nil {
		return nil, fmt.Errorf("open snapshot store: %w: nil *sql.DB", command.ErrInvalidSnapshot)
	}
	if !validIdent(s.table) {
		return nil, fmt.Errorf("open snapshot store: %w: table name %q", command.ErrInvalidSnapshot, s.table)
	}
	ddl := `CREATE TABLE IF NOT EXISTS ` + s.table + ` (
		stream         TEXT PRIMARY KEY,
		revision       INTEGER NOT NULL,
		schema_version INTEGER NOT NULL,
		state          BLOB NOT NULL,
		processed      BLOB NOT NULL,
		taken_at       INTEGER NOT NULL
	)`
	if _, err := db.ExecContext(ctx, ddl); err != nil {
		return nil, fmt.Errorf("open snapshot store: create table %s: %w", s.table, err)
	}
	s.load = `SELECT revision, schema_version, state, processed, taken_at FROM ` + s.table + ` WHERE stream = ?`
	s.save = `INSERT INTO ` + s.table + ` (stream, revision, schema_version, state, processed, taken_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT(stream) DO UPDATE SET revision = excluded.revision, schema_version = excluded.schema_version,
			state = excluded.state, processed = excluded.processed, taken_at = excluded.taken_at
		WHERE excluded.revision >= ` + s.table + `.revision`
	return s, nil
}

// LoadSnapshot implements command.SnapshotStore.
func (s *Store) LoadSnapshot(ctx context.Context, stream string) (command.Snapshot, error) {
	// The columns are scanned as the driver gives them and checked here: a row a
	// tool or a damaged file left with another storage class is reported as an
	// invalid snapshot (the handler then rebuilds from events), never a panic or a
	// conversion error without a type.
	var rev, version, state, processed, taken any
	err := s.db.QueryRowContext(ctx, s.load, stream).Scan(&rev, &version, &state, &processed, &taken)
	if errors.Is(err, sql.ErrNoRows) {
		return command.Snapshot{}, fmt.Errorf("load snapshot of %s: %w", stream, command.ErrNoSnapshot)
	}
	if err != nil {
		return command.Snapshot{}, fmt.Errorf("load snapshot of %s: %w", stream, err)
	}
	invalid := func(reason string) error {
		return fmt.Errorf("load snapshot of %s: %w: %w: %s", stream, command.ErrInvalidSnapshot, eventstore.ErrCorrupt, reason)
	}
	r, ok := rev.(int64)
	if !ok || r < 0 {
		return command.Snapshot{}, invalid("revision is not a non-negative integer")
	}
	v, ok := version.(int64)
	if !ok || v != int64(int(v)) {
		return command.Snapshot{}, invalid("state version is not an integer")
	}
	at, ok := taken.(int64)
	if !ok {
		return command.Snapshot{}, invalid("taken_at is not an integer")
	}
	body, ok := state.([]byte)
	if !ok {
		return command.Snapshot{}, invalid("state is not a blob")
	}
	list, ok := processed.([]byte)
	if !ok {
		return command.Snapshot{}, invalid("processed commands are not a blob")
	}
	snap := command.Snapshot{Stream: stream, Revision: uint64(r), StateVersion: int(v), State: body,
		TakenAt: time.Unix(0, at).UTC()}
	if err := json.Unmarshal(list, &snap.Processed); err != nil {
		return command.Snapshot{}, invalid("processed commands: " + err.Error())
	}
	return snap, nil
}

// SaveSnapshot implements command.SnapshotStore.
func (s *Store) SaveSnapshot(ctx context.Context, snap command.Snapshot) error {
	if err := eventstore.ValidateStreamName(snap.Stream); err != nil {
		return fmt.Errorf("save snapshot: %w: %w", command.ErrInvalidSnapshot, err)
	}
	if snap.Revision > 1<<63-1 {
		return fmt.Errorf("save snapshot of %s: %w: revision out of range", snap.Stream, command.ErrInvalidSnapshot)
	}
	processed, err := json.Marshal(snap.Processed)
	if err != nil {
		return fmt.Errorf("save snapshot of %s: %w", snap.Stream, err)
	}
	state := snap.State
	if state == nil {
		state = []byte{}
	}
	if _, err := s.db.ExecContext(ctx, s.save, snap.Stream, int64(snap.Revision), snap.StateVersion, state, processed,
		snap.TakenAt.UnixNano()); err != nil {
		return fmt.Errorf("save snapshot of %s at revision %d: %w", snap.Stream, snap.Revision, err)
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
