// Package ops is idem's operations tool, as cobra commands: what an operator needs
// to answer "was this payment processed twice?", to look at streams, processed
// commands, projections and parked events, to redrive parked events, to release
// stale reservation claims, and to rebuild and reconcile projections.
//
// Two kinds of commands live here. Those that need only the event store and the
// read model's bookkeeping (streams, stream, commands, command, projections,
// parked list/show/skip, reservations) work on any store; cmd/idem is a thin main
// that runs them:
//
//	idem --store events.db --read events.db.read projections
//
// Those that run the application's own code (rebuild, reconcile, parked retry:
// its projection handlers) exist only where the application mounts the command in
// its own binary, with WithProjections, as Marten's commands live in the
// application:
//
//	go run ./examples/demo ops rebuild invoices_per_customer
//
// --store and --read also take postgres:// URLs (with ?schema=NAME), for the
// PostgreSQL store and read models (projection/pgtarget).
//
// Listings never change anything: a SQLite store or read model is opened
// read-only for them, and a PostgreSQL one on sessions whose transactions are
// read-only. Every listing takes --json. Exit status: 0 ok, 1 failure
// (and a reconciliation that found mismatches), 2 usage. Errors are printed once,
// to standard error, as "idem: <message>". See docs/operations.md.
package ops
