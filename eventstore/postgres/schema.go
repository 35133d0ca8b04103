package postgres

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/internal/pgsnapshot"
)

// schemaVersion is the version of the newest schema this package knows; it is kept
// in the one row of the schema's idem_schema_version table.
const schemaVersion = 2

// Advisory lock classes (the first key of pg_advisory_xact_lock(int, int)); the
// second key is the schema's lockKey. positionLock serialises the assignment of
// positions (see appendFunction); migrationLock serialises Open's migrations.
const (
	positionLock  = 0x6964656d // "idem"
	migrationLock = positionLock + 1
)

// lockKey is the second advisory-lock key of a schema: a hash of its name, so that
// stores in other schemas of the same database never wait for each other.
func lockKey(schema string) int32 {
	h := fnv.New32a()
	h.Write([]byte(schema))
	return int32(h.Sum32())
}

// channel is the NOTIFY channel of a schema's appends.
func channel(schema string) string {
	return fmt.Sprintf("idem_events_%08x", uint32(lockKey(schema)))
}

// migrations[i] takes the schema from version i to version i+1: its SQL, where
// {{schema}} is the quoted schema name, then its step in Go, if any.
// appendFunction's text is (re)created by migrate after the last one.
var migrations = []migration{
	// 1: the global log.
	//
	// position is the global log's order. Positions are taken from the sequence
	// only by appendFunction, under a transaction-scoped advisory lock held until
	// commit, so they become visible in the order they were taken: a reader that
	// has seen position N never later finds an event below N (no gap for
	// subscriptions). UNIQUE (stream, revision) checks revisions in the database,
	// serves reads of a stream, the G2 retry check and a stream's head. The stream
	// column compares bytes (COLLATE "C"), as every other backend does, so that
	// prefixes and order do not depend on the database's locale. The CHECKs make a
	// negative revision or position impossible short of dropping them.
	{sql: `CREATE TABLE {{schema}}.events (
		position    bigint      NOT NULL,
		stream      text        COLLATE "C" NOT NULL,
		revision    bigint      NOT NULL,
		id          uuid        NOT NULL,
		type        text        NOT NULL,
		data        bytea,
		metadata    bytea,
		recorded_at timestamptz NOT NULL,
		CONSTRAINT events_pkey PRIMARY KEY (position),
		CONSTRAINT events_stream_revision_key UNIQUE (stream, revision),
		CONSTRAINT events_revision_check CHECK (revision >= 0),
		CONSTRAINT events_position_check CHECK (position > 0)
	);
	CREATE SEQUENCE {{schema}}.events_position_seq AS bigint OWNED BY {{schema}}.events.position;`},
	// 2: FindEvent and snapshots (eventstore.EventFinder, eventstore.SnapshotStore).
	//
	// (stream, id) finds an event by id with one index seek, however long its
	// stream: the command handler asks "is this command recorded?" by the id of its
	// first event (G3) instead of loading the aggregate. It costs an index entry
	// per event. An index of that name left invalid by a failed CREATE INDEX
	// CONCURRENTLY (an operator building it ahead of the upgrade, see
	// docs/backends.md) is dropped and built again; a valid one is kept.
	//
	// idem_snapshots holds the latest snapshot of each stream, opaque to the store:
	// a cache beside the events, the table command/pgsnap keeps elsewhere (see
	// internal/pgsnapshot, which also replaces a table of pgsnap's earlier shape).
	{sql: `DO $$ BEGIN
		IF EXISTS (SELECT 1 FROM pg_index i WHERE i.indexrelid = to_regclass('{{schema}}.events_stream_id') AND NOT i.indisvalid) THEN
			DROP INDEX {{schema}}.events_stream_id;
		END IF;
	END $$;
	CREATE INDEX IF NOT EXISTS events_stream_id ON {{schema}}.events (stream, id);`,
		step: ensureSnapshots},
}

// migration is one step of migrations.
type migration struct {
	sql  string
	step func(ctx context.Context, tx pgx.Tx, schema string, logger *slog.Logger) error
}

// snapshotTable is the name of the store's snapshot table.
const snapshotTable = "idem_snapshots"

