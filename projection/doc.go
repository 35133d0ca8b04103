// Package projection builds read models and runs reactors from an eventstore.Store,
// applying each event exactly once (DESIGN G8-G10).
//
// A projection (SQL) writes its read model through a *sql.Tx on a SQLite database,
// the target. The Runner reads events from any eventstore.Store (catch-up, then live,
// from the projection's checkpoint) and applies them in batches; each batch commits,
// in the same transaction as the read-model changes:
//
//   - the checkpoint (projection name, version, position), so a crash anywhere
//     leaves the read model and its checkpoint in step (G8);
//   - the per-stream guard, the last revision applied per source stream (one write
//     per stream per batch): an event at or below it is skipped, so a replay of a
//     range or of one stream never applies an event twice.
//
// The checkpoint lives with the read model, not with the source, so this holds for
// every source: memory, SQLite (the same file or another one) and EventStoreDB.
//
// Each projection version writes into its own tables ({invoices} in a query becomes
// invoices_v2), and readers read through views named after the logical tables
// (invoices). A new version is rebuilt from position zero beside the live one and,
// once caught up, the views are switched to it in one transaction (G9); the old
// version's tables are then dropped. Handlers see the Mode they run in (Live,
// CatchUp or Rebuild); reactors (side effects) are a separate kind with their own
// checkpoint, are never run by a rebuild, and get the event id as the idempotency
// key to pass on (G10).
//
// See docs/projections.md for the guarantees, the crash windows and how to operate
// projections (rebuilds, parked events).
package projection
