// Package natsjs runs idem's inbox and outbox relay on NATS JetStream, through
// github.com/nats-io/nats.go (package brokers holds what does not depend on the
// broker; docs/brokers.md walks through the wiring).
//
// JetStream has no partitions of its own, so this package makes them from
// subjects: a message keyed k is published to subject "<subject>.<p>" with p =
// Partition(k, n), and each partition has a durable pull consumer with
// MaxAckPending 1, the JetStream way to strict order. Every Consumer process
// pulls from every partition: the server hands a partition's next message to one
// of them only once the previous one was acknowledged, so an aggregate's commands
// keep their order and partitions are handled concurrently, with no group to
// rebalance. A process that joins or leaves just adds or removes pull requests.
//
// A message is acknowledged (a double ack, confirmed by the server) only once
// the inbox knows its outcome; permanent refusals are published to the
// dead-letter subject first. While the outcome is unknown the message is
// retried in place and its ack deadline extended (InProgress), so no other
// process takes it. At shutdown a message whose outcome is still unknown is
// negatively acknowledged, so another process takes it at once; a process that
// was SIGKILLed holds its messages until AckWait passes, then the server
// delivers them again and the command handler answers them as duplicates (G3).
//
// A Publisher publishes with the message id as Nats-Msg-Id: JetStream drops a
// copy published again within the stream's duplicate window (Duplicates, two
// minutes by default) and says so. Beyond the window, and for copies published
// under another id, dedupe is the consumer's: idem's command handler for
// commands, the downstream consumer (on the Idempotency-Key header) for relayed
// events.
package natsjs
