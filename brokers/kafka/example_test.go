package kafka_test

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/idemkit/idem/brokers"
	"github.com/idemkit/idem/brokers/internal/brokertest"
	"github.com/idemkit/idem/brokers/kafka"
	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/sqlitetarget"
)

// The wiring of docs/brokers.md: a command topic consumed into a handler, and
// the handler's events relayed to an events topic. (Compiled, not run: it needs
// a cluster.)
func Example_wiring() {
	ctx := context.Background()
	var (
		store  eventstore.Store // the event store
		h      *command.Handler[brokertest.State, brokertest.Command, brokertest.Event]
		runner *projection.Runner[*sqlitetarget.Tx] // over store, with its reactor checkpoints
	)
	codec, _ := brokertest.NewCodec()

	// Inbox: each record's Idempotency-Key header is the command id; the record
	// key is the aggregate id; the Idem-Command-Type header names the command.
	inbox, err := brokers.NewInbox(brokers.Commands(h, codec))
	if err != nil {
		return
	}
	consumer, err := kafka.NewConsumer(inbox, "ledger-workers", []string{"ledger-commands"},
		kafka.WithClientOptions(kgo.SeedBrokers("localhost:9092"), kgo.InstanceID("worker-1")))
	if err != nil {
		return
	}
	go consumer.Run(ctx) // dead letters go to "ledger-commands.dead-letter"

	// Outbox relay: every event, keyed by its stream, its id as Idempotency-Key.
	producer, err := kgo.NewClient(kgo.SeedBrokers("localhost:9092")) // idempotent by default
	if err != nil {
		return
	}
	pub, _ := kafka.NewPublisher(producer)
	relay, err := brokers.NewRelay(pub, "ledger-events")
	if err != nil {
		return
	}
	_ = runner.AddReactor(relay.Reactor("ledger-relay"))
	_ = runner.Run(ctx)
	_ = store
}
