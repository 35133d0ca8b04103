package natsjs

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/idemkit/idem/brokers"
)

// Defaults of a Consumer.
const (
	DefaultDurable          = "idem-inbox"
	DefaultAckWait          = 30 * time.Second
	DefaultDeadLetterSuffix = ".dead-letter"
)

// Option configures NewConsumer. An option given a value it cannot use makes
// NewConsumer fail with brokers.ErrInvalidOption.
type Option func(*config) error

type config struct {
	partitions int
	durable    string
	ackWait    time.Duration
	deadLetter string
	log        *slog.Logger
}

// WithPartitions sets the number of partitions of the subject, as its
// publishers use it. Default DefaultPartitions.
func WithPartitions(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return invalid("WithPartitions(%d): need at least 1", n)
		}
		c.partitions = n
		return nil
	}
}

// WithDurable sets the name of the durable consumers: partition p's is
// "<name>-<p>". Default DefaultDurable.
func WithDurable(name string) Option {
	return func(c *config) error {
		if name == "" {
			return invalid("WithDurable(\"\")")
		}
		c.durable = name
		return nil
	}
}

// WithAckWait sets how long the server waits for the acknowledgement of a
// message before it delivers it again: how long a SIGKILLed process holds its
// partitions. The consumer extends it while a message's outcome is unknown.
// Default DefaultAckWait.
func WithAckWait(d time.Duration) Option {
	return func(c *config) error {
		if d < 100*time.Millisecond {
			return invalid("WithAckWait(%v): need at least 100ms", d)
		}
		c.ackWait = d
		return nil
	}
}

// WithDeadLetterSubject sets the subject dead letters are published to (a
// stream must capture it). Default: the subject + DefaultDeadLetterSuffix.
func WithDeadLetterSubject(subject string) Option {
	return func(c *config) error {
		if subject == "" {
			return invalid("WithDeadLetterSubject(\"\")")
		}
		c.deadLetter = subject
		return nil
	}
}

// WithLogger sets the logger of fetch and ack failures; slog.Default() by
// default.
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
	return fmt.Errorf("%w: natsjs: "+format, append([]any{brokers.ErrInvalidOption}, args...)...)
}
