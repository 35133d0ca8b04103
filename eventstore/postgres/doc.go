// Package postgres is idem's event store on PostgreSQL (github.com/jackc/pgx/v5):
// an eventstore.Store in a schema of a PostgreSQL database, shared by every
// replica of a service.
//
//	store, err := postgres.Open(ctx, "postgres://app@db.internal/orders", postgres.WithSchema("orders_events"))
//
// Open makes and owns a pgxpool.Pool; New takes a pool the caller owns. Several
// stores share a database in schemas of their own (WithSchema). Open creates the
// schema, its tables and its append function, or migrates them; the version is
// kept in the schema's idem_schema_version table, and a schema written by a newer
// version is refused (ErrSchemaTooNew), as is an events table idem did not make
// or whose shape changed (eventstore.ErrIncompatible). An older schema is
// migrated in place, in one transaction, its shape checked before and after.
// Options a constructor cannot use fail it with eventstore.ErrInvalidOption.
//
// # Finding events and snapshots
//
// Store is also an eventstore.EventFinder (FindEvent: one seek of an index on
// (stream, id), however long the stream) and an eventstore.SnapshotStore (the
// latest snapshot of each stream in the schema's idem_snapshots table; a save
// never replaces a later revision): the command handler uses both by default.
// command/pgsnap keeps snapshots in the same kind of table for events kept
// elsewhere, and projection/pgtarget keeps read models in the same database.
//
// # Positions never skip an event
//
// A sequence value is taken when a row is inserted but becomes visible when its
// transaction commits, so with a plain sequence a reader that moves past position N
// while the transaction holding N-1 is still open skips N-1 for good. This store
// serialises the assignment of positions: the append function takes a
// transaction-scoped advisory lock of the schema before it takes positions, and
// PostgreSQL releases it only after the commit is visible. So positions become
// visible in the order they were taken, every snapshot sees a prefix of the log
// (with gaps only where a transaction rolled back), and a reader that saw N never
// later finds an event below N: subscriptions, projections and catch-up reads can
// go by position alone. The lock is held from the append's checks to its commit;
// group commit (below) spreads it over many appends. Writers that insert into the
// events table without the append function break this; do not.
//
// # Appends
//
// An append is one call of the schema's append function, in one round trip: it
// checks the expected revision in the database (G1, UNIQUE (stream, revision)),
// recognises a retry of an append already written by its ids (G2, answered as
// eventstore.Replayed with the original revision and position; Written
// otherwise), and inserts the events. Conflicts come back as
// *eventstore.WrongExpectedRevisionError with the actual revision.
//
// # Group commit
//
// Appends of one Store share transactions, with no writer goroutine: an append
// that finds no batch running leads one, in its caller's goroutine; appends that
// arrive meanwhile queue behind it and form the next batch. A batch is one
// pgx.Batch: the append function once per append, pipelined in one round trip and
// committed as one implicit transaction, so one commit (one WAL flush) and one
// hold of the position lock cover many appends, and throughput rises with the
// number of concurrent writers. Each append is still checked on its own; a refused
// append writes nothing and does not fail its neighbours. If the batch fails (a
// cut connection, a server restart, a statement timeout, WithTimeout), every
// append of it fails with an error matching eventstore.ErrUnavailable: its outcome
// is unknown, and retrying it with the same ids is safe. WithMaxBatch(1) turns
// group commit off.
//
// # Subscriptions
//
// SubscribeAll reads the log after its position, then waits: appends through the
// same Store wake it on commit, appends of other processes through LISTEN/NOTIFY
// (the append function notifies the schema's channel; one connection per Store
// listens), and it polls every WithPollInterval in case a notification is lost.
//
// # Errors
//
// Failures of the server or the connection are *Error, typed by Kind
// (eventstore.ErrUnavailable, ErrIncompatible or ErrCorrupt) with the SQLSTATE;
// a pool with no free connection within WithTimeout gives one matching
// ErrPoolExhausted too. A row a tool damaged (a NULL where idem's schema forbids
// it, a negative revision) is reported as eventstore.ErrCorrupt with its position;
// a damaged snapshot row with its table and stream.
// Event types may not contain a NUL byte (PostgreSQL text cannot hold one).
package postgres