// ensureSnapshots creates the snapshot table (migration 2).
func ensureSnapshots(ctx context.Context, tx pgx.Tx, schema string, logger *slog.Logger) error {
	table := pgsnapshot.New(schema, snapshotTable)
	if err := table.Lock(ctx, tx); err != nil {
		return err
	}
	replaced, err := table.Ensure(ctx, tx)
	if err != nil {
		return err
	}
	if replaced {
		logger.InfoContext(ctx, "event store: replaced a snapshot table of command/pgsnap's earlier shape (a cache: aggregates load from events until snapshotted again)",
			"schema", schema, "table", snapshotTable)
	}
	return nil
}

// appendFunction returns the text of the function that runs one append in the
// database: the revision check (G1), the retry check (G2) and the inserts, in one
// round trip, answering with an outcome rather than an error so that the other
// appends of its batch go on. Outcomes: 1 written, 2 replayed (o_revision and
// o_position are the original append's), 3 conflict (o_revision is the stream's
// last revision, -1 when it has none), 4 corrupt (the stream's head is not a
// revision).
//
// With serialise, the function takes the schema's position lock first: one
// transaction at a time takes positions, and the lock is released only after its
// commit is visible, so positions become visible in order (see migrations[0]).
// Every check runs under the lock, so they see every earlier append committed.
// Without serialise it is the naive scheme: positions from the sequence in
// parallel transactions, which commit in any order (only the benchmarks and the
// test that shows why it is wrong use it).
func appendFunction(schema, name string, serialise bool) string {
	seq := quoteLiteral(pgx.Identifier{schema, "events_position_seq"}.Sanitize())
	// Serialised, the positions of an append are taken at once (nextval, then
	// setval past them): no other transaction takes any while the lock is held.
	lock := fmt.Sprintf("PERFORM pg_advisory_xact_lock(%d, %d);", positionLock, lockKey(schema))
	take := "v_pos := nextval(" + seq + ");\n\tIF v_n > 1 THEN\n\t\tPERFORM setval(" + seq + ", v_pos + v_n - 1);\n\tEND IF;"
	position := "v_pos + u.i - 1"
	last := ""
	if !serialise {
		// Naive: a nextval per row, concurrent with other transactions'.
		lock, take, position = "", "", "nextval("+seq+")"
		last = "SELECT max(e.position) + 1 - v_n INTO v_pos FROM " + pgx.Identifier{schema, "events"}.Sanitize() + " e WHERE e.stream = p_stream AND e.revision >= v_first;"
	}
	r := strings.NewReplacer(
		"{{take}}", take,
		"{{position}}", position,
		"{{last}}", last,
		"{{schema}}", pgx.Identifier{schema}.Sanitize(),
		"{{name}}", pgx.Identifier{schema, name}.Sanitize(),
		"{{lock}}", lock,
		"{{channel}}", quoteLiteral(channel(schema)),
	)
	return r.Replace(`CREATE OR REPLACE FUNCTION {{name}}(
	p_stream text, p_kind integer, p_expected bigint,
	p_ids uuid[], p_types text[], p_data bytea[], p_metadata bytea[], p_recorded_at timestamptz,
	OUT o_outcome integer, OUT o_revision bigint, OUT o_position bigint)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
	v_n      integer := cardinality(p_ids);
	v_exists boolean;
	v_last   bigint;
	v_pos    bigint;
	v_first  bigint;
	v_ids    uuid[];
	v_count  bigint;
BEGIN
	{{lock}}
	SELECT e.revision, e.position INTO v_last, v_pos
		FROM {{schema}}.events e WHERE e.stream = p_stream ORDER BY e.revision DESC LIMIT 1;
	v_exists := FOUND;
	IF v_exists AND (v_last IS NULL OR v_last < 0) THEN
		o_outcome := 4; o_revision := v_last; o_position := v_pos;
		RETURN;
	END IF;
	-- p_kind: 1 any, 2 no stream, 3 stream exists, 4 exact (eventstore.RevisionKind).
	IF NOT (p_kind = 1 OR (p_kind = 2 AND NOT v_exists) OR (p_kind = 3 AND v_exists)
			OR (p_kind = 4 AND v_exists AND v_last = p_expected)) THEN
		-- G2: the events right after the expected revision carry exactly these ids,
		-- in order: a retry of an append already written.
		IF v_exists AND (p_kind = 2 OR (p_kind = 4 AND p_expected >= 0 AND p_expected < v_last)) THEN
			v_first := CASE WHEN p_kind = 2 THEN 0 ELSE p_expected + 1 END;
			IF v_first + v_n - 1 <= v_last THEN
				SELECT array_agg(e.id ORDER BY e.revision), count(*), (array_agg(e.position ORDER BY e.revision DESC))[1]
					INTO v_ids, v_count, v_pos
					FROM {{schema}}.events e
					WHERE e.stream = p_stream AND e.revision BETWEEN v_first AND v_first + v_n - 1;
				IF v_count = v_n AND v_ids = p_ids THEN
					o_outcome := 2; o_revision := v_first + v_n - 1; o_position := v_pos;
					RETURN;
				END IF;
			END IF;
		END IF;
		o_outcome := 3; o_revision := CASE WHEN v_exists THEN v_last ELSE -1 END; o_position := 0;
		RETURN;
	END IF;
	-- G2, best effort for Any and StreamExists: the stream's last events carry these ids.
	IF p_kind IN (1, 3) AND v_exists AND v_last + 1 >= v_n THEN
		SELECT array_agg(e.id ORDER BY e.revision) INTO v_ids
			FROM {{schema}}.events e WHERE e.stream = p_stream AND e.revision > v_last - v_n;
		IF v_ids = p_ids THEN
			o_outcome := 2; o_revision := v_last; o_position := v_pos;
			RETURN;
		END IF;
	END IF;
	v_first := CASE WHEN v_exists THEN v_last + 1 ELSE 0 END;
	{{take}}
	INSERT INTO {{schema}}.events (position, stream, revision, id, type, data, metadata, recorded_at)
		SELECT {{position}}, p_stream, v_first + u.i - 1, u.id, u.type, u.data, u.metadata, p_recorded_at
		FROM unnest(p_ids, p_types, p_data, p_metadata) WITH ORDINALITY AS u(id, type, data, metadata, i);
	{{last}}
	PERFORM pg_notify({{channel}}, '');
	o_outcome := 1; o_revision := v_first + v_n - 1; o_position := v_pos + v_n - 1;
END
$fn$`)
}

