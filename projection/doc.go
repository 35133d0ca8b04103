// Package projection builds read models and runs reactors from an eventstore.Store,
// applying each event exactly once (G8-G10, G12).
//
// It is an engine over a target seam: read models and their bookkeeping live in a
// Target (a SQLite database with projection/sqlitetarget; any transactional store
// that implements Target), and handlers write through the target's transaction
// type Tx. This package holds no SQL and needs no cgo.
//
// The Runner reads events from any eventstore.Store (catch-up, then live, from the
// checkpoint) and applies them in batches; each batch commits, in one target
// transaction with the read-model changes:
//
//   - the checkpoint (the position of the batch's last event), so a crash anywhere
//     leaves the read model and its checkpoint in step (G8);
//   - the per-stream guard, the last revision applied per source stream (one write
//     per stream per batch): an event at or below it is skipped, so a replay of a
//     range or of one stream never applies an event twice.
//
// The checkpoint lives with the read model, not with the source, so this holds for
// every source: memory, SQLite (the same file or another one) and EventStoreDB.
//
// Each build of a projection is a generation (1, 2, 3...) with its own tables,
// recorded with the code Version that built it; readers read the active one
// through names the target keeps (views, on SQL targets). Deploying a higher
// Version, or calling Runner.Rebuild, builds a new generation from position zero
// beside the active one and switches readers to it in one transaction once caught
// up (G9). A runner whose generation was retired by another process adopts the new
// one, or steps aside if newer code built it. Handlers see the Mode they run in
// (Live, CatchUp or Rebuild); reactors (side effects) are a separate kind with
// their own checkpoint, are never run by a rebuild, and get the event id as the
// idempotency key to pass on (G10).
//
// See docs/projections.md for the guarantees, the crash windows and how to operate
// projections (rebuilds, status, parked events), and docs/guarantees.md for the
// tests that prove them.
package projection
