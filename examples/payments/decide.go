package payments

import (
	"errors"
	"fmt"

	"github.com/idemkit/idem/aggregate"
)

// Domain errors. Decide wraps them with the values involved; match with errors.Is.
// A rejected command writes nothing and is not recorded (G6): its retry is
// decided afresh.
var (
	// ErrInvalidAmount: an amount is zero or negative.
	ErrInvalidAmount = errors.New("payments: amount must be positive")
	// ErrMissingReference: a capture or refund has no reference.
	ErrMissingReference = errors.New("payments: missing reference")
	// ErrAlreadyAuthorized: the payment was authorized before with other terms.
	ErrAlreadyAuthorized = errors.New("payments: already authorized")
	// ErrNotAuthorized: the payment has no authorization to capture, refund or void.
	ErrNotAuthorized = errors.New("payments: not authorized")
	// ErrVoided: the payment was voided.
	ErrVoided = errors.New("payments: payment voided")
	// ErrExceedsAuthorized: the capture would take more than was authorized.
	ErrExceedsAuthorized = errors.New("payments: capture exceeds authorized amount")
	// ErrExceedsCaptured: the refund would give back more than was captured.
	ErrExceedsCaptured = errors.New("payments: refund exceeds captured amount")
	// ErrAlreadyCaptured: a void came after money was captured.
	ErrAlreadyCaptured = errors.New("payments: money already captured")
	// ErrReferenceReused: a capture or refund reference was seen before with a
	// different amount.
	ErrReferenceReused = errors.New("payments: reference reused with a different amount")
	// ErrUnknownCommand: the payload is not a payments command.
	ErrUnknownCommand = errors.New("payments: unknown command")
)

// Decide turns a command into events, given the payment's state. It is pure.
// A repeated business fact (an Authorize with the same terms, a Capture or Refund
// whose reference is recorded with the same amount, a Void of a voided payment)
// returns aggregate.AlreadyDone: the handler answers it as a duplicate by business
// key, with success and no events (G5).
func Decide(s State, cmd Command) ([]Event, error) {
	switch c := cmd.(type) {
	case Authorize:
		return decideAuthorize(s, c)
	case *Authorize:
		return decideAuthorize(s, *c)
	case Capture:
		return decideCapture(s, c)
	case *Capture:
		return decideCapture(s, *c)
	case Refund:
		return decideRefund(s, c)
	case *Refund:
		return decideRefund(s, *c)
	case Void:
		return decideVoid(s, c)
	case *Void:
		return decideVoid(s, *c)
	}
	return nil, fmt.Errorf("%w: %T", ErrUnknownCommand, cmd)
}

func decideAuthorize(s State, c Authorize) ([]Event, error) {
	if c.Amount <= 0 {
		return nil, fmt.Errorf("authorize %d: %w", c.Amount, ErrInvalidAmount)
	}
	if s.Status != StatusNew {
		if s.Authorized == c.Amount && s.Currency == c.Currency && s.Customer == c.Customer {
			return nil, aggregate.AlreadyDone("authorization")
		}
		return nil, fmt.Errorf("authorize %d %s: %w (%d %s)", c.Amount, c.Currency, ErrAlreadyAuthorized, s.Authorized, s.Currency)
	}
	return []Event{Authorized(c)}, nil
}

func decideCapture(s State, c Capture) ([]Event, error) {
	if err := checkMovement("capture", c.Reference, c.Amount); err != nil {
		return nil, err
	}
	if amount, seen := s.Captures[c.Reference]; seen {
		return sameOrReused("capture", c.Reference, amount, c.Amount)
	}
	switch s.Status {
	case StatusNew:
		return nil, fmt.Errorf("capture %s: %w", c.Reference, ErrNotAuthorized)
	case StatusVoided:
		return nil, fmt.Errorf("capture %s: %w", c.Reference, ErrVoided)
	}
	if s.Captured+c.Amount > s.Authorized {
		return nil, fmt.Errorf("capture %s of %d with %d of %d captured: %w", c.Reference, c.Amount, s.Captured, s.Authorized, ErrExceedsAuthorized)
	}
	return []Event{Captured(c)}, nil
}

func decideRefund(s State, c Refund) ([]Event, error) {
	if err := checkMovement("refund", c.Reference, c.Amount); err != nil {
		return nil, err
	}
	if amount, seen := s.Refunds[c.Reference]; seen {
		return sameOrReused("refund", c.Reference, amount, c.Amount)
	}
	if s.Status == StatusNew {
		return nil, fmt.Errorf("refund %s: %w", c.Reference, ErrNotAuthorized)
	}
	if s.Refunded+c.Amount > s.Captured {
		return nil, fmt.Errorf("refund %s of %d with %d of %d refunded: %w", c.Reference, c.Amount, s.Refunded, s.Captured, ErrExceedsCaptured)
	}
	return []Event{Refunded(c)}, nil
}

func decideVoid(s State, c Void) ([]Event, error) {
	switch {
	case s.Status == StatusNew:
		return nil, fmt.Errorf("void: %w", ErrNotAuthorized)
	case s.Status == StatusVoided:
		return nil, aggregate.AlreadyDone("void")
	case s.Captured > 0:
		return nil, fmt.Errorf("void with %d captured: %w", s.Captured, ErrAlreadyCaptured)
	}
	return []Event{Voided(c)}, nil
}

func checkMovement(op, reference string, amount int64) error {
	if reference == "" {
		return fmt.Errorf("%s: %w", op, ErrMissingReference)
	}
	if amount <= 0 {
		return fmt.Errorf("%s %s of %d: %w", op, reference, amount, ErrInvalidAmount)
	}
	return nil
}

// sameOrReused answers a reference seen before (G5, keys inside one
// aggregate): the same amount is the same fact again, a duplicate by business key;
// another amount is a misused key and is rejected loudly.
func sameOrReused(op, reference string, recorded, asked int64) ([]Event, error) {
	if recorded == asked {
		return nil, aggregate.AlreadyDone(op + " " + reference)
	}
	return nil, fmt.Errorf("%s %s of %d, recorded as %d: %w", op, reference, asked, recorded, ErrReferenceReused)
}
