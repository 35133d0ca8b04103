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

// decision is the decider's answer to a command, with the state and revision it
// was made on: the append expects exactly that revision (G3).
type decision[S, E any] struct {
	kind   decisionKind
	events []E
	// err is the decider's error of a rejection or an AlreadyDone.
	err      error
	state    S
	revision uint64
	exists   bool
}

// expected is the append's expected revision: Exact or NoStream, never Any (G3).
func (d decision[S, E]) expected() eventstore.ExpectedRevision {
	if !d.exists {
		return eventstore.NoStream()
	}
	return eventstore.Exact(d.revision)
}

// base is the state, revision and existence of an aggregate, as decided on.
type base[S any] struct {
	state    S
	revision uint64
	exists   bool
}

// folded folds a's pending events and returns what a command decides on.
func (h *Handler[S, C, E]) folded(a *loaded[S]) (base[S], error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	err := h.fold(a)
	return base[S]{a.state, a.revision, a.exists}, err
}

// decideOn folds a's pending events and runs the decider on its state. It fails
// only when the state cannot be built or the decider panicked.
func (h *Handler[S, C, E]) decideOn(a *loaded[S], cmd C) (decision[S, E], error) {
	b, err := h.folded(a)
	if err != nil {
		return decision[S, E]{}, err
	}
	return h.decideAt(b, cmd)
}

// decideAt runs the decider on b's state.
func (h *Handler[S, C, E]) decideAt(b base[S], cmd C) (decision[S, E], error) {
	d := decision[S, E]{state: b.state, revision: b.revision, exists: b.exists}
	events, err := h.decide(b.state, cmd)
	switch {
	case errors.Is(err, idem.ErrPanicked):
		return decision[S, E]{}, err
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

// rejectionText is the text a recorded rejection keeps.
func (d decision[S, E]) rejectionText() string {
	if d.kind != decidedRejection {
		return ""
	}
	return d.err.Error()
}

// decide calls the decider's Decide, turning a panic into an *idem.PanicError.
func (h *Handler[S, C, E]) decide(state S, cmd C) (events []E, err error) {
	defer callback.Recover("Decide", &err)
	return h.decider.Decide(state, cmd)
}

// writes reports whether d is written to the stream: its events, or the marker of
// a recorded rejection or no-op.
func (h *Handler[S, C, E]) writes(d decision[S, E]) bool {
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
func (h *Handler[S, C, E]) answerWithoutWrite(cl *call[C], d decision[S, E]) (res Result, err error, final bool) {
	if h.writes(d) {
		return Result{}, nil, false
	}
	switch d.kind {
	case decidedAlreadyDone:
		// G5: the business fact is already there.
		var dk *aggregate.DuplicateKeyError
		key := ""
		if errors.As(d.err, &dk) {
			key = dk.Key
		}
		return Result{Stream: cl.stream, Revision: d.revision, Duplicate: true, DuplicateBy: ByBusinessKey, Key: key,
			Fingerprint: cl.meta.Fingerprint}, nil, true
	case decidedRejection:
		// G6: nothing written; a retry is decided afresh.
		return Result{}, &RejectedError{CommandID: cl.cmd.ID, Stream: cl.stream, Err: d.err}, true
	default:
		// G6: a no-op writes nothing.
		return Result{Stream: cl.stream, Revision: d.revision, NoOp: true, Fingerprint: cl.meta.Fingerprint}, nil, true
	}
}
