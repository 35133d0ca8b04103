package sqlitetarget

import (
	"context"
	"fmt"
)

// The bookkeeping tables, created in the target database by Init.
//
//   - idem_projection_generations: one row per generation of a projection (or a
//     reactor's one generation): its kind, the code version that built it, its
//     state (building, active, retired), its logical tables and its checkpoint.
//   - idem_projection_guards: the per-stream guard, the last revision applied per
//     source stream, per generation.
//   - idem_projection_parked_events: events set aside by PoisonPark.
const schema = `
CREATE TABLE IF NOT EXISTS idem_projection_generations (
	name        TEXT    NOT NULL,
	generation  INTEGER NOT NULL,
	kind        TEXT    NOT NULL,
	version     INTEGER NOT NULL,
	state       TEXT    NOT NULL,
	tables      TEXT    NOT NULL DEFAULT '',
	commit_pos  INTEGER NOT NULL DEFAULT 0,
	prepare_pos INTEGER NOT NULL DEFAULT 0,
	created_at  TEXT    NOT NULL,
	updated_at  TEXT    NOT NULL,
	PRIMARY KEY (name, generation)
);
CREATE TABLE IF NOT EXISTS idem_projection_guards (
	name       TEXT    NOT NULL,
	generation INTEGER NOT NULL,
	stream     TEXT    NOT NULL,
	revision   INTEGER NOT NULL,
	PRIMARY KEY (name, generation, stream)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idem_projection_parked_events (
	name        TEXT    NOT NULL,
	generation  INTEGER NOT NULL,
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
	PRIMARY KEY (name, generation, event_id)
);`

// lockStatement takes SQLite's write lock at the start of a write transaction: a
// transaction that reads, then writes, fails at once with "database is locked" if
// another connection wrote in between (its snapshot is stale), where one that
// starts by writing waits for the lock (busy timeout). It writes nothing.
const lockStatement = `UPDATE idem_projection_generations SET name = name WHERE 0`

// Init creates the bookkeeping tables if they are missing. Each CREATE TABLE IF
// NOT EXISTS is atomic and idempotent, so several processes may start at once. It
// is projection.Target's Init.
func (t *Target) Init(ctx context.Context) error {
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	if _, err := t.db.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("create projection bookkeeping tables: %w", storageError(ctx, err))
	}
	return nil
}
