package eventstore

import (
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/idemkit/idem/internal/quote"
)

// Sentinel errors. Every error a Store returns for these conditions matches the
// sentinel with errors.Is; the richer types below match with errors.As.
var (
	// ErrWrongExpectedRevision: the stream was not in the state the append expected.
	ErrWrongExpectedRevision = errors.New("wrong expected revision")
	// ErrInvalidExpectedRevision: the zero ExpectedRevision was passed.
	ErrInvalidExpectedRevision = errors.New("invalid expected revision")
	// ErrInvalidStreamName: the stream name breaks the rules of ValidateStreamName.
	ErrInvalidStreamName = errors.New("invalid stream name")
	// ErrInvalidEvent: an event of an append is malformed (see InvalidEventError).
	ErrInvalidEvent = errors.New("invalid event")
	// ErrAppendTooLarge: the append's data and metadata exceed the store's limit.
	// It also matches ErrInvalidEvent.
	ErrAppendTooLarge = errors.New("append too large")
	// ErrStreamNotFound: a read named a stream that has no events.
	ErrStreamNotFound = errors.New("stream not found")
	// ErrStreamDeleted: the stream was deleted for good (EventStoreDB tombstones).
	ErrStreamDeleted = errors.New("stream deleted")
	// ErrInvalidPosition: a Position's text form could not be parsed.
	ErrInvalidPosition = errors.New("invalid position")
	// ErrInvalidReadOption: a read option does not apply to the read it was given to.
	ErrInvalidReadOption = errors.New("invalid read option")
	// ErrCorrupt: a stored record could not be decoded; nothing was changed.
	ErrCorrupt = errors.New("corrupt record")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("event store closed")
	// ErrUnavailable: the backend could not be reached or did not answer in time; the
	// outcome of an append that fails with it is unknown, and retrying it with the
	// same ids is safe (G2). It is the one class of failure worth retrying as is.
	ErrUnavailable = errors.New("event store unavailable")
	// ErrInvalidOption: a store's constructor was given an option value it cannot
	// use (a negative limit, a nil clock). Nothing was opened.
	ErrInvalidOption = errors.New("invalid event store option")
	// ErrIncompatible: the database holds something this version cannot use, and
	// retrying will not change that: a table of the same name but another shape, a
	// schema written by a newer version, a file that is not a database. Nothing was
	// changed.
	ErrIncompatible = errors.New("incompatible event store")
)

// WrongExpectedRevisionError reports an append refused by its revision check.
type WrongExpectedRevisionError struct {
	// Stream is the stream appended to.
	Stream   string
	Expected ExpectedRevision
	// Actual is the stream's state when checked: NoStream, or Exact(last revision).
	// When a backend cannot tell (EventStoreDB without a readable answer) it is the
	// zero ExpectedRevision.
	Actual ExpectedRevision
}

// Error says which append failed, what it expected and what the stream held.
func (e *WrongExpectedRevisionError) Error() string {
	actual := "unknown"
	switch e.Actual.Kind() {
	case KindNoStream:
		actual = "no stream"
	case KindExact:
		actual = e.Actual.String()
	}
	return fmt.Sprintf("append to %s expecting %s: %v: actual %s", quote.Trunc(e.Stream), e.Expected, ErrWrongExpectedRevision, actual)
}

// Is makes errors.Is(err, ErrWrongExpectedRevision) true.
func (e *WrongExpectedRevisionError) Is(target error) bool { return target == ErrWrongExpectedRevision }

// InvalidEventError reports a malformed event in an append.
type InvalidEventError struct {
	// Index is the event's position within the append.
	Index  int
	ID     uuid.UUID
	Reason string
}

func (e *InvalidEventError) Error() string {
	return fmt.Sprintf("%v #%d (id %s): %s", ErrInvalidEvent, e.Index, e.ID, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidEvent) true.
func (e *InvalidEventError) Is(target error) bool { return target == ErrInvalidEvent }

// AppendTooLargeError reports an append whose size exceeds the store's limit.
type AppendTooLargeError struct {
	Size  int
	Limit int
}

func (e *AppendTooLargeError) Error() string {
	return fmt.Sprintf("%v: %d bytes of type, data and metadata, limit %d", ErrAppendTooLarge, e.Size, e.Limit)
}

// Is makes errors.Is match both ErrAppendTooLarge and ErrInvalidEvent.
func (e *AppendTooLargeError) Is(target error) bool {
	return target == ErrAppendTooLarge || target == ErrInvalidEvent
}

// InvalidStreamNameError reports a stream name that breaks the naming rules.
type InvalidStreamNameError struct {
	Name   string
	Reason string
}

func (e *InvalidStreamNameError) Error() string {
	return fmt.Sprintf("%v %s: %s", ErrInvalidStreamName, quote.Q(e.Name), e.Reason)
}

// Is makes errors.Is(err, ErrInvalidStreamName) true.
func (e *InvalidStreamNameError) Is(target error) bool { return target == ErrInvalidStreamName }
