package brokers

import (
	"errors"

	"github.com/idemkit/idem"
	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/reservation"
)

// Reason says why a message was dead-lettered. It travels in the
// HeaderDeadLetterReason header, so a redrive job can pick what to send back. An
// application's classifier may return reasons of its own (WithClassifier).
type Reason string

// The reasons of the default classifier, Classify, and of the inbox itself.
const (
	// ReasonNoIdempotencyKey: the message had no idempotency key. It was not
	// handled: an invented id would make every redelivery a new command.
	ReasonNoIdempotencyKey Reason = "no-idempotency-key"
	// ReasonUndecodable: the message's command could not be decoded (ErrUndecodable).
	ReasonUndecodable Reason = "undecodable"
	// ReasonRejected: the decider refused the command (command.ErrRejected). Not
	// recorded (G6): a redrive is decided afresh.
	ReasonRejected Reason = "rejected"
	// ReasonKeyReused: the id was recorded with another payload
	// (command.ErrIdempotencyKeyReused): the sender misused the key.
	ReasonKeyReused Reason = "key-reused"
	// ReasonInvalidCommand: the envelope was refused before any I/O
	// (command.ErrInvalidCommand).
	ReasonInvalidCommand Reason = "invalid-command"
	// ReasonClaimed: a business key of the command belongs to another aggregate
	// (reservation.ErrClaimed).
	ReasonClaimed Reason = "claimed"
	// ReasonPanicked: the decider (or the codec) panicked (idem.ErrPanicked). A
	// panic is a bug; retrying it in place would stall the partition for good.
	ReasonPanicked Reason = "panicked"
)

// Classify is the default classifier: the Reason an error of a Handler is a
// permanent refusal, or "" when the outcome is unknown and the message must be
// retried. Unknown errors are retried: acknowledging a message whose outcome is
// unknown could lose it.
func Classify(err error) Reason {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrUndecodable):
		return ReasonUndecodable
	case errors.Is(err, command.ErrIdempotencyKeyReused):
		return ReasonKeyReused
	case errors.Is(err, command.ErrRejected):
		return ReasonRejected
	case errors.Is(err, command.ErrInvalidCommand):
		return ReasonInvalidCommand
	case errors.Is(err, reservation.ErrClaimed):
		return ReasonClaimed
	case errors.Is(err, idem.ErrPanicked):
		return ReasonPanicked
	}
	return ""
}
