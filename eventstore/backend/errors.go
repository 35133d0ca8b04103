package backend

import (
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/internal/quote"
)

// AppendError wraps err with what was being done: "append to S expecting R: err".
// Backends use it for every append failure except
// *eventstore.WrongExpectedRevisionError, whose own message already says so. The
// stream name is cut to a few hundred bytes.
func AppendError(stream string, expected eventstore.ExpectedRevision, err error) error {
	var wrong *eventstore.WrongExpectedRevisionError
	if errors.As(err, &wrong) {
		return err
	}
	return fmt.Errorf("append to %s expecting %s: %w", quote.Trunc(stream), expected, err)
}

// ReadStreamError wraps err with the stream being read: "read stream S: err".
func ReadStreamError(stream string, err error) error {
	return fmt.Errorf("read stream %s: %w", quote.Trunc(stream), err)
}

// ReadAllError wraps err with the position being read from: "read all after P: err".
func ReadAllError(after eventstore.Position, err error) error {
	return fmt.Errorf("read all after %s: %w", after, err)
}

// SubscribeError wraps err with the subscription's start: "subscribe to all after P: err".
func SubscribeError(after eventstore.Position, err error) error {
	return fmt.Errorf("subscribe to all after %s: %w", after, err)
}

// FindEventError wraps err with the lookup: "find event ID in stream S: err".
func FindEventError(stream string, id uuid.UUID, err error) error {
	return fmt.Errorf("find event %s in stream %s: %w", id, quote.Trunc(stream), err)
}

// SnapshotError wraps err with the operation on a stream's snapshot: "load snapshot
// of S: err".
func SnapshotError(op, stream string, err error) error {
	return fmt.Errorf("%s snapshot of %s: %w", op, quote.Trunc(stream), err)
}
