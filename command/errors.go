package command

import (
	"errors"
	"fmt"

	"github.com/idemkit/idem/internal/quote"
)

var (
	// ErrIdempotencyKeyReused: a command id already recorded with a different
	// payload fingerprint (G3). Matches every *IdempotencyKeyReusedError.
	ErrIdempotencyKeyReused = errors.New("idempotency key reused with a different payload")
	// ErrRetriesExhausted: the handler met a conflict (or an unknown append outcome)
	// on every attempt its retry budget allowed (G4).
	ErrRetriesExhausted = errors.New("retries exhausted")
	// ErrRejected: the decider refused the command with a domain error (G6).
	ErrRejected = errors.New("command rejected")
	// ErrInvalidHandler: NewHandler was given a bad decider, codec, store or option.
	ErrInvalidHandler = errors.New("invalid command handler")
)

// IdempotencyKeyReusedError reports a command id recorded with one payload and sent
// again with another. Nothing was written.
type IdempotencyKeyReusedError struct {
	CommandID string
	Stream    string
	// Recorded is the fingerprint stored with the command's events; Received is the
	// fingerprint of the payload just sent.
	Recorded string
	Received string
}

// Error names the command, its stream and both fingerprints (shortened).
func (e *IdempotencyKeyReusedError) Error() string {
	return fmt.Sprintf("handle command %s on %s: %v: recorded fingerprint %s, received %s",
		quote.Q(e.CommandID), e.Stream, ErrIdempotencyKeyReused, short(e.Recorded), short(e.Received))
}

// Is makes errors.Is(err, ErrIdempotencyKeyReused) true.
func (e *IdempotencyKeyReusedError) Is(target error) bool { return target == ErrIdempotencyKeyReused }

// RetriesExhaustedError reports a command given up after Attempts appends failed
// with conflicts (or unknown outcomes). It wraps the last of them, so
// errors.Is(err, eventstore.ErrWrongExpectedRevision) holds after conflicts.
type RetriesExhaustedError struct {
	CommandID string
	Stream    string
	Attempts  int
	Last      error
}

// Error names the command, its stream, the attempts and the last failure.
func (e *RetriesExhaustedError) Error() string {
	return fmt.Sprintf("handle command %s on %s: %v after %d attempts: %v",
		quote.Q(e.CommandID), e.Stream, ErrRetriesExhausted, e.Attempts, e.Last)
}

// Unwrap returns the last conflict.
func (e *RetriesExhaustedError) Unwrap() error { return e.Last }

// Is makes errors.Is(err, ErrRetriesExhausted) true.
func (e *RetriesExhaustedError) Is(target error) bool { return target == ErrRetriesExhausted }

// RejectedError reports a command the decider refused. Err is the decider's error
// (errors.Is and errors.As reach it), or, for a rejection answered from a recorded
// marker event (WithRecordedRejections), an error holding the recorded text.
type RejectedError struct {
	CommandID string
	Stream    string
	Err       error
	// Recorded is true when the rejection is stored in the stream (WithRecordedRejections):
	// either it was just recorded, or this call is a duplicate answered from it.
	Recorded bool
	// Duplicate is true when this call was answered from a recorded rejection.
	Duplicate bool
}

// Error names the command, its stream and the decider's error.
func (e *RejectedError) Error() string {
	return fmt.Sprintf("handle command %s on %s: %v: %v", quote.Q(e.CommandID), e.Stream, ErrRejected, e.Err)
}

// Unwrap returns the decider's error.
func (e *RejectedError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrRejected) true.
func (e *RejectedError) Is(target error) bool { return target == ErrRejected }

func short(fp string) string {
	if len(fp) > 12 {
		return fp[:12]
	}
	return fp
}
