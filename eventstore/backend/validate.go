package backend

import (
	"context"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/idemkit/idem/eventstore"
)

// ValidateAppend checks an append before anything is written: the stream name, the
// expected revision, at least one event, every event's id (not zero, not repeated
// within the append) and type (not empty, valid UTF-8), and the total size against
// maxSize (eventstore.DefaultMaxAppendSize when maxSize <= 0). Errors are wrapped
// with AppendError.
func ValidateAppend(stream string, expected eventstore.ExpectedRevision, events []eventstore.EventData, maxSize int) error {
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return AppendError(stream, expected, err)
	}
	if !expected.IsValid() {
		return AppendError(stream, expected, eventstore.ErrInvalidExpectedRevision)
	}
	if len(events) == 0 {
		return AppendError(stream, expected, &eventstore.InvalidEventError{Index: 0, Reason: "an append needs at least one event"})
	}
	if maxSize <= 0 {
		maxSize = eventstore.DefaultMaxAppendSize
	}
	size := 0
	seen := make(map[uuid.UUID]struct{}, len(events))
	for i, e := range events {
		var reason string
		switch {
		case e.ID == uuid.Nil:
			reason = "zero id"
		case e.Type == "":
			reason = "empty type"
		case !utf8.ValidString(e.Type):
			reason = "type is not valid UTF-8"
		}
		if _, dup := seen[e.ID]; dup && reason == "" {
			reason = "id repeated within the append"
		}
		if reason != "" {
			return AppendError(stream, expected, &eventstore.InvalidEventError{Index: i, ID: e.ID, Reason: reason})
		}
		seen[e.ID] = struct{}{}
		size += len(e.Type) + len(e.Data) + len(e.Metadata)
	}
	if size > maxSize {
		return AppendError(stream, expected, &eventstore.AppendTooLargeError{Size: size, Limit: maxSize})
	}
	return nil
}

// CheckReadStream checks a ReadStream call before anything is read: the stream
// name, the options (filters do not apply to a stream) and ctx. The error is
// wrapped with ReadStreamError, ready to yield.
func CheckReadStream(ctx context.Context, stream string, o ReadOptions) error {
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return ReadStreamError(stream, err)
	}
	if o.HasFilter() {
		return ReadStreamError(stream, eventstore.ErrInvalidReadOption)
	}
	if err := ctx.Err(); err != nil {
		return ReadStreamError(stream, err)
	}
	return nil
}

// CheckReadAll checks a ReadAll call before anything is read: the options
// (Backwards does not apply to the log) and ctx. The error is wrapped with
// ReadAllError, ready to yield.
func CheckReadAll(ctx context.Context, after eventstore.Position, o ReadOptions) error {
	if err := ValidateReadAll(o); err != nil {
		return ReadAllError(after, err)
	}
	if err := ctx.Err(); err != nil {
		return ReadAllError(after, err)
	}
	return nil
}

// ValidateReadAll checks the options of a ReadAll or SubscribeAll call: Backwards
// does not apply to the log.
func ValidateReadAll(o ReadOptions) error {
	if o.Backwards {
		return eventstore.ErrInvalidReadOption
	}
	return nil
}
