// Package brokers puts idem between message brokers: an inbox that hands each
// message of a broker to a command handler and says when it may be
// acknowledged, and an outbox relay that publishes every event with its event id
// as the message id and moves its checkpoint only after the broker acknowledged.
// It holds what does not depend on a broker; packages kafka (franz-go) and natsjs
// (NATS JetStream) drive it over a real broker. See docs/brokers.md.
//
// # The inbox: what is acknowledged when
//
// Inbox.Process decides one message and returns once it may be acknowledged
// (its offset committed, its JetStream ack sent):
//
//   - The idempotency key comes from the message: the Idempotency-Key header by
//     default (WithKeyHeader), or an extractor (WithKeyFunc). A message without
//     one is dead-lettered with ReasonNoIdempotencyKey and acknowledged: it is
//     never handled under an invented id. Broker offsets and sequence numbers are
//     not ids: a replay job republishing history gives old messages new ones.
//   - The handler's answer is known: applied, a no-op, or a duplicate (G3, G4,
//     G5): acknowledged.
//   - A permanent refusal (a rejection, a reused key, an invalid or undecodable
//     command, a key claimed by another aggregate, a panicking decider): sent to
//     the dead-letter destination with the reason, then acknowledged. Refusals are
//     never frozen into the command id (G6), so a dead letter redriven later is
//     decided afresh.
//   - Anything else (a conflict budget exhausted, a store unavailable, an error
//     the classifier does not know) is an unknown outcome: retried with jittered
//     backoff, never acknowledged. A command handled twice because its first
//     outcome was unknown is recognised by its id (G2, G3).
//
// When the context ends (a shutdown, a partition revoked) the call in flight is
// given WithGrace to finish, so its answer is known and acknowledged rather than
// redelivered; a retry loop stops at once.
//
// # The relay
//
// Relay.Publish sends one event and returns once the broker acknowledged it,
// retrying with backoff until then. Its Reactor adapter runs it as a
// projection reactor, whose checkpoint moves only after Publish returned: at
// least once, and every copy carries the event id in the Idempotency-Key header
// (and, on JetStream, as Nats-Msg-Id) so that downstream consumers dedupe (G10).
package brokers
