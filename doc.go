// Package idem is a toolkit for event-sourced aggregates in which repeated delivery
// is ordinary and repeated business harm is rare.
//
// Distributed systems deliver messages at least once. idem makes that safe where the
// harm would happen, in the aggregate:
//
//   - package eventstore is the store contract (streams with revisions, a global log
//     ordered by Position, expected-revision checks, idempotent appends), with
//     backends in eventstore/sqlite (the embedded default), eventstore/postgres,
//     eventstore/esdb (EventStoreDB / KurrentDB) and eventstore/memory;
//   - package aggregate is the pure side: typed deciders, the codec with explicit type
//     names and upcasters, stream names and keyed identities;
//   - package command is the handler: it records every command's id in the
//     aggregate's own stream, in the same atomic append as the events it caused, so a
//     redelivered command returns its original result and writes nothing;
//   - package projection applies the global log to read models exactly once, its
//     checkpoint committed with the read model, and runs side effects (reactors)
//     that know live mode from replay mode;
//   - package testkit runs given-when-then tests that also redeliver every command.
//
// This package holds what every part shares: PanicError, the error a panic in user
// code becomes. docs/guarantees.md states each guarantee and names the test that
// proves it.
package idem