// quoteLiteral quotes s as an SQL string literal.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// appendFunctionName is the name of appendFunction in the schema.
const appendFunctionName = "idem_append"

// migrate creates or upgrades the schema, up to schemaVersion.
func migrate(ctx context.Context, pool *pgxpool.Pool, schema string, logger *slog.Logger) error {
	return migrateTo(ctx, pool, schema, schemaVersion, logger)
}

// migrateTo creates or upgrades the schema to version target in one
// transaction, under the schema's migration lock, so that two processes opening
// a new database at once do not both create it. It refuses a schema holding an
// events table it did not make or whose shape changed (checked before any
// migration runs, and again after), and one written by a newer version. Only
// tests ask for a target below schemaVersion (to make an older schema).
func migrateTo(ctx context.Context, pool *pgxpool.Pool, schema string, target int, logger *slog.Logger) error {
	op := "open schema " + schema
	tx, err := pool.Begin(ctx)
	if err != nil {
		return storageError(ctx, op, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit

	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, $2)", int32(migrationLock), lockKey(schema)); err != nil {
		return storageError(ctx, op, err)
	}
	if err := checkEncoding(ctx, tx, op); err != nil {
		return err
	}
	version, err := readVersion(ctx, tx, schema)
	if err != nil {
		return err
	}
	if version > schemaVersion {
		return &SchemaVersionError{Schema: schema, Found: version, Supported: schemaVersion}
	}
	if version > 0 {
		if err := checkShape(ctx, tx, schema, version); err != nil {
			return err
		}
	}
	if version >= target {
		return nil
	}
	if err := upgrade(ctx, tx, schema, version, target, logger); err != nil {
		return err
	}
	if err := checkShape(ctx, tx, schema, target); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return storageError(ctx, "commit migration of schema "+schema, err)
	}
	logger.InfoContext(ctx, "event store schema migrated", "schema", schema, "from", version, "to", target)
	return nil
}

