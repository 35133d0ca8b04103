package command

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/idemkit/idem/aggregate"
	"github.com/idemkit/idem/internal/quote"
)

// MaxCommandIDLength is the longest command id, in bytes.
const MaxCommandIDLength = 256

// MaxMetadataSize is the most bytes of keys and values a command's Metadata may
// hold: it is copied into every event the command writes.
const MaxMetadataSize = 16 << 10

// Command is the envelope of one command whose payload is a C, the domain's
// command type.
type Command[C any] struct {
	// ID is the idempotency key: every delivery of one command carries the same ID
	// (the message id, never a broker offset). It must not be empty; at most
	// MaxCommandIDLength bytes of UTF-8 without control characters.
	ID string
	// AggregateID names the aggregate; its stream is Decider.Category + "-" +
	// AggregateID. Use aggregate.KeyedID for ids derived from a business key.
	AggregateID string
	// Payload is the command itself, a value of a type registered in the codec.
	Payload C
	// CorrelationID and CausationID are copied into the metadata of every event
	// the command causes (valid UTF-8, at most MaxCommandIDLength bytes).
	CorrelationID string
	CausationID   string
	// Metadata is copied into the metadata of every event the command causes (valid
	// UTF-8, at most MaxMetadataSize bytes in all).
	Metadata map[string]string
}

var (
	// ErrInvalidCommand matches every *InvalidCommandError.
	ErrInvalidCommand = errors.New("invalid command")
	// ErrEmptyCommandID: the command has no id.
	ErrEmptyCommandID = errors.New("empty command id")
	// ErrCommandIDTooLong: the command id is longer than MaxCommandIDLength.
	ErrCommandIDTooLong = errors.New("command id too long")
	// ErrNilPayload: the command has no payload.
	ErrNilPayload = errors.New("nil command payload")
)

// InvalidCommandError reports a command refused before anything was read or written.
// It matches ErrInvalidCommand and the cause in Err (ErrEmptyCommandID,
// ErrCommandIDTooLong, ErrNilPayload, aggregate.ErrInvalidAggregateID,
// aggregate.ErrUnregisteredType, eventstore.ErrAppendTooLarge...).
type InvalidCommandError struct {
	// CommandID is the command's id, cut to a few hundred bytes.
	CommandID string
	// Field is the field at fault: "ID", "AggregateID", "Payload", "CorrelationID",
	// "CausationID", "Metadata".
	Field string
	// Err is the cause.
	Err error
}

// Error names the command, the field and the cause.
func (e *InvalidCommandError) Error() string {
	return fmt.Sprintf("%v %s: %s: %v", ErrInvalidCommand, quote.Q(e.CommandID), e.Field, e.Err)
}

// Unwrap returns the cause.
func (e *InvalidCommandError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrInvalidCommand) true.
func (e *InvalidCommandError) Is(target error) bool { return target == ErrInvalidCommand }

// Validate checks the envelope without a codec: the id, the aggregate id, a
// payload, and the text fields (G11: invalid UTF-8 would be silently replaced in
// the events' JSON metadata, so it is refused).
func (c Command[C]) Validate() error {
	invalid := func(field string, err error) error {
		return &InvalidCommandError{CommandID: quote.Trunc(c.ID), Field: field, Err: err}
	}
	switch {
	case c.ID == "":
		return invalid("ID", ErrEmptyCommandID)
	case len(c.ID) > MaxCommandIDLength:
		return invalid("ID", ErrCommandIDTooLong)
	case !utf8.ValidString(c.ID):
		return invalid("ID", fmt.Errorf("%w: not valid UTF-8", ErrInvalidCommand))
	}
	for _, r := range c.ID {
		if unicode.IsControl(r) {
			return invalid("ID", fmt.Errorf("%w: control character", ErrInvalidCommand))
		}
	}
	if err := aggregate.ValidateID(c.AggregateID); err != nil {
		return invalid("AggregateID", err)
	}
	if isNil(c.Payload) {
		return invalid("Payload", ErrNilPayload)
	}
	for _, f := range [...]struct{ name, value string }{{"CorrelationID", c.CorrelationID}, {"CausationID", c.CausationID}} {
		if err := checkText(f.value, MaxCommandIDLength); err != nil {
			return invalid(f.name, err)
		}
	}
	size := 0
	for k, v := range c.Metadata {
		size += len(k) + len(v)
		if err := checkText(k, MaxCommandIDLength); err != nil {
			return invalid("Metadata", fmt.Errorf("key %s: %w", quote.Q(k), err))
		}
		if err := checkText(v, MaxMetadataSize); err != nil {
			return invalid("Metadata", fmt.Errorf("value of %s: %w", quote.Q(k), err))
		}
	}
	if size > MaxMetadataSize {
		return invalid("Metadata", fmt.Errorf("%w: %d bytes of keys and values, limit %d", ErrInvalidCommand, size, MaxMetadataSize))
	}
	return nil
}

// checkText checks a text field of the envelope: valid UTF-8, at most max bytes.
func checkText(s string, max int) error {
	switch {
	case len(s) > max:
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidCommand, max)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidCommand)
	}
	return nil
}
