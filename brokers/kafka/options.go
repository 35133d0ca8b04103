package kafka

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/idemkit/idem/brokers"
)

// Defaults of a Consumer.
const (
	DefaultCommitInterval   = 500 * time.Millisecond
	DefaultDeadLetterSuffix = ".dead-letter"
)

// Option configures NewConsumer. An option given a value it cannot use makes
// NewConsumer fail with brokers.ErrInvalidOption.
type Option func(*config) error

type config struct {
	client         []kgo.Opt
	deadLetter     func(topic string) string
	commitInterval time.Duration
	log            *slog.Logger
}

// WithClientOptions adds franz-go client options: seed brokers, TLS, SASL,
// kgo.InstanceID for static membership, session timeouts... The consumer sets
// the group, the topics, manual commits and the rebalance callbacks itself.
func WithClientOptions(opts ...kgo.Opt) Option {
	return func(c *config) error {
		c.client = append(c.client, opts...)
		return nil
	}
}

// WithDeadLetterTopic sends every dead letter to topic. By default a record of
// topic T is dead-lettered to T + DefaultDeadLetterSuffix. The topic must exist
// (or the cluster create topics on first use).
func WithDeadLetterTopic(topic string) Option {
	return func(c *config) error {
		if topic == "" {
			return invalid("WithDeadLetterTopic(\"\")")
		}
		c.deadLetter = func(string) string { return topic }
		return nil
	}
}

// WithCommitInterval sets how often the offsets of handled records are
// committed. A crash redelivers at most this long's worth of handled records,
// which the handler answers as duplicates; revocations and shutdown always
// commit. Default DefaultCommitInterval.
func WithCommitInterval(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return invalid("WithCommitInterval(%v): need a positive interval", d)
		}
		c.commitInterval = d
		return nil
	}
}

// WithLogger sets the logger of rebalances, commits and fetch errors;
// slog.Default() by default.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return invalid("WithLogger(nil)")
		}
		c.log = l
		return nil
	}
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: kafka: "+format, append([]any{brokers.ErrInvalidOption}, args...)...)
}
