// Package pgsnap is a command.SnapshotStore in PostgreSQL, over a pgxpool.Pool the
// caller owns (an eventstore/postgres Store's Pool, or one of its own). It keeps
// one row per stream, the latest snapshot; a save never replaces a snapshot of a
// later revision, so replicas saving at once keep the newest.
//
// The snapshots can live in the event store's schema or in another. They are a
// cache: dropping the table loses nothing but load time, and a snapshot whose
// state version differs from the code's is ignored by the command handler (G7). A
// row that cannot be decoded is reported as command.ErrInvalidSnapshot (and
// eventstore.ErrCorrupt): the handler then rebuilds the state from events.
package pgsnap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/postgres"
	"github.com/idemkit/idem/internal/quote"
)

// Defaults of the options.
const (
	// DefaultSchema is the schema of the table unless WithSchema says otherwise:
	// the event store's default schema.
	DefaultSchema = postgres.DefaultSchema
	// DefaultTable is the table name unless WithTable says otherwise.
	DefaultTable = "idem_snapshots"
)

// Option configures New. An option given a value it cannot use makes New fail
// with an error matching command.ErrInvalidSnapshot.
type Option func(*Store) error

// WithSchema keeps the table in the PostgreSQL schema name (created if missing);
// DefaultSchema by default. The name is a plain identifier: ASCII letters, digits
// and underscores, at most 63 bytes, not starting with a digit or "pg_".
func WithSchema(name string) Option {
	return func(s *Store) error {
		if !validIdent(name) {
			return fmt.Errorf("WithSchema(%s): not a plain identifier", quote.Q(name))
		}
		s.schema = name
		return nil
	}
}

// WithTable stores snapshots in table, a plain identifier as for WithSchema;
// DefaultTable by default.
func WithTable(name string) Option {
	return func(s *Store) error {
		if !validIdent(name) {
			return fmt.Errorf("WithTable(%s): not a plain identifier", quote.Q(name))
		}
		s.table = name
		return nil
	}
}

// Store is a command.SnapshotStore in a PostgreSQL table. It is safe for
// concurrent use, by several processes too.
type Store struct {
	pool   *pgxpool.Pool
	schema string
	table  string
	load   string
	save   string
}

var _ command.SnapshotStore = (*Store)(nil)

// columns is the shape of the table, as information_schema reports it.
var columns = "stream text, revision bigint, state_version integer, state bytea, processed bytea, taken_at timestamp with time zone"

// New creates the schema and the snapshot table if needed and returns a Store over
// pool. A table of the same name with other columns fails it with an error
// matching eventstore.ErrIncompatible; a server that cannot be reached with one
// matching eventstore.ErrUnavailable.
func New(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	s := &Store{pool: pool, schema: DefaultSchema, table: DefaultTable}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(s); err != nil {
			return nil, fmt.Errorf("open snapshot store: %w: %w", command.ErrInvalidSnapshot, err)
		}
	}
	if pool == nil {
		return nil, fmt.Errorf("open snapshot store: %w: nil pool", command.ErrInvalidSnapshot)
	}
	name := pgx.Identifier{s.schema, s.table}.Sanitize()
	if err := s.create(ctx, name); err != nil {
		return nil, fmt.Errorf("open snapshot store %s: %w", name, err)
	}
	s.load = `SELECT revision, state_version, state, processed, taken_at FROM ` + name + ` WHERE stream = $1`
	s.save = `INSERT INTO ` + name + ` AS t (stream, revision, state_version, state, processed, taken_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (stream) DO UPDATE SET revision = excluded.revision, state_version = excluded.state_version,
			state = excluded.state, processed = excluded.processed, taken_at = excluded.taken_at
		WHERE excluded.revision >= t.revision`
	return s, nil
}

