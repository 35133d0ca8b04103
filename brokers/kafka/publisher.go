package kafka

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/idemkit/idem/brokers"
)

// Publisher produces messages to Kafka and waits for the broker's
// acknowledgement. It is the outbox relay's brokers.Publisher.
type Publisher struct{ cl *kgo.Client }

// NewPublisher returns a publisher producing with cl. Leave producer idempotence
// on (franz-go's default, with acks from all in-sync replicas): a record the
// client retries after a lost response is then written once. A nil client fails
// with brokers.ErrInvalidOption.
func NewPublisher(cl *kgo.Client) (*Publisher, error) {
	if cl == nil {
		return nil, fmt.Errorf("%w: kafka.NewPublisher(nil)", brokers.ErrInvalidOption)
	}
	return &Publisher{cl: cl}, nil
}

// Publish produces m with id in its Idempotency-Key header and returns once the
// broker acknowledged it. Kafka reports no duplicates: duplicate is always false.
func (p *Publisher) Publish(ctx context.Context, id string, m brokers.Message) (duplicate bool, err error) {
	return false, produce(ctx, p.cl, m.WithHeader(brokers.HeaderIdempotencyKey, id))
}

// produce sends m and waits for the broker's acknowledgement.
func produce(ctx context.Context, cl *kgo.Client, m brokers.Message) error {
	if err := cl.ProduceSync(ctx, Record(m)).FirstErr(); err != nil {
		return fmt.Errorf("produce to %s (key %q): %w", m.Topic, m.Key, err)
	}
	return nil
}
