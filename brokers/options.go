package brokers

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// ErrInvalidOption: a constructor of this package (or of a broker package) was
// given an option it cannot use, or is missing a required one.
var ErrInvalidOption = errors.New("invalid broker option")

// Defaults of an Inbox and a Relay.
const (
	DefaultMinBackoff = 10 * time.Millisecond
	DefaultMaxBackoff = 5 * time.Second
	DefaultGrace      = 5 * time.Second
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidOption}, args...)...)
}

// InboxOption configures NewInbox. An option given a value it cannot use makes
// NewInbox fail with ErrInvalidOption.
type InboxOption func(*inboxConfig) error

type inboxConfig struct {
	key      func(Message) (string, error)
	classify func(error) Reason
	backoff  backoff
	grace    time.Duration
	log      *slog.Logger
}

// WithKeyHeader reads the idempotency key from the header name instead of
// HeaderIdempotencyKey (on JetStream, "Nats-Msg-Id" to share the broker's own
// dedupe id).
func WithKeyHeader(name string) InboxOption {
	return func(c *inboxConfig) error {
		if name == "" {
			return invalid("WithKeyHeader(\"\")")
		}
		c.key = headerKey(name)
		return nil
	}
}

// WithKeyFunc reads the idempotency key with f: from the value, from several
// headers... f returns "" or an error when the message has none; the message is
// then dead-lettered with ReasonNoIdempotencyKey. f must give every copy of a
// message the same key: never derive it from an offset or a sequence number.
func WithKeyFunc(f func(Message) (string, error)) InboxOption {
	return func(c *inboxConfig) error {
		if f == nil {
			return invalid("WithKeyFunc(nil)")
		}
		c.key = f
		return nil
	}
}

// WithClassifier sorts the Handler's errors with f instead of Classify: a
// non-empty Reason dead-letters the message, "" retries it. Wrap Classify to add
// an application's cases, such as a rejection that a later redrive may cure.
func WithClassifier(f func(error) Reason) InboxOption {
	return func(c *inboxConfig) error {
		if f == nil {
			return invalid("WithClassifier(nil)")
		}
		c.classify = f
		return nil
	}
}

// WithBackoff sets the bounds of the jittered exponential backoff between the
// attempts at a message whose outcome is unknown, and at publishing a dead
// letter. Defaults DefaultMinBackoff and DefaultMaxBackoff.
func WithBackoff(minimum, maximum time.Duration) InboxOption {
	return func(c *inboxConfig) error {
		if minimum <= 0 || maximum < minimum {
			return invalid("WithBackoff(%v, %v): need 0 < minimum <= maximum", minimum, maximum)
		}
		c.backoff = backoff{minimum, maximum}
		return nil
	}
}

// WithGrace sets how long a Handle call in flight (and the dead letter that may
// follow it) may go on after Process's context ended, so that a shutdown or a
// revoked partition acknowledges the command it was handling instead of leaving
// its outcome unknown. 0 cancels at once. Default DefaultGrace.
func WithGrace(d time.Duration) InboxOption {
	return func(c *inboxConfig) error {
		if d < 0 {
			return invalid("WithGrace(%v): negative", d)
		}
		c.grace = d
		return nil
	}
}

// WithLogger sets the logger of retries and dead letters; slog.Default() by
// default.
func WithLogger(l *slog.Logger) InboxOption {
	return func(c *inboxConfig) error {
		if l == nil {
			return invalid("WithLogger(nil)")
		}
		c.log = l
		return nil
	}
}

// headerKey reads the idempotency key from the header name.
func headerKey(name string) func(Message) (string, error) {
	return func(m Message) (string, error) {
		k, _ := m.Header(name)
		if k == "" {
			return "", fmt.Errorf("no %s header", name)
		}
		return k, nil
	}
}
