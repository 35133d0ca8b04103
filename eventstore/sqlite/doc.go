// Package sqlite is idem's embedded event store: an eventstore.Store kept in one
// SQLite file (github.com/mattn/go-sqlite3, cgo).
//
// # Durability (G11, docs/guarantees.md)
//
// The database runs in WAL mode with synchronous=FULL by default: an append is
// acknowledged only after its transaction is synced, so an acknowledged append
// survives a process crash, an OS crash and a power loss. Synchronous(Normal) trades
// the last few acknowledged transactions on power loss or OS crash for fewer syncs;
// see Normal.
//
// # Group commit
//
// Appends of one Store share transactions, with no writer goroutine: an append
// that finds no batch running leads one, in its caller's goroutine, taking the
// write lock with BEGIN IMMEDIATE; appends that arrive meanwhile queue behind it.
// When its batch has committed, the leader hands leadership to the oldest queued
// append, which runs everything queued as the next batch in one transaction, so
// one sync covers them all; throughput rises with the number of concurrent
// writers, and a lone append runs with no goroutine switch. Each append is still
// checked on its own (G1, G2) against the stream as the earlier appends of the
// same batch left it, and every check runs before the append writes anything: a
// refused append writes nothing and does not fail its neighbours, and two appends
// of one batch to the same stream see each other. Callers get their outcomes only
// after the commit. A batch reads the heads of its streams with one statement
// and, once every append is checked, inserts the events of the accepted ones
// together with multi-row INSERTs. If the commit fails, or those inserts fail (a
// full disk, an I/O error, a value SQLite refuses), every append of the batch
// fails with that error and nothing of the batch is written.
//
// An append whose context is done before its batch starts fails with the
// context's error and writes nothing. Once its batch has started, the append waits
// for the batch's outcome even if its context ends meanwhile: it is then either
// committed and acknowledged, or it fails with the batch's error. A leader waiting
// for the write lock held by another connection may give up too: its append fails
// with its context's error, and the appends queued behind it pass to a new leader.
// Close waits for the running batch and the appends queued behind it.
//
// # Idempotency (G2, docs/guarantees.md)
//
// Ids are checked within a stream, by stream and revision (the UNIQUE(stream,
// revision) index, which also gives a stream's head), never through a global
// index on ids. Exact and NoStream appends are recognised as retries even after
// other events followed; Any and StreamExists appends when their ids are the
// stream's last events.
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
// matching ErrSchemaTooNew; one that is not a database, whose schema version is
// not one of this package's, or whose events table has another shape (see
// checkEventsTable) fails with one matching eventstore.ErrIncompatible. Open
// changes nothing in a file it refuses, not even its journal mode. A file, a
// directory or a file system the store cannot write fails with ErrReadOnly.
//
// # Failures
//
// Errors of SQLite are *StorageError, whose Kind tells the truth about retrying:
// only eventstore.ErrUnavailable (the write lock not obtained in time, an I/O
// error, a full disk) is worth retrying as it is.
//
// # Damaged files
//
// A row of the events table that is not an event (a column holding a value this
// package never writes: rows.go states the rule) or a revision missing from a
// stream is reported with a *CorruptEventError, matching eventstore.ErrCorrupt and
// naming the row's position, stream and revision, by every read that covers it:
// never skipped, never converted, never a panic or a hang. Other streams, and the
// log after the row, stay readable.
package sqlite
