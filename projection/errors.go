package projection

import (
	"errors"
	"fmt"

	"github.com/idemkit/idem/eventstore"
)

// Sentinel errors, matchable with errors.Is.
var (
	// ErrInvalidProjection: a SQL projection or reactor definition is malformed
	// (empty name, version below 1, no handler, bad table name, duplicate name).
	ErrInvalidProjection = errors.New("invalid projection")
	// ErrHandlerFailed: a handler kept failing on an event after its retries and the
	// projection stopped (PoisonStop). The error is a *HandlerError naming the event.
	ErrHandlerFailed = errors.New("projection handler failed")
	// ErrRetired: the projection version has been replaced by a newer one (or is
	// older than the active one) and must not run any more.
	ErrRetired = errors.New("projection version retired")
	// ErrCheckpointMoved: the checkpoint changed under the runner: another runner is
	// applying the same projection version. The batch was rolled back.
	ErrCheckpointMoved = errors.New("projection checkpoint moved by another runner")
	// ErrUnknownProjection: no projection or reactor of that name was added to the
	// runner.
	ErrUnknownProjection = errors.New("unknown projection")
	// ErrParkedNotFound: no parked event with that id for that projection.
	ErrParkedNotFound = errors.New("parked event not found")
	// ErrRunning: the runner is already running.
	ErrRunning = errors.New("projection runner already running")
)

// HandlerError reports an event whose handler failed on every attempt. It names the
// projection and the event, so an operator can find it.
type HandlerError struct {
	Projection string
	// Version is the projection version; 0 for a reactor.
	Version  int
	EventID  string
	Type     string
	Stream   string
	Revision uint64
	Position eventstore.Position
	// Attempts is the number of times the handler was called for the event.
	Attempts int
	Err      error
}

func (e *HandlerError) Error() string {
	return fmt.Sprintf("%s: event %s (%s, %s@%d, position %s) failed after %d attempts: %v",
		label(e.Projection, e.Version), e.EventID, e.Type, e.Stream, e.Revision, e.Position, e.Attempts, e.Err)
}

// Unwrap returns the handler's error.
func (e *HandlerError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrHandlerFailed) true.
func (e *HandlerError) Is(target error) bool { return target == ErrHandlerFailed }

func newHandlerError(name string, version int, ev eventstore.RecordedEvent, attempts int, err error) *HandlerError {
	return &HandlerError{Projection: name, Version: version, EventID: ev.ID.String(), Type: ev.Type,
		Stream: ev.Stream, Revision: ev.Revision, Position: ev.Position, Attempts: attempts, Err: err}
}

// label is how errors and logs name a projection version: "projection invoices v2",
// or "reactor mailer".
func label(name string, version int) string {
	if version == 0 {
		return "reactor " + name
	}
	return fmt.Sprintf("projection %s v%d", name, version)
}

// handlerFailure marks an error returned (or a panic raised) by user code, as
// opposed to a failure of the target database.
type handlerFailure struct {
	at  int // index in the batch
	err error
}

func (h *handlerFailure) Error() string { return h.err.Error() }
func (h *handlerFailure) Unwrap() error { return h.err }
