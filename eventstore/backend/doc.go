// Package backend is for the authors of event store backends, as database/sql/driver
// is for the authors of SQL drivers: the checks every backend runs before it reads
// or writes, the idempotency rule (G2) as functions, the resolved read options and
// the error wrappers that give every backend the same messages. Users of a store
// need only package eventstore.
//
// A backend's Append starts with ValidateAppend, recognises retries with
// RetryWindow and SameIDs, reports conflicts with *eventstore.WrongExpectedRevisionError
// carrying StreamState, and wraps other failures with AppendError. Its reads start
// with CheckReadStream or CheckReadAll, filter with ReadOptions.Matches and wrap
// failures with ReadStreamError, ReadAllError and SubscribeError. A backend with a
// single log can queue its appends in a GroupCommit (batches that share one
// transaction) and serve SubscribeAll with Tail. Package eventstore/storetest then
// checks the whole contract.
package backend
