package command

import (
	"errors"

	"github.com/idemkit/idem"
	"github.com/idemkit/idem/aggregate"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/internal/callback"
)

// decisionKind is what the decider made of a command.
type decisionKind uint8

const (
	decidedEvents      decisionKind = iota + 1 // events to append
	decidedNoOp                                // no events (G6)
	decidedRejection                           // a domain error (G6)
	decidedAlreadyDone                         // a duplicate by business key (G5)
)

// decision is the decider's answer to a command, with the aggregate's revision it
// was made on: the append expects exactly that revision (G3).
type decision[E any] struct {
	kind   decisionKind
	events []E
	// err is the decider's error of a rejection or an AlreadyDone.
	err      error
	revision uint64
	exists   bool
}

// expected is the append's expected revision: Exact or NoStream, never Any (G3).
func (d decision[E]) expected() eventstore.ExpectedRevision {
	if !d.exists {
		return eventstore.NoStream()
	}
	return eventstore.Exact(d.revision)
}

// decideOn folds a's pending events and runs the decider on its state. It fails
// only when the state cannot be built or the decider panicked.
func (h *Handler[S, C, E]) decideOn(a *loaded[S], cmd C) (decision[E], error) {
	a.mu.Lock()
	err := h.fold(a)
	state, revision, exists := a.state, a.revision, a.exists
	a.mu.Unlock()
	if err != nil {
		return decision[E]{}, err
	}
	d := decision[E]{revision: revision, exists: exists}
	events, err := h.decide(state, cmd)
	switch {
	case errors.Is(err, idem.ErrPanicked):
		return decision[E]{}, err
	case errors.Is(err, aggregate.ErrAlreadyDone):
		d.kind, d.err = decidedAlreadyDone, err
	case err != nil:
		d.kind, d.err = decidedRejection, err
	case len(events) == 0:
		d.kind = decidedNoOp
	default:
		d.kind, d.events = decidedEvents, events
	}
	return d, nil
}

// decide calls the decider's Decide, turning a panic into an *idem.PanicError.
func (h *Handler[S, C, E]) decide(state S, cmd C) (events []E, err error) {
	defer callback.Recover("Decide", &err)
	return h.decider.Decide(state, cmd)
}

// writes reports whether d is written to the stream: its events, or the marker of
// a recorded rejection or no-op.
func (h *Handler[S, C, E]) writes(d decision[E]) bool {
	switch d.kind {
	case decidedEvents:
		return true
	case decidedRejection:
		return h.cfg.recordRejections
	case decidedNoOp:
		return h.cfg.recordNoOps
	}
	return false
}

// answerWithoutWrite answers the decisions that write nothing (final is true):
// a duplicate by business key, and, unless recorded, a rejection or a no-op.
func (h *Handler[S, C, E]) answerWithoutWrite(cl *call[C], d decision[E]) (res Result, err error, final bool) {
	if h.writes(d) {
		return Result{}, nil, false
	}
	switch d.kind {
	case decidedAlreadyDone:
		// G5: the business fact is already there.
		h.stats.dupByKey.Add(1)
		var dk *aggregate.DuplicateKeyError
		key := ""
		if errors.As(d.err, &dk) {
			key = dk.Key
		}
		return Result{Stream: cl.stream, Revision: d.revision, Duplicate: true, DuplicateBy: ByBusinessKey, Key: key,
			Fingerprint: cl.meta.Fingerprint}, nil, true
	case decidedRejection:
		// G6: nothing written; a retry is decided afresh.
		h.stats.rejected.Add(1)
		return Result{}, &RejectedError{CommandID: cl.cmd.ID, Stream: cl.stream, Err: d.err}, true
	default:
		// G6: a no-op writes nothing.
		h.stats.noops.Add(1)
		return Result{Stream: cl.stream, Revision: d.revision, NoOp: true, Fingerprint: cl.meta.Fingerprint}, nil, true
	}
}
