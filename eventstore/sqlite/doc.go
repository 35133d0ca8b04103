// Package sqlite is idem's embedded event store: an eventstore.Store kept in one
// SQLite file (github.com/mattn/go-sqlite3, cgo).
//
// # Durability (DESIGN G11)
//
// The database runs in WAL mode with synchronous=FULL by default: an append is
// acknowledged only after its transaction is synced, so an acknowledged append
// survives a process crash, an OS crash and a power loss. Synchronous(Normal) trades
// the last few acknowledged transactions on power loss or OS crash for fewer syncs;
// see Normal.
//
// # Group commit
//
// Appends are handed to a single writer goroutine. It takes every append waiting in
// its queue and runs them in one BEGIN IMMEDIATE transaction, so one sync covers
// them all; throughput rises with the number of concurrent writers. Each append is
// still checked on its own (G1, G2) against the stream as the earlier appends of the
// same batch left it, inside its own SAVEPOINT: a refused append does not fail its
// neighbours, and two appends of one batch to the same stream see each other. If
// the commit fails, every append of the batch fails with that error and nothing of
// the batch is written.
//
// An append whose context is done before its batch starts fails with the
// context's error and writes nothing. Once its batch has started, the append waits
// for the batch's outcome even if its context ends meanwhile: it is then either
// committed and acknowledged, or it fails with the batch's error.
//
// # Idempotency (DESIGN G2)
//
// Ids are checked within a stream, by stream and revision (the UNIQUE(stream,
// revision) index), never through a global index on ids. Exact and NoStream appends
// are recognised as retries even after other events followed; Any and StreamExists
// appends when their ids are the stream's last events.
//
// # Several processes
//
// Several processes (or several Stores in one process) may open the same file.
// Writes are serialised by SQLite's write lock, which a writer waits for up to the
// busy timeout; conflicts still surface as *eventstore.WrongExpectedRevisionError,
// and a lock not obtained in time as an error matching eventstore.ErrUnavailable.
// Subscriptions see appends of the same Store at once and appends of other
// processes within the poll interval.
//
// # Schema
//
// Open creates and migrates the schema, whose version the backend keeps in the
// file's PRAGMA user_version (other code sharing the file must leave it alone). A
// file written by a newer version of this package fails to open with an error
// matching ErrSchemaTooNew.
package sqlite
