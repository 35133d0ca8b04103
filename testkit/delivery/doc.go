// Package delivery simulates at-least-once delivery: a list of commands (or any
// messages) reaches a set of concurrent consumers duplicated, reordered, delayed,
// replayed, sometimes to two consumers at the same instant, and redelivered after
// a handler error, the way queues and brokers really deliver. It reports what was
// delivered how often, so a test can assert that the business outcome is the same
// as if each message had been delivered once.
//
// A Plan fixes the rates and the seed. Plan.Schedule turns n messages into a
// delivery schedule, a pure function of the plan: the same seed gives the same
// schedule. Run plays a schedule to concurrent consumers; the goroutines'
// interleaving is, of course, not deterministic, which is the point of running it.
//
// idem's examples and demo use it to show that a command handler keeps G3
// and G4 under redelivery.
package delivery
