// Package aggregate holds the pure side of idem: deciders, the event codec, stream
// names and keyed identities, and the snapshot store contract.
//
// Domain code stays pure (DESIGN G3-G7 depend on it): a Decider is three plain
// functions, Initial, Evolve and Decide, with no I/O, no clock and no ids. The
// command package does the I/O around them: it loads, dedupes, decides, appends and
// retries.
//
//   - Codec. Event (and command) types are registered explicitly per Codec instance,
//     with names the caller chooses: no global registry and no names derived by
//     reflection, so renaming a Go type never renames stored events. An unregistered
//     type on write fails with ErrUnregisteredType before anything is written; an
//     unknown type on read fails with ErrUnknownEventType.
//   - Stream names are Category + "-" + id, validated by StreamName.
//   - Keyed identity (G5). KeyedID derives a UUIDv5 from a business key, so every
//     command for one key meets in one stream and the stream's NoStream append
//     detects a second creation atomically.
//   - Snapshots (G7). A Snapshot holds the state, its revision, the processed command
//     ids the dedupe window needs and a schema version; the command handler ignores a
//     snapshot whose schema version differs from the code's and rebuilds from events.
//   - Business-key duplicates. Decide may return AlreadyDone(key) to say "this
//     business fact was already handled": the handler answers success with no events
//     and counts a duplicate by business key.
package aggregate
