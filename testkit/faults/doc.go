// Package faults wraps an eventstore.Store so that it fails the way real stores
// fail, on a deterministic schedule: an append that is written but whose
// acknowledgement is lost, an append that fails before writing, a read that fails
// midway, a subscription that drops, and delays.
//
// A fault is a Rule: what goes wrong (LostAck, FailBeforeAppend, FailReadAfter,
// DropSubscriptionAfter, Delay) and when (a Schedule: EveryNth, Probability, Once,
// After, OnCalls, FirstN, Always). Each rule numbers the calls it applies to from 1,
// and its schedule decides from that number alone whether call n is faulted, so a
// run with the same calls in the same order injects the same faults; a Probability
// schedule is a pure function of its seed and the call number.
//
// Every injected error matches ErrInjected and eventstore.ErrUnavailable with
// errors.Is, like a real network or backend failure whose outcome the caller does
// not know; errors.As with *InjectedError tells which fault it was. Store.Stats
// counts the calls seen and the faults injected.
//
// idem's own tests use it to prove that the command handler heals lost
// acknowledgements (G2, G3) and that projections survive dropped
// subscriptions (G8); teams can use it the same way on their own deciders.
package faults