// checkEncoding refuses a database whose encoding cannot hold every stream name
// and event type.
func checkEncoding(ctx context.Context, tx pgx.Tx, op string) error {
	var encoding string
	if err := tx.QueryRow(ctx, "SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = current_database()").Scan(&encoding); err != nil {
		return storageError(ctx, op, err)
	}
	if encoding != "UTF8" {
		return fmt.Errorf("%s: %w: the database's encoding is %s; event types and stream names need UTF8",
			op, eventstore.ErrIncompatible, encoding)
	}
	return nil
}

// upgrade runs the migrations from version to target in tx, creating the schema
// and its version table first when version is 0, then (re)creates the append
// function and records target.
func upgrade(ctx context.Context, tx pgx.Tx, schema string, version, target int, logger *slog.Logger) error {
	op := "open schema " + schema
	quoted := pgx.Identifier{schema}.Sanitize()
	if version == 0 {
		if err := createSchema(ctx, tx, schema); err != nil {
			return storageError(ctx, op, err)
		}
	}
	for v := version; v < target; v++ {
		m := migrations[v]
		fail := func(err error) error {
			return storageError(ctx, fmt.Sprintf("migrate schema %s to version %d", schema, v+1), err)
		}
		if _, err := tx.Exec(ctx, strings.ReplaceAll(m.sql, "{{schema}}", quoted)); err != nil {
			return fail(err)
		}
		if m.step != nil {
			if err := m.step(ctx, tx, schema, logger); err != nil {
				return fail(err)
			}
		}
	}
	if _, err := tx.Exec(ctx, appendFunction(schema, appendFunctionName, true)); err != nil {
		return storageError(ctx, "create append function in schema "+schema, err)
	}
	if _, err := tx.Exec(ctx, "UPDATE "+quoted+".idem_schema_version SET version = $1", target); err != nil {
		return storageError(ctx, op, err)
	}
	return nil
}

// createSchema makes the schema, unless it exists, and its version table at
// version 0.
func createSchema(ctx context.Context, tx pgx.Tx, schema string) error {
	quoted := pgx.Identifier{schema}.Sanitize()
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if _, err := tx.Exec(ctx, "CREATE SCHEMA "+quoted); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, "CREATE TABLE "+quoted+".idem_schema_version (version integer NOT NULL)"); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, "INSERT INTO "+quoted+".idem_schema_version VALUES (0)")
	return err
}

// readVersion returns the schema's version, 0 for a schema (or database) that
// has no idem tables. A schema holding an events table but no version table was
// made by another tool: ErrIncompatible.
func readVersion(ctx context.Context, tx pgx.Tx, schema string) (int, error) {
	op := "open schema " + schema
	var hasVersion, hasEvents bool
	err := tx.QueryRow(ctx, `SELECT
			to_regclass($1) IS NOT NULL,
			to_regclass($2) IS NOT NULL`,
		pgx.Identifier{schema, "idem_schema_version"}.Sanitize(), pgx.Identifier{schema, "events"}.Sanitize(),
	).Scan(&hasVersion, &hasEvents)
	if err != nil {
		return 0, storageError(ctx, op, err)
	}
	if !hasVersion {
		if hasEvents {
			return 0, fmt.Errorf("%s: %w: table %s.events exists but was not made by idem (no idem_schema_version table)",
				op, eventstore.ErrIncompatible, schema)
		}
		return 0, nil
	}
	var versions []int32
	rows, err := tx.Query(ctx, "SELECT version FROM "+pgx.Identifier{schema, "idem_schema_version"}.Sanitize())
	if err == nil {
		versions, err = pgx.CollectRows(rows, pgx.RowTo[int32])
	}
	if err != nil {
		return 0, storageError(ctx, op, err)
	}
	if len(versions) != 1 || versions[0] < 0 {
		return 0, fmt.Errorf("%s: %w: idem_schema_version holds %v, want one version", op, eventstore.ErrIncompatible, versions)
	}
	return int(versions[0]), nil
}
