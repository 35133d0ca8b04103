// Package kafka runs idem's inbox and outbox relay on Apache Kafka, through
// github.com/twmb/franz-go (package brokers holds what does not depend on the
// broker; docs/brokers.md walks through the wiring).
//
// A Consumer reads command topics in a consumer group and hands every record to
// a brokers.Inbox, in offset order per partition and concurrently across
// partitions (the partition key is the aggregate id, so an aggregate's commands
// keep their order). A partition's offset is committed only up to the records
// whose outcome is known (handled, or dead-lettered to the dead-letter topic and
// acknowledged by the broker), every CommitInterval, when a partition is
// revoked, and at shutdown; a record whose outcome is unknown is retried in
// place and never committed. A consumer SIGKILLed between a Handle and the next
// commit leaves the handled records uncommitted: the group delivers them again,
// and the command handler answers them as duplicates (G3).
//
// Rebalances: a revoked partition stops after the record in flight (given the
// inbox's grace to finish), commits what it handled, then lets the revocation
// complete, so its next owner starts where it stopped; a lost partition (the
// member was fenced) commits nothing, its records are delivered again. Records
// keep flowing on the other partitions throughout.
//
// A Publisher produces records with producer idempotence on (franz-go's
// default), so the client's own retries never write a record twice; it is the
// outbox relay's seam and sends the Consumer's dead letters. Idempotence covers
// one producer session: a relay restarted after a crash publishes its last
// events again, under the same Idempotency-Key header, for consumers to dedupe.
package kafka
