// Package pgtarget keeps projections' read models and their bookkeeping in a
// PostgreSQL schema, through pgx: the projection.Target of projection.Runner for
// PostgreSQL, the twin of projection/sqlitetarget.
//
// Open connects to a database and owns its pool; New uses a pgxpool.Pool the
// caller keeps, such as the PostgreSQL event store's own (read models then live
// beside the events, in a schema of their own). Several processes may run
// runners on one schema: Write serialises the writes of each projection across
// them with a transaction-scoped advisory lock on its name, while other
// projections write at once.
//
// Handlers write through *Tx, the batch's transaction: in every query {t} names
// the physical table of logical table t in the generation being written
// ("schema"."invoices_g2", see PhysicalTable), and readers read the view named t
// in the schema, which Activate points at the active generation in the same
// transaction that switches generations (G9). Names of tables and views are the
// logical names in lower case, as PostgreSQL folds unquoted names. The checkpoint,
// the per-stream guards and parked events live in three tables
// (idem_projection_generations, idem_projection_guards,
// idem_projection_parked_events) written in the same transaction as the read
// model (G8).
//
// Like the SQLite target, it lists the names it keeps bookkeeping for
// (projection.NameLister, for operators' tools) and compares two generations row
// by row (projection.Differ, for Runner.Reconcile), matching rows by primary key
// and comparing values by their text.
//
// A bookkeeping row that cannot be decoded (a NULL where the table forbids one,
// an unknown state, a negative position: what a tool that loosened the tables
// could store) fails the read with a *projection.CorruptError, matching
// eventstore.ErrCorrupt, that names the table, the row and the column (G11).
// Failures worth retrying (a lost connection, a serialization failure or
// deadlock, a lock not obtained within WithLockTimeout, a server shutting down)
// match projection.ErrTargetUnavailable, which the runner retries; so do those
// of a handler's statements through Tx, which the runner then retries as the
// target's failure, never parking the event for it.
package pgtarget
