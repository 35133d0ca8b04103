// Package pgsnapshot is the PostgreSQL snapshot table: one row per stream, its
// latest snapshot. eventstore/postgres keeps one in the store's schema
// (idem_snapshots, made by its schema migration) and command/pgsnap keeps one in
// any schema and table; both go through this package, so that the table's shape,
// its checks and its statements are written once.
//
// The functions here return the driver's errors as they are, for the caller to
// map; what they find wrong with the table or a row matches
// eventstore.ErrIncompatible or eventstore.ErrCorrupt.
package pgsnapshot

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/internal/quote"
)

// DB is what *pgxpool.Pool, *pgxpool.Conn and pgx.Tx share.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Columns is the table's shape as information_schema reports it.
const Columns = "stream text, revision bigint, data bytea, taken_at timestamp with time zone"

// legacyColumns is the shape of command/pgsnap's table before snapshots became
// opaque to the store (the state version, the state and the processed commands in
// columns of their own). No handler reads such rows any more, and snapshots are a
// cache: Ensure replaces the table.
const legacyColumns = "stream text, revision bigint, state_version integer, state bytea, processed bytea, taken_at timestamp with time zone"

// Table is a snapshot table: its name and statements.
type Table struct {
	schema, name string
	qualified    string // quoted schema.table
	load, save   string
}

// New returns the table name in schema. Both must be identifiers the caller has
// checked; they are quoted in every statement.
func New(schema, name string) *Table {
	q := pgx.Identifier{schema, name}.Sanitize()
	return &Table{
		schema:    schema,
		name:      name,
		qualified: q,
		load:      `SELECT revision, data, taken_at FROM ` + q + ` WHERE stream = $1`,
		// An older snapshot never replaces a newer one: replicas saving at once
		// keep the later revision, whatever order their saves commit in.
		save: `INSERT INTO ` + q + ` AS t (stream, revision, data, taken_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (stream) DO UPDATE SET revision = excluded.revision, data = excluded.data, taken_at = excluded.taken_at
			WHERE excluded.revision >= t.revision`,
	}
}

// lockClass is the first key of the advisory lock that serialises the creation
// of a snapshot table ("snap"); the second is a hash of its name.
const lockClass = 0x736e6170

// Lock takes, in the transaction db is, the advisory lock that serialises
// Ensure for this table, so that a store's migration and command/pgsnap's New,
// in any process, do not both create it.
func (t *Table) Lock(ctx context.Context, db DB) error {
	h := fnv.New32a()
	h.Write([]byte(t.schema + "." + t.name))
	_, err := db.Exec(ctx, "SELECT pg_advisory_xact_lock($1, $2)", int32(lockClass), int32(h.Sum32()))
	return err
}

// Name returns schema.table, for messages.
func (t *Table) Name() string { return t.schema + "." + t.name }

// create is the table's definition. stream compares bytes, as stream names do on
// every backend; the CHECK keeps a negative revision out short of dropping it.
func (t *Table) create() string {
	return `CREATE TABLE ` + t.qualified + ` (
		stream   text        COLLATE "C" NOT NULL,
		revision bigint      NOT NULL,
		data     bytea       NOT NULL,
		taken_at timestamptz NOT NULL,
		CONSTRAINT ` + pgx.Identifier{t.name + "_pkey"}.Sanitize() + ` PRIMARY KEY (stream),
		CONSTRAINT ` + pgx.Identifier{t.name + "_revision_check"}.Sanitize() + ` CHECK (revision >= 0)
	)`
}

// Ensure creates the table if it is missing, replaces one of command/pgsnap's
// legacy shape (replaced is then true) and checks the shape of one that exists.
// The caller runs it in a transaction that holds Lock (two CREATE TABLEs of one
// name at once fail) and has made the schema.
func (t *Table) Ensure(ctx context.Context, db DB) (replaced bool, err error) {
	have, err := t.columns(ctx, db)
	if err != nil {
		return false, err
	}
	switch have {
	case "":
	case legacyColumns:
		if _, err := db.Exec(ctx, `DROP TABLE `+t.qualified); err != nil {
			return false, err
		}
		replaced = true
	default:
		return false, t.Check(ctx, db)
	}
	if _, err := db.Exec(ctx, t.create()); err != nil {
		return false, err
	}
	return replaced, nil
}

