package eventstore

import (
	"context"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// DefaultMaxAppendSize is the default limit on the bytes of one append (the sum of
// every event's type, data and metadata): 1 MiB, EventStoreDB's limit before 25.1, so
// that streams written to one backend can move to the other.
const DefaultMaxAppendSize = 1 << 20

// MaxStreamNameLength is the longest stream name, in bytes.
const MaxStreamNameLength = 512

// ValidateStreamName checks a stream name: not empty, at most MaxStreamNameLength
// bytes, valid UTF-8, no control characters or white space, and not starting with
// "$", which EventStoreDB reserves for system streams. It returns an
// *InvalidStreamNameError.
func ValidateStreamName(name string) error {
	reason := ""
	switch {
	case name == "":
		reason = "empty"
	case len(name) > MaxStreamNameLength:
		reason = "longer than 512 bytes"
	case !utf8.ValidString(name):
		reason = "not valid UTF-8"
	case name[0] == '$':
		reason = "names starting with $ are reserved for system streams"
	default:
		for _, r := range name {
			if unicode.IsControl(r) || unicode.IsSpace(r) {
				reason = "contains white space or a control character"
				break
			}
		}
	}
	if reason == "" {
		return nil
	}
	return &InvalidStreamNameError{Name: name, Reason: reason}
}

// ValidateAppend checks an append before anything is written: the stream name, the
// expected revision, at least one event, every event's id (not zero, not repeated
// within the append) and type (not empty), and the total size against maxSize
// (DefaultMaxAppendSize when maxSize <= 0). Errors are wrapped with AppendError.
func ValidateAppend(stream string, expected ExpectedRevision, events []EventData, maxSize int) error {
	if err := ValidateStreamName(stream); err != nil {
		return AppendError(stream, expected, err)
	}
	if !expected.IsValid() {
		return AppendError(stream, expected, ErrInvalidExpectedRevision)
	}
	if len(events) == 0 {
		return AppendError(stream, expected, &InvalidEventError{Index: 0, Reason: "an append needs at least one event"})
	}
	if maxSize <= 0 {
		maxSize = DefaultMaxAppendSize
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
			return AppendError(stream, expected, &InvalidEventError{Index: i, ID: e.ID, Reason: reason})
		}
		seen[e.ID] = struct{}{}
		size += len(e.Type) + len(e.Data) + len(e.Metadata)
	}
	if size > maxSize {
		return AppendError(stream, expected, &AppendTooLargeError{Size: size, Limit: maxSize})
	}
	return nil
}

// ValidateReadStream checks the options of a ReadStream call.
func ValidateReadStream(stream string, o ReadOptions) error {
	if err := ValidateStreamName(stream); err != nil {
		return ReadStreamError(stream, err)
	}
	if o.HasFilter() {
		return ReadStreamError(stream, ErrInvalidReadOption)
	}
	return nil
}

// ValidateReadAll checks the options of a ReadAll or SubscribeAll call.
func ValidateReadAll(o ReadOptions) error {
	if o.Backwards {
		return ErrInvalidReadOption
	}
	return nil
}

// CheckReadStream checks a ReadStream call before anything is read: the stream
// name, the options and ctx. The error is wrapped with ReadStreamError, ready to
// yield.
func CheckReadStream(ctx context.Context, stream string, o ReadOptions) error {
	if err := ValidateReadStream(stream, o); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return ReadStreamError(stream, err)
	}
	return nil
}

// CheckReadAll checks a ReadAll call before anything is read: the options and ctx.
// The error is wrapped with ReadAllError, ready to yield.
func CheckReadAll(ctx context.Context, after Position, o ReadOptions) error {
	if err := ValidateReadAll(o); err != nil {
		return ReadAllError(after, err)
	}
	if err := ctx.Err(); err != nil {
		return ReadAllError(after, err)
	}
	return nil
}
