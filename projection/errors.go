package projection

import (
	"errors"
	"fmt"

	"github.com/idemkit/idem"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/internal/quote"
)

// Sentinel errors, matchable with errors.Is.
var (
	// ErrInvalidProjection: a projection or reactor definition is malformed (empty
	// name, version below 1, no handler, bad table name, duplicate name), or the
	// target cannot hold it (Setup did not create a declared table, a reader's name
	// is taken by a table).
	ErrInvalidProjection = errors.New("invalid projection")
	// ErrInvalidOption: an option of NewRunner or Rebuild was given a value out of
	// its range.
	ErrInvalidOption = errors.New("invalid projection option")
	// ErrHandlerFailed: a handler kept failing on an event after its retries and the
	// projection stopped (PoisonStop). The error is a *HandlerError naming the event.
	ErrHandlerFailed = errors.New("projection handler failed")
	// ErrRetired: the generation was retired (replaced by another one) and must not
	// be written to any more. Run and CatchUp never return it: a runner whose
	// generation was retired adopts the new one or steps aside. Rebuild returns it
	// when the generation it was building was retired by another process.
	ErrRetired = errors.New("projection generation retired")
	// ErrSteppedAside: the active generation of the projection was built by newer
	// code (a higher Version) than this runner's, so this runner leaves it alone.
	// Run and CatchUp step aside quietly; Rebuild, the replays and RetryParked fail
	// with it.
	ErrSteppedAside = errors.New("projection stepped aside for newer code")
	// ErrVersionMismatch: the generation concerned was built by another Version of
	// the projection than this runner's, whose handler must not write to it (a
	// replay or a parked event's re-run).
	ErrVersionMismatch = errors.New("projection generation built by another version")
	// ErrCheckpointMoved: the checkpoint changed under the runner: another runner is
	// applying the same generation. The batch was rolled back.
	ErrCheckpointMoved = errors.New("projection checkpoint moved by another runner")
	// ErrUnknownProjection: no projection or reactor of that name was added to the
	// runner, or it has no generation in the target yet.
	ErrUnknownProjection = errors.New("unknown projection")
	// ErrParkedNotFound: no parked event with that id for that projection.
	ErrParkedNotFound = errors.New("parked event not found")
	// ErrRunning: the runner is already running, or a build of that projection is.
	ErrRunning = errors.New("projection runner already running")
	// ErrTargetUnavailable: the target could not be written or read now (a lock not
	// obtained in time, a connection lost). The runner retries it.
	ErrTargetUnavailable = errors.New("projection target unavailable")
)

// HandlerError reports an event whose handler failed on every attempt. It names the
// projection and the event, so an operator can find it.
type HandlerError struct {
	Projection string
	// Reactor is true when Projection names a reactor.
	Reactor bool
	// Generation is the generation the event was applied to.
	Generation int
	EventID    string
	Type       string
	Stream     string
	Revision   uint64
	Position   eventstore.Position
	// Attempts is the number of times the handler was called for the event.
	Attempts int
	Err      error
}

func (e *HandlerError) Error() string {
	return fmt.Sprintf("%s: event %s (%s, %s@%d, position %s) failed after %d attempts: %v",
		label(e.Projection, e.Reactor, e.Generation), e.EventID, e.Type, quote.Trunc(e.Stream), e.Revision, e.Position, e.Attempts, e.Err)
}

// Unwrap returns the handler's error.
func (e *HandlerError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrHandlerFailed) true.
func (e *HandlerError) Is(target error) bool { return target == ErrHandlerFailed }

// CorruptError reports bookkeeping a target or the runner could not decode: a
// record with a value of the wrong type, an unknown state, two active generations.
// It matches eventstore.ErrCorrupt; nothing was changed.
type CorruptError struct {
	// What names the record: "idem_generations row (invoices, 2)".
	What string
	// Reason says what is wrong with it.
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("%v: %s: %s", eventstore.ErrCorrupt, e.What, e.Reason)
}

// Is makes errors.Is(err, eventstore.ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == eventstore.ErrCorrupt }

// label is how errors and logs name what a worker runs: "projection invoices
// (generation 2)", or "reactor mailer".
func label(name string, reactor bool, generation int) string {
	if reactor {
		return "reactor " + quote.Trunc(name)
	}
	if generation == 0 {
		return "projection " + quote.Trunc(name)
	}
	return fmt.Sprintf("projection %s (generation %d)", quote.Trunc(name), generation)
}

func quoteShort(s string) string { return quote.Q(s) }

// handlerFailure marks an error returned (or a panic raised) by user code, as
// opposed to a failure of the target.
type handlerFailure struct {
	at  int // index in the batch
	err error
}

func (h *handlerFailure) Error() string { return h.err.Error() }
func (h *handlerFailure) Unwrap() error { return h.err }

// permanent reports whether retrying err cannot help: a definition the target
// refuses, corrupt bookkeeping, a panic, a retired generation, a moved checkpoint.
func permanent(err error) bool {
	return errors.Is(err, ErrInvalidProjection) || errors.Is(err, eventstore.ErrCorrupt) ||
		errors.Is(err, ErrRetired) || errors.Is(err, ErrCheckpointMoved) || errors.Is(err, ErrParkedNotFound) ||
		errors.Is(err, ErrSteppedAside) || errors.Is(err, idem.ErrPanicked)
}