// create makes the schema and table in one transaction, under an advisory lock, so
// that replicas starting at once do not race on CREATE; then checks the table's
// columns.
func (s *Store) create(ctx context.Context, name string) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return postgres.MapError(ctx, "begin", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	h := fnv.New32a()
	h.Write([]byte(s.schema + "." + s.table))
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, $2)", int32(0x736e6170), int32(h.Sum32())); err != nil { // "snap"
		return postgres.MapError(ctx, "lock", err)
	}
	var schemaExists bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", s.schema).Scan(&schemaExists); err != nil {
		return postgres.MapError(ctx, "look up schema", err)
	}
	if !schemaExists {
		if _, err := tx.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{s.schema}.Sanitize()); err != nil {
			return postgres.MapError(ctx, "create schema", err)
		}
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+name+` (
		stream        text        COLLATE "C" PRIMARY KEY,
		revision      bigint      NOT NULL CHECK (revision >= 0),
		state_version integer     NOT NULL,
		state         bytea       NOT NULL,
		processed     bytea       NOT NULL,
		taken_at      timestamptz NOT NULL
	)`); err != nil {
		return postgres.MapError(ctx, "create table", err)
	}
	rows, err := tx.Query(ctx, `SELECT column_name::text || ' ' || data_type::text FROM information_schema.columns
		WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`, s.schema, s.table)
	if err != nil {
		return postgres.MapError(ctx, "read columns", err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return postgres.MapError(ctx, "read columns", err)
	}
	if have := strings.Join(got, ", "); have != columns {
		return fmt.Errorf("%w: %w: the table has columns (%s), want (%s)", command.ErrInvalidSnapshot, eventstore.ErrIncompatible, have, columns)
	}
	return postgres.MapError(ctx, "commit", tx.Commit(ctx))
}

// LoadSnapshot implements command.SnapshotStore. A row that cannot be decoded
// fails with an error matching command.ErrInvalidSnapshot and eventstore.ErrCorrupt.
func (s *Store) LoadSnapshot(ctx context.Context, stream string) (command.Snapshot, error) {
	op := "load snapshot of " + quote.Trunc(stream)
	// Every column is scanned nullable and checked here: a row a tool damaged
	// (a loosened column holding NULL) is an invalid snapshot, never a panic.
	var rev pgtype.Int8
	var version pgtype.Int4
	var state, processed []byte
	var taken pgtype.Timestamptz
	err := s.pool.QueryRow(ctx, s.load, stream).Scan(&rev, &version, &state, &processed, &taken)
	if errors.Is(err, pgx.ErrNoRows) {
		return command.Snapshot{}, fmt.Errorf("%s: %w", op, command.ErrNoSnapshot)
	}
	if err != nil {
		return command.Snapshot{}, fmt.Errorf("%s: %w", op, postgres.MapError(ctx, op, err))
	}
	invalid := func(reason string) error {
		return fmt.Errorf("%s: %w: %w: %s", op, command.ErrInvalidSnapshot, eventstore.ErrCorrupt, reason)
	}
	switch {
	case !rev.Valid || rev.Int64 < 0:
		return command.Snapshot{}, invalid("revision is not a non-negative integer")
	case !version.Valid:
		return command.Snapshot{}, invalid("state version is NULL")
	case state == nil:
		return command.Snapshot{}, invalid("state is NULL")
	case processed == nil:
		return command.Snapshot{}, invalid("processed commands are NULL")
	case !taken.Valid || taken.InfinityModifier != pgtype.Finite:
		return command.Snapshot{}, invalid("taken_at is not a time")
	}
	snap := command.Snapshot{Stream: stream, Revision: uint64(rev.Int64), StateVersion: int(version.Int32), State: state,
		TakenAt: taken.Time.UTC()}
	if err := json.Unmarshal(processed, &snap.Processed); err != nil {
		return command.Snapshot{}, invalid("processed commands: " + err.Error())
	}
	return snap, nil
}

// SaveSnapshot implements command.SnapshotStore.
func (s *Store) SaveSnapshot(ctx context.Context, snap command.Snapshot) error {
	if err := eventstore.ValidateStreamName(snap.Stream); err != nil {
		return fmt.Errorf("save snapshot: %w: %w", command.ErrInvalidSnapshot, err)
	}
	op := fmt.Sprintf("save snapshot of %s at revision %d", quote.Trunc(snap.Stream), snap.Revision)
	if snap.Revision > 1<<63-1 {
		return fmt.Errorf("%s: %w: revision out of range", op, command.ErrInvalidSnapshot)
	}
	if int64(snap.StateVersion) != int64(int32(snap.StateVersion)) {
		return fmt.Errorf("%s: %w: state version %d out of range", op, command.ErrInvalidSnapshot, snap.StateVersion)
	}
	processed, err := json.Marshal(snap.Processed)
	if err != nil {
		return fmt.Errorf("%s: %w: %w", op, command.ErrInvalidSnapshot, err)
	}
	state := snap.State
	if state == nil {
		state = []byte{}
	}
	if _, err := s.pool.Exec(ctx, s.save, snap.Stream, int64(snap.Revision), int32(snap.StateVersion), state, processed,
		snap.TakenAt); err != nil {
		return fmt.Errorf("%s: %w", op, postgres.MapError(ctx, op, err))
	}
	return nil
}

func validIdent(s string) bool {
	if s == "" || len(s) > 63 || strings.HasPrefix(strings.ToLower(s), "pg_") {
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
