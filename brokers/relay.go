package brokers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/internal/callback"
)

// Publisher sends messages to a broker: the outbox relay's seam. kafka.Publisher
// and natsjs.Publisher implement it.
type Publisher interface {
	// Publish sends m with id as its message id (HeaderIdempotencyKey; on
	// JetStream also Nats-Msg-Id) and returns once the broker acknowledged it.
	// duplicate is true when the broker recognised id and stored nothing.
	Publish(ctx context.Context, id string, m Message) (duplicate bool, err error)
}

// RelayOption configures NewRelay. An option given a value it cannot use makes
// NewRelay fail with ErrInvalidOption.
type RelayOption func(*relayConfig) error

type relayConfig struct {
	message func(topic string, e eventstore.RecordedEvent) (Message, error)
	backoff backoff
	log     *slog.Logger
}

// WithEventMessage builds each event's message with f instead of EventMessage.
// The relay still sets the message id to the event id.
func WithEventMessage(f func(topic string, e eventstore.RecordedEvent) (Message, error)) RelayOption {
	return func(c *relayConfig) error {
		if f == nil {
			return invalid("WithEventMessage(nil)")
		}
		c.message = f
		return nil
	}
}

// WithRelayBackoff sets the bounds of the jittered exponential backoff between
// attempts at publishing one event. Defaults DefaultMinBackoff and
// DefaultMaxBackoff.
func WithRelayBackoff(minimum, maximum time.Duration) RelayOption {
	return func(c *relayConfig) error {
		if minimum <= 0 || maximum < minimum {
			return invalid("WithRelayBackoff(%v, %v): need 0 < minimum <= maximum", minimum, maximum)
		}
		c.backoff = backoff{minimum, maximum}
		return nil
	}
}

// WithRelayLogger sets the logger of failed publications; slog.Default() by
// default.
func WithRelayLogger(l *slog.Logger) RelayOption {
	return func(c *relayConfig) error {
		if l == nil {
			return invalid("WithRelayLogger(nil)")
		}
		c.log = l
		return nil
	}
}

// Relay publishes events to a broker, at least once, each under its event id as
// message id. Run it as a projection reactor (Reactor), whose checkpoint moves
// only after Publish returned.
type Relay struct {
	pub   Publisher
	topic string
	cfg   relayConfig
	stats relayCounters
}

// NewRelay returns a relay that publishes to topic (a Kafka topic, a NATS
// subject prefix) through pub. A nil publisher, an empty topic or an invalid
// option fails with ErrInvalidOption.
func NewRelay(pub Publisher, topic string, opts ...RelayOption) (*Relay, error) {
	cfg := relayConfig{message: EventMessage, backoff: backoff{DefaultMinBackoff, DefaultMaxBackoff}, log: slog.Default()}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	switch {
	case pub == nil:
		return nil, invalid("NewRelay: nil publisher")
	case topic == "":
		return nil, invalid("NewRelay: empty topic")
	}
	return &Relay{pub: pub, topic: topic, cfg: cfg}, nil
}

// Stats returns a snapshot of the relay's counters.
func (r *Relay) Stats() RelayStats { return r.stats.snapshot() }

// Publish publishes e and returns once the broker acknowledged it, retrying with
// backoff until then or until ctx ends (the error is then ctx's: the caller must
// not move its checkpoint). Every attempt, and every later call for the same
// event, sends the same message id, e's id: a copy sent again after a crash is
// recognised by the broker's dedupe within its window (JetStream) and, beyond it,
// by a downstream consumer that dedupes on the id (G10).
func (r *Relay) Publish(ctx context.Context, e eventstore.RecordedEvent) error {
	id := e.ID.String()
	m, err := r.message(e)
	if err != nil {
		return err
	}
	m = m.WithHeader(HeaderIdempotencyKey, id)
	for attempt := 1; ; attempt++ {
		var dup bool
		err := callback.Call("relay Publisher", func() (err error) {
			dup, err = r.pub.Publish(ctx, id, m)
			return err
		})
		if err == nil {
			r.stats.published.Add(1)
			if dup {
				r.stats.duplicates.Add(1)
			}
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("relay event %s of %s: not acknowledged when the context ended: %w", id, e.Stream, errors.Join(ctx.Err(), err))
		}
		r.cfg.log.Warn("relay: publish failed, retrying", "event", id, "stream", e.Stream, "attempt", attempt, "error", err)
		if err := r.cfg.backoff.sleep(ctx, attempt); err != nil {
			return fmt.Errorf("relay event %s of %s: %w", id, e.Stream, err)
		}
		r.stats.retries.Add(1)
	}
}

// message builds e's message, turning a panic of a WithEventMessage function
// into an error.
func (r *Relay) message(e eventstore.RecordedEvent) (m Message, err error) {
	err = callback.Call("relay event message", func() error {
		m, err = r.cfg.message(r.topic, e)
		return err
	})
	if err != nil {
		return Message{}, fmt.Errorf("relay event %s of %s: build message: %w", e.ID, e.Stream, err)
	}
	return m, nil
}

// EventMessage is the relay's default message for an event: keyed by its stream
// (the events of one aggregate keep their order), the event's data as value, and
// headers naming its type, stream, revision and position, its metadata as
// stored, and the correlation and causation ids the command handler recorded.
func EventMessage(topic string, e eventstore.RecordedEvent) (Message, error) {
	m := Message{Topic: topic, Key: e.Stream, Value: e.Data, Headers: []Header{
		{HeaderEventType, e.Type},
		{HeaderStream, e.Stream},
		{HeaderRevision, strconv.FormatUint(e.Revision, 10)},
		{HeaderPosition, e.Position.String()},
	}}
	if len(e.Metadata) > 0 {
		m.Headers = append(m.Headers, Header{HeaderEventMetadata, string(e.Metadata)})
		if meta, err := command.DecodeMetadata(e.Metadata); err == nil {
			if meta.CorrelationID != "" {
				m.Headers = append(m.Headers, Header{HeaderCorrelationID, meta.CorrelationID})
			}
			if meta.CausationID != "" {
				m.Headers = append(m.Headers, Header{HeaderCausationID, meta.CausationID})
			}
		}
	}
	return m, nil
}
