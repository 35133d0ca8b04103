package projection

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/idemkit/idem/eventstore"
)

// The runner's bookkeeping tables, created in the target database. Reactors use
// version 0.
//
//   - idem_projections: one row per projection version or reactor: its state
//     (building, active, retired), its logical tables and its checkpoint.
//   - idem_projection_streams: the per-stream guard, the last revision applied per
//     source stream.
//   - idem_projection_parked: events set aside by PoisonPark.
const schema = `
CREATE TABLE IF NOT EXISTS idem_projections (
	name        TEXT    NOT NULL,
	version     INTEGER NOT NULL,
	kind        TEXT    NOT NULL,
	state       TEXT    NOT NULL,
	tables      TEXT    NOT NULL DEFAULT '',
	commit_pos  INTEGER NOT NULL DEFAULT 0,
	prepare_pos INTEGER NOT NULL DEFAULT 0,
	created_at  TEXT    NOT NULL,
	updated_at  TEXT    NOT NULL,
	PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS idem_projection_streams (
	name     TEXT    NOT NULL,
	version  INTEGER NOT NULL,
	stream   TEXT    NOT NULL,
	revision INTEGER NOT NULL,
	PRIMARY KEY (name, version, stream)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idem_projection_parked (
	name        TEXT    NOT NULL,
	version     INTEGER NOT NULL,
	event_id    TEXT    NOT NULL,
	stream      TEXT    NOT NULL,
	revision    INTEGER NOT NULL,
	commit_pos  INTEGER NOT NULL,
	prepare_pos INTEGER NOT NULL,
	type        TEXT    NOT NULL,
	data        BLOB,
	metadata    BLOB,
	recorded_at TEXT    NOT NULL,
	error       TEXT    NOT NULL,
	attempts    INTEGER NOT NULL,
	parked_at   TEXT    NOT NULL,
	PRIMARY KEY (name, version, event_id)
);`

// States of a row of idem_projections.
const (
	stateBuilding = "building"
	stateActive   = "active"
	stateRetired  = "retired"
)

const (
	kindSQL     = "sql"
	kindReactor = "reactor"
)

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// record is a row of idem_projections.
type record struct {
	version    int
	kind       string
	state      string
	tables     []string
	checkpoint eventstore.Position
}

// records returns every row of idem_projections for name, by version.
func records(ctx context.Context, q querier, name string) (map[int]record, error) {
	rows, err := q.QueryContext(ctx,
		`SELECT version, kind, state, tables, commit_pos, prepare_pos FROM idem_projections WHERE name = ?`, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int]record{}
	for rows.Next() {
		var r record
		var tables string
		var c, p int64
		if err := rows.Scan(&r.version, &r.kind, &r.state, &tables, &c, &p); err != nil {
			return nil, err
		}
		if tables != "" {
			r.tables = strings.Split(tables, ",")
		}
		r.checkpoint = eventstore.Position{Commit: uint64(c), Prepare: uint64(p)}
		out[r.version] = r
	}
	return out, rows.Err()
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// claim is the first statement of every write transaction of a projection version:
// it takes SQLite's write lock at once (so a busy timeout can wait for it instead of
// failing later on a stale snapshot), checks that the version still runs (not
// retired) and, when move is set, advances the checkpoint from `from` to `to`,
// failing with ErrCheckpointMoved if another runner moved it.
func claim(ctx context.Context, tx *sql.Tx, name string, version int, move bool, from, to eventstore.Position) error {
	var res sql.Result
	var err error
	if move {
		res, err = tx.ExecContext(ctx, `UPDATE idem_projections SET commit_pos = ?, prepare_pos = ?, updated_at = ?
			WHERE name = ? AND version = ? AND commit_pos = ? AND prepare_pos = ? AND state IN ('active', 'building')`,
			int64(to.Commit), int64(to.Prepare), now(), name, version, int64(from.Commit), int64(from.Prepare))
	} else {
		res, err = tx.ExecContext(ctx, `UPDATE idem_projections SET updated_at = ?
			WHERE name = ? AND version = ? AND state IN ('active', 'building')`, now(), name, version)
	}
	if err != nil {
		return fmt.Errorf("%s: claim checkpoint: %w", label(name, version), err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	var state string
	var c, p int64
	err = tx.QueryRowContext(ctx, `SELECT state, commit_pos, prepare_pos FROM idem_projections WHERE name = ? AND version = ?`,
		name, version).Scan(&state, &c, &p)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%s: %w: not set up in this database (run it first)", label(name, version), ErrUnknownProjection)
	case err != nil:
		return fmt.Errorf("%s: claim checkpoint: %w", label(name, version), err)
	case state == stateRetired:
		return fmt.Errorf("%s: %w", label(name, version), ErrRetired)
	default:
		return fmt.Errorf("%s: expected checkpoint %s, found %d/%d: %w",
			label(name, version), from, c, p, ErrCheckpointMoved)
	}
}

// loadGuards reads the per-stream guard of the given streams in one query.
func loadGuards(ctx context.Context, tx *sql.Tx, name string, version int, streams []string) (map[string]uint64, error) {
	list, err := json.Marshal(streams)
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT stream, revision FROM idem_projection_streams
		WHERE name = ? AND version = ? AND stream IN (SELECT value FROM json_each(?))`, name, version, string(list))
	if err != nil {
		return nil, fmt.Errorf("%s: read stream guard: %w", label(name, version), err)
	}
	defer rows.Close()
	guards := make(map[string]uint64, len(streams))
	for rows.Next() {
		var s string
		var rev int64
		if err := rows.Scan(&s, &rev); err != nil {
			return nil, fmt.Errorf("%s: read stream guard: %w", label(name, version), err)
		}
		guards[s] = uint64(rev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: read stream guard: %w", label(name, version), err)
	}
	return guards, nil
}

// saveGuards writes the new last revision of every stream the batch touched, in one
// statement: one row write per stream per batch. A guard never moves back: an
// event applied out of order (a parked event re-run) cannot reopen the revisions
// after it to a replay (G8).
func saveGuards(ctx context.Context, tx *sql.Tx, name string, version int, dirty map[string]uint64) error {
	if len(dirty) == 0 {
		return nil
	}
	obj, err := json.Marshal(dirty)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO idem_projection_streams (name, version, stream, revision)
		SELECT ?, ?, key, value FROM json_each(?) WHERE true
		ON CONFLICT (name, version, stream) DO UPDATE SET revision = max(revision, excluded.revision)`, name, version, string(obj))
	if err != nil {
		return fmt.Errorf("%s: write stream guard: %w", label(name, version), err)
	}
	return nil
}

// insertParked records ev as parked.
func insertParked(ctx context.Context, tx *sql.Tx, name string, version int, ev eventstore.RecordedEvent, cause error, attempts int) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO idem_projection_parked
		(name, version, event_id, stream, revision, commit_pos, prepare_pos, type, data, metadata, recorded_at, error, attempts, parked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name, version, event_id) DO UPDATE SET error = excluded.error, attempts = attempts + excluded.attempts, parked_at = excluded.parked_at`,
		name, version, ev.ID.String(), ev.Stream, int64(ev.Revision), int64(ev.Position.Commit), int64(ev.Position.Prepare),
		ev.Type, ev.Data, ev.Metadata, ev.RecordedAt.UTC().Format(time.RFC3339Nano), cause.Error(), attempts, now())
	if err != nil {
		return fmt.Errorf("%s: park event %s: %w", label(name, version), ev.ID, err)
	}
	return nil
}
