package brokers

import (
	"context"

	"github.com/idemkit/idem/internal/quote"
)

// DeadLetter is a message the inbox refused for good, with why. It keeps the
// message's key, value and headers (the idempotency key among them), so a
// redrive after a fix is the same command and is deduplicated like any copy.
type DeadLetter struct {
	// Message is the refused message as it was read.
	Message Message
	// Reason says why, as a word; Err is the error (nil for
	// ReasonNoIdempotencyKey).
	Reason Reason
	Err    error
}

// Headers returns the message's headers with the dead-letter headers set: the
// reason, the error's text (cut to a few hundred bytes), the topic and the source
// position it was read from.
func (d DeadLetter) Headers() []Header {
	m := d.Message.WithHeader(HeaderDeadLetterReason, string(d.Reason))
	if d.Err != nil {
		m = m.WithHeader(HeaderDeadLetterError, quote.Trunc(d.Err.Error()))
	}
	m = m.WithHeader(HeaderDeadLetterTopic, d.Message.Topic)
	m = m.WithHeader(HeaderDeadLetterSource, d.Message.Source)
	return m.Headers
}

// DeadLetterer sends dead letters to the dead-letter destination of a broker (a
// topic, a subject). DeadLetter returns once the broker acknowledged the dead
// letter: only then is the refused message acknowledged.
type DeadLetterer interface {
	DeadLetter(ctx context.Context, d DeadLetter) error
}

// DeadLettererFunc is a function that is a DeadLetterer.
type DeadLettererFunc func(ctx context.Context, d DeadLetter) error

// DeadLetter calls f.
func (f DeadLettererFunc) DeadLetter(ctx context.Context, d DeadLetter) error { return f(ctx, d) }