// Check fails with an error matching eventstore.ErrIncompatible unless the table
// has the columns of Columns and a unique index on stream alone (the save's ON
// CONFLICT needs it).
func (t *Table) Check(ctx context.Context, db DB) error {
	have, err := t.columns(ctx, db)
	if err != nil {
		return err
	}
	if have != Columns {
		if have == "" {
			have = "none: no such table"
		}
		return fmt.Errorf("%w: snapshot table %s has columns (%s), want (%s)", eventstore.ErrIncompatible, t.Name(), have, Columns)
	}
	var unique bool
	err = db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
		WHERE i.indrelid = $1::regclass AND i.indisunique AND i.indisvalid AND i.indnkeyatts = 1
			AND i.indpred IS NULL AND i.indexprs IS NULL AND a.attname = 'stream')`, t.qualified).Scan(&unique)
	if err != nil {
		return err
	}
	if !unique {
		return fmt.Errorf("%w: snapshot table %s has no unique index on stream", eventstore.ErrIncompatible, t.Name())
	}
	return nil
}

// columns returns the table's columns as "name type, ...", or "" when there is
// no such table.
func (t *Table) columns(ctx context.Context, db DB) (string, error) {
	rows, err := db.Query(ctx, `SELECT column_name::text || ' ' || data_type::text FROM information_schema.columns
		WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`, t.schema, t.name)
	if err != nil {
		return "", err
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", err
	}
	return strings.Join(cols, ", "), nil
}

// Validate checks a snapshot before it is saved: a valid stream name, a revision
// a bigint holds. Its errors match eventstore.ErrInvalidStreamName or
// eventstore.ErrInvalidEvent.
func Validate(s eventstore.Snapshot) error {
	if err := eventstore.ValidateStreamName(s.Stream); err != nil {
		return err
	}
	if s.Revision > 1<<63-1 {
		return fmt.Errorf("%w: revision %d out of range", eventstore.ErrInvalidEvent, s.Revision)
	}
	return nil
}

// Load reads the snapshot of stream; found is false when there is none. Every
// column is scanned nullable and checked: a row a tool damaged (a loosened column
// holding NULL, a negative revision, an infinite time) fails with an error
// matching eventstore.ErrCorrupt that names the table and the row, never a panic.
func (t *Table) Load(ctx context.Context, db DB, stream string) (s eventstore.Snapshot, found bool, err error) {
	var rev pgtype.Int8
	var data []byte
	var taken pgtype.Timestamptz
	err = db.QueryRow(ctx, t.load, stream).Scan(&rev, &data, &taken)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return s, false, nil
	case err != nil:
		return s, false, err
	}
	corrupt := func(reason string) error {
		return fmt.Errorf("%w: %s row (stream %s): %s", eventstore.ErrCorrupt, t.Name(), quote.Q(stream), reason)
	}
	switch {
	case !rev.Valid:
		return s, false, corrupt("revision is NULL")
	case rev.Int64 < 0:
		return s, false, corrupt(fmt.Sprintf("revision %d is negative", rev.Int64))
	case data == nil:
		return s, false, corrupt("data is NULL")
	case !taken.Valid || taken.InfinityModifier != pgtype.Finite:
		return s, false, corrupt("taken_at is not a time")
	}
	return eventstore.Snapshot{Stream: stream, Revision: uint64(rev.Int64), Data: data, TakenAt: taken.Time.UTC()}, true, nil
}

// Save stores s unless a snapshot of a later revision is stored; s must have
// passed Validate.
func (t *Table) Save(ctx context.Context, db DB, s eventstore.Snapshot) error {
	data := s.Data
	if data == nil {
		data = []byte{} // NOT NULL: an empty state is still a state
	}
	_, err := db.Exec(ctx, t.save, s.Stream, int64(s.Revision), data, s.TakenAt)
	return err
}
