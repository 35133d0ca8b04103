package natsjs

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/idemkit/idem/brokers"
)

// Publisher publishes messages to JetStream, each to the partition of its key,
// and waits for the stream's acknowledgement. It is the outbox relay's
// brokers.Publisher, and what a producer of command messages uses.
type Publisher struct {
	js         jetstream.JetStream
	partitions int
}

// NewPublisher returns a publisher through js to partitions partitions of each
// subject (0: the subject itself, unpartitioned). A nil js or a negative count
// fails with brokers.ErrInvalidOption.
func NewPublisher(js jetstream.JetStream, partitions int) (*Publisher, error) {
	if js == nil || partitions < 0 {
		return nil, fmt.Errorf("%w: natsjs.NewPublisher(%v, %d)", brokers.ErrInvalidOption, js, partitions)
	}
	return &Publisher{js: js, partitions: partitions}, nil
}

// Publish publishes m under the message id id: Nats-Msg-Id and the
// Idempotency-Key header. duplicate is true when the stream already held a
// message with id within its duplicate window and stored nothing.
func (p *Publisher) Publish(ctx context.Context, id string, m brokers.Message) (duplicate bool, err error) {
	subject := m.Topic
	if p.partitions > 0 {
		subject = Subject(m.Topic, Partition(m.Key, p.partitions))
	}
	return p.send(ctx, subject, id, m.WithHeader(brokers.HeaderIdempotencyKey, id))
}

// send publishes m to subject with msgID as Nats-Msg-Id and waits for the
// stream's acknowledgement.
func (p *Publisher) send(ctx context.Context, subject, msgID string, m brokers.Message) (duplicate bool, err error) {
	ack, err := p.js.PublishMsg(ctx, natsMsg(subject, m), jetstream.WithMsgID(msgID))
	if err != nil {
		return false, fmt.Errorf("publish to %s (key %q): %w", subject, m.Key, err)
	}
	return ack.Duplicate, nil
}
