// Package sqlitetarget keeps projections' read models and their bookkeeping in a
// SQLite database: the projection.Target of projection.Runner for SQLite.
//
// Open opens (or creates) a database file with the settings the runner expects;
// New uses a *sql.DB the caller opened with the "sqlite3" driver, such as the event
// store's own file (read models then live beside the events) or any other.
//
// Handlers write through *Tx, the batch's transaction: in every query {t} names
// the physical table of logical table t in the generation being written
// (invoices_g2, see PhysicalTable), and readers read the view named t, which
// Activate points at the active generation in one transaction (G9). The
// checkpoint, the per-stream guards and parked events live in three tables
// (idem_projection_generations, idem_projection_guards,
// idem_projection_parked_events) written in the same transaction as the read
// model (G8).
//
// A row of those tables with a value of the wrong type fails the read with an
// error matching eventstore.ErrCorrupt that names the row (G11); a write that
// could not get SQLite's lock in time fails with one matching
// projection.ErrTargetUnavailable, which the runner retries.
package sqlitetarget
