package pgtarget

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/idemkit/idem/eventstore"
)

// bookkeeping is one table of the target's bookkeeping: its name, its columns as
// information_schema reports them (Init refuses a table of that name with other
// columns), and its definition.
type bookkeeping struct {
	name, columns, ddl string
}

// The bookkeeping tables, created in the target's schema by Init.
//
//   - idem_projection_generations: one row per generation of a projection (or a
//     reactor's one generation): its kind, the code version that built it, its
//     state, its logical tables and its checkpoint.
//   - idem_projection_guards: the per-stream guard, the last revision applied per
//     source stream, per generation.
//   - idem_projection_parked_events: events set aside by PoisonPark, whole.
//     PostgreSQL keeps microseconds: recorded_ns keeps the nanoseconds of the
//     event's time below them, so that a parked event is re-run as recorded.
//
// Names and streams compare as bytes (COLLATE "C"), as stream names do on every
// store. The CHECKs keep what the decoders refuse out of the tables, short of a
// tool dropping them.
var bookkeepingTables = []bookkeeping{
	{"idem_projection_generations",
		"name text, generation integer, kind text, version integer, state text, tables ARRAY, commit_pos bigint, prepare_pos bigint, " +
			"created_at timestamp with time zone, updated_at timestamp with time zone",
		`CREATE TABLE %s (
	name        text        COLLATE "C" NOT NULL,
	generation  integer     NOT NULL CHECK (generation >= 1),
	kind        text        NOT NULL CHECK (kind IN ('projection', 'reactor')),
	version     integer     NOT NULL CHECK (version >= 0),
	state       text        NOT NULL CHECK (state IN ('building', 'active', 'retired')),
	tables      text[]      NOT NULL DEFAULT '{}',
	commit_pos  bigint      NOT NULL DEFAULT 0 CHECK (commit_pos >= 0),
	prepare_pos bigint      NOT NULL DEFAULT 0 CHECK (prepare_pos >= 0),
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL,
	PRIMARY KEY (name, generation)
)`},
	{"idem_projection_guards",
		"name text, generation integer, stream text, revision bigint",
		`CREATE TABLE %s (
	name       text    COLLATE "C" NOT NULL,
	generation integer NOT NULL,
	stream     text    COLLATE "C" NOT NULL,
	revision   bigint  NOT NULL CHECK (revision >= 0),
	PRIMARY KEY (name, generation, stream)
)`},
	{"idem_projection_parked_events",
		"name text, generation integer, event_id uuid, stream text, revision bigint, commit_pos bigint, prepare_pos bigint, " +
			"type text, data bytea, metadata bytea, recorded_at timestamp with time zone, recorded_ns integer, error text, " +
			"attempts integer, parked_at timestamp with time zone",
		`CREATE TABLE %s (
	name        text        COLLATE "C" NOT NULL,
	generation  integer     NOT NULL,
	event_id    uuid        NOT NULL,
	stream      text        COLLATE "C" NOT NULL,
	revision    bigint      NOT NULL CHECK (revision >= 0),
	commit_pos  bigint      NOT NULL CHECK (commit_pos >= 0),
	prepare_pos bigint      NOT NULL CHECK (prepare_pos >= 0),
	type        text        NOT NULL,
	data        bytea,
	metadata    bytea,
	recorded_at timestamptz NOT NULL,
	recorded_ns integer     NOT NULL CHECK (recorded_ns BETWEEN 0 AND 999),
	error       text        NOT NULL,
	attempts    integer     NOT NULL CHECK (attempts >= 0),
	parked_at   timestamptz NOT NULL,
	PRIMARY KEY (name, generation, event_id)
)`},
}

// Advisory lock classes of the target (the first key of pg_advisory_xact_lock(int,
// int)); the second is a hash of the schema. Write's lock on a projection's name
// is a single bigint key, a space of its own.
const initLock = 0x69647072 // "idpr"

// hash32 and hash64 are FNV-1a hashes of parts joined by NUL bytes.
func hash32(parts ...string) int32 {
	h := fnv.New32a()
	h.Write([]byte(strings.Join(parts, "\x00")))
	return int32(h.Sum32())
}

func hash64(parts ...string) int64 {
	h := fnv.New64a()
	h.Write([]byte(strings.Join(parts, "\x00")))
	return int64(h.Sum64())
}

// Init creates the schema and the bookkeeping tables if they are missing, in one
// transaction under an advisory lock of the schema, so that several processes
// may start at once; it is projection.Target's Init. It creates only what is
// missing: a role without the privilege to create may run on a schema that
// exists. A bookkeeping table of another shape fails it with an error matching
// eventstore.ErrIncompatible.
func (t *Target) Init(ctx context.Context) error {
	fail := func(err error) error {
		return fmt.Errorf("create projection bookkeeping in schema %s: %w", t.schema, storageError(ctx, err))
	}
	tx, err := t.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, $2)", int32(initLock), hash32(t.schema)); err != nil {
		return fail(err)
	}
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", t.schema).Scan(&exists); err != nil {
		return fail(err)
	}
	if !exists {
		if _, err := tx.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{t.schema}.Sanitize()); err != nil {
			return fail(err)
		}
	}
	for _, b := range bookkeepingTables {
		if err := t.ensure(ctx, tx, b); err != nil {
			return fail(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fail(err)
	}
	return nil
}

// ensure creates table b unless it exists, and checks the columns of one that
// does.
func (t *Target) ensure(ctx context.Context, tx pgx.Tx, b bookkeeping) error {
	rows, err := tx.Query(ctx, `SELECT column_name::text || ' ' || data_type::text FROM information_schema.columns
		WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`, t.schema, b.name)
	if err != nil {
		return err
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	switch have := strings.Join(cols, ", "); have {
	case "":
		_, err := tx.Exec(ctx, fmt.Sprintf(b.ddl, qualified(t.schema, b.name)))
		return err
	case b.columns:
		return nil
	default:
		return fmt.Errorf("%w: table %s.%s has columns (%s), want (%s)", eventstore.ErrIncompatible, t.schema, b.name, have, b.columns)
	}
}

// lockStatement starts every Write: the transaction's lock timeout, then the
// projection's lock, a transaction-scoped advisory lock on a hash of the schema
// and the name, held until commit or rollback. Writes of one name run one after
// the other, in any process (G8: the per-stream guard relies on it); writes of
// other names go on at once.
const lockStatement = `SELECT set_config('lock_timeout', $1, true), pg_advisory_xact_lock($2)`
