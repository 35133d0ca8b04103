package command

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/idemkit/idem/aggregate"
	"github.com/idemkit/idem/internal/quote"
)

// MaxIDLength is the longest command id, in bytes.
const MaxIDLength = 256

// Command is the envelope of one command.
type Command struct {
	// ID is the idempotency key: every delivery of one command carries the same ID.
	// It must not be empty; at most MaxIDLength bytes of UTF-8 without control
	// characters.
	ID string
	// AggregateID names the aggregate; its stream is Decider.Category + "-" +
	// AggregateID. Use aggregate.KeyedID for ids derived from a business key.
	AggregateID string
	// Payload is the command itself, a value of a type registered in the codec.
	Payload any
	// CorrelationID and CausationID are copied into the metadata of every event
	// the command causes.
	CorrelationID string
	CausationID   string
	// Metadata is copied into the metadata of every event the command causes.
	Metadata map[string]string
}

var (
	// ErrInvalidCommand matches every *InvalidCommandError.
	ErrInvalidCommand = errors.New("invalid command")
	// ErrEmptyCommandID: the command has no id.
	ErrEmptyCommandID = errors.New("empty command id")
	// ErrCommandIDTooLong: the command id is longer than MaxIDLength.
	ErrCommandIDTooLong = errors.New("command id too long")
	// ErrNilPayload: the command has no payload.
	ErrNilPayload = errors.New("nil command payload")
)

// InvalidCommandError reports a command refused before anything was read or written.
// It matches ErrInvalidCommand and the sentinel in Err (ErrEmptyCommandID,
// ErrCommandIDTooLong, ErrNilPayload, aggregate.ErrInvalidAggregateID,
// aggregate.ErrUnregisteredType, ...).
type InvalidCommandError struct {
	// CommandID is the command's id, truncated.
	CommandID string
	// Field is the field at fault: "ID", "AggregateID", "Payload", "Metadata".
	Field string
	Err   error
}

func (e *InvalidCommandError) Error() string {
	return fmt.Sprintf("%v %q: %s: %v", ErrInvalidCommand, e.CommandID, e.Field, e.Err)
}

// Unwrap returns the cause.
func (e *InvalidCommandError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrInvalidCommand) true.
func (e *InvalidCommandError) Is(target error) bool { return target == ErrInvalidCommand }

// Validate checks the envelope without a codec: id, aggregate id, payload present.
func (c Command) Validate() error {
	switch {
	case c.ID == "":
		return &InvalidCommandError{Field: "ID", Err: ErrEmptyCommandID}
	case len(c.ID) > MaxIDLength:
		return &InvalidCommandError{CommandID: trunc(c.ID), Field: "ID", Err: ErrCommandIDTooLong}
	case !utf8.ValidString(c.ID):
		return &InvalidCommandError{CommandID: trunc(c.ID), Field: "ID", Err: fmt.Errorf("%w: not valid UTF-8", ErrInvalidCommand)}
	}
	for _, r := range c.ID {
		if unicode.IsControl(r) {
			return &InvalidCommandError{CommandID: trunc(c.ID), Field: "ID", Err: fmt.Errorf("%w: control character", ErrInvalidCommand)}
		}
	}
	if err := aggregate.ValidateID(c.AggregateID); err != nil {
		return &InvalidCommandError{CommandID: trunc(c.ID), Field: "AggregateID", Err: err}
	}
	if isNil(c.Payload) {
		return &InvalidCommandError{CommandID: trunc(c.ID), Field: "Payload", Err: ErrNilPayload}
	}
	// Text fields are copied into every event's metadata as JSON, which would
	// silently replace invalid UTF-8: refuse it instead (G11).
	for _, f := range [...]struct{ name, value string }{{"CorrelationID", c.CorrelationID}, {"CausationID", c.CausationID}} {
		if err := checkText(f.value, MaxIDLength); err != nil {
			return &InvalidCommandError{CommandID: trunc(c.ID), Field: f.name, Err: err}
		}
	}
	size := 0
	for k, v := range c.Metadata {
		size += len(k) + len(v)
		if err := checkText(k, MaxIDLength); err != nil {
			return &InvalidCommandError{CommandID: trunc(c.ID), Field: "Metadata", Err: fmt.Errorf("key %s: %w", quote.Q(k), err)}
		}
		if err := checkText(v, MaxMetadataSize); err != nil {
			return &InvalidCommandError{CommandID: trunc(c.ID), Field: "Metadata", Err: fmt.Errorf("value of %s: %w", quote.Q(k), err)}
		}
	}
	if size > MaxMetadataSize {
		return &InvalidCommandError{CommandID: trunc(c.ID), Field: "Metadata",
			Err: fmt.Errorf("%w: %d bytes of keys and values, limit %d", ErrInvalidCommand, size, MaxMetadataSize)}
	}
	return nil
}

// MaxMetadataSize is the most bytes of keys and values a command's Metadata may
// hold: it is copied into every event the command writes.
const MaxMetadataSize = 16 << 10

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

func trunc(s string) string {
	if len(s) <= 64 {
		return s
	}
	return s[:64] + "..."
}
