// Package memory is an in-process eventstore.Store for tests, examples and
// short-lived programs. It keeps every event in memory and loses them when the
// process ends.
//
// It keeps the eventstore contract exactly, never more loosely than the durable
// backends: it passes the same conformance suite (eventstore/storetest) as SQLite.
// Optimistic concurrency (G1), idempotent appends by event id (G2), typed errors for
// bad input and cancelled contexts (G11), catch-up subscriptions with no gap and no
// repeat, and ErrClosed after Close all behave as they do on a durable store.
// Byte slices are copied on the way in and on the way out, so a caller can't change
// stored events by mutating its slices.
package memory
