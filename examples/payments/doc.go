// Package payments is an example aggregate for idem: a card payment that is
// authorized once, captured in parts (each capture reference at most once, never
// more than authorized), refunded in parts (each refund reference at most once,
// never more than captured) and voided while nothing is captured.
//
// The domain is pure functions (Decide, Evolve) wrapped in an aggregate.Decider;
// Codec registers its event types explicitly. The command handler (package command)
// adds the I/O: loading, dedupe by command id, optimistic appends and retries.
//
// Business keys inside one aggregate (G5): a capture or refund reference
// is remembered in the state. Seeing a reference again with the same amount
// returns aggregate.AlreadyDone: the business fact is already recorded, and the
// handler answers a duplicate by business key that writes nothing. Seeing it with
// a different amount is rejected with ErrReferenceReused, so a reused reference is
// loud, never silently swallowed.
package payments
