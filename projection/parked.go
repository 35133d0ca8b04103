package projection

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/idemkit/idem/internal/callback"
)

// Parked lists the parked events of projection or reactor name (every generation
// that still has its tables), in generation then log order. The name must have
// been added to the runner.
func (r *Runner[Tx]) Parked(ctx context.Context, name string) ([]ParkedEvent, error) {
	if err := r.known(name); err != nil {
		return nil, fmt.Errorf("list parked events: %w", err)
	}
	if err := r.init(ctx); err != nil {
		return nil, err
	}
	out, err := r.target.Parked(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("list parked events of %s: %w", quoteShort(name), err)
	}
	return out, nil
}

// RetryParked runs the runner's handler of projection or reactor name on one of its
// parked events again. For a projection the handler's changes and the removal of
// the parked event commit in one transaction, so a re-run applies the event once
// (G8); the generation must have been built by this runner's Version
// (ErrVersionMismatch otherwise). For a reactor the event is removed after Handle
// returns (at-least-once, as always for reactors). On failure the event stays
// parked, its attempts and error updated, and the *HandlerError is returned.
//
// The event is applied out of its original order (later events of its stream were
// applied while it was parked), in CatchUp mode.
func (r *Runner[Tx]) RetryParked(ctx context.Context, name string, id uuid.UUID) error {
	pe, err := r.findParked(ctx, name, id)
	if err != nil {
		return fmt.Errorf("retry parked event: %w", err)
	}
	if rw := r.reactor(name); rw != nil {
		return rw.retryParked(ctx, pe)
	}
	w, err := r.projection(name)
	if err != nil {
		return fmt.Errorf("retry parked event: %w", err)
	}
	return w.retryParked(ctx, pe)
}

// SkipParked removes one parked event of projection or reactor name without
// running any handler: the event stays unapplied for good (its stream's guard has
// moved past it). It is logged.
func (r *Runner[Tx]) SkipParked(ctx context.Context, name string, id uuid.UUID) error {
	pe, err := r.findParked(ctx, name, id)
	if err != nil {
		return fmt.Errorf("skip parked event: %w", err)
	}
	err = r.retrying(ctx, "skip parked event", func() error {
		return r.target.Write(ctx, name, func(wr Writer[Tx]) error { return wr.Unpark(ctx, pe.Generation, id) })
	})
	if err != nil {
		return fmt.Errorf("skip parked event %s of %s: %w", id, label(name, r.reactor(name) != nil, pe.Generation), err)
	}
	r.log.Warn("parked event skipped: it will not be applied", "name", name, "generation", pe.Generation,
		"event", id, "stream", pe.Event.Stream, "revision", pe.Event.Revision, "error", pe.Err)
	return nil
}

// known fails unless name was added to the runner.
func (r *Runner[Tx]) known(name string) error {
	if r.reactor(name) != nil {
		return nil
	}
	_, err := r.projection(name)
	return err
}

func (r *Runner[Tx]) findParked(ctx context.Context, name string, id uuid.UUID) (ParkedEvent, error) {
	list, err := r.Parked(ctx, name)
	if err != nil {
		return ParkedEvent{}, err
	}
	for _, pe := range list {
		if pe.Event.ID == id {
			return pe, nil
		}
	}
	return ParkedEvent{}, fmt.Errorf("event %s of %s: %w", id, quoteShort(name), ErrParkedNotFound)
}

// noteParkedFailure records a failed re-run: attempts and error updated.
func (r *Runner[Tx]) noteParkedFailure(ctx context.Context, pe ParkedEvent, reactor bool, cause error) error {
	herr := newHandlerError(pe.Projection, reactor, pe.Generation, pe.Event, pe.Attempts+1, cause)
	err := r.target.Write(ctx, pe.Projection, func(wr Writer[Tx]) error {
		return wr.Park(ctx, pe.Generation, ParkedEvent{Projection: pe.Projection, Generation: pe.Generation, Event: pe.Event,
			Err: cause.Error(), Attempts: 1, ParkedAt: time.Now()})
	})
	if err != nil {
		err = fmt.Errorf("record the failed re-run: %w", err)
	}
	return errors.Join(herr, err)
}

func (w *projWorker[Tx]) retryParked(ctx context.Context, pe ParkedEvent) error {
	r := w.r
	gens, err := r.target.Generations(ctx, w.p.Name)
	if err != nil {
		return fmt.Errorf("retry parked event %s: %w", pe.Event.ID, err)
	}
	var g Generation
	for _, x := range gens {
		if x.Number == pe.Generation {
			g = x
		}
	}
	if g.Version != w.p.Version {
		return fmt.Errorf("retry parked event %s of %s: %w: its generation was built by version %d, this runner has version %d",
			pe.Event.ID, label(w.p.Name, false, pe.Generation), ErrVersionMismatch, g.Version, w.p.Version)
	}
	var cause error
	name := label(w.p.Name, false, g.Number) + " Handle"
	err = r.target.Write(ctx, w.p.Name, func(wr Writer[Tx]) error {
		cause = nil
		if err := wr.Claim(ctx, g.Number); err != nil {
			return err
		}
		tx := wr.Tx(ctx, g)
		if err := callback.Call(name, func() error { return w.p.Handle(ctx, tx, Event{RecordedEvent: pe.Event, Mode: CatchUp}) }); err != nil {
			cause = err
			return err
		}
		return wr.Unpark(ctx, g.Number, pe.Event.ID)
	})
	if cause != nil {
		return r.noteParkedFailure(ctx, pe, false, cause)
	}
	if err != nil {
		return fmt.Errorf("retry parked event %s of %s: %w", pe.Event.ID, label(w.p.Name, false, g.Number), err)
	}
	w.st.countEvents(ctx, OutcomeApplied, ModeRedrive, 1)
	r.log.Info("parked event re-run", "projection", w.p.Name, "generation", g.Number, "event", pe.Event.ID)
	return nil
}

func (w *reactorWorker[Tx]) retryParked(ctx context.Context, pe ParkedEvent) error {
	ev := ReactorEvent{RecordedEvent: pe.Event, Mode: CatchUp, IdempotencyKey: pe.Event.ID.String()}
	if err := callback.Call(w.handle, func() error { return w.re.Handle(ctx, ev) }); err != nil {
		return w.r.noteParkedFailure(ctx, pe, true, err)
	}
	err := w.r.retrying(ctx, "remove re-run parked event", func() error {
		return w.r.target.Write(ctx, w.re.Name, func(wr Writer[Tx]) error { return wr.Unpark(ctx, pe.Generation, pe.Event.ID) })
	})
	if err != nil {
		return fmt.Errorf("retry parked event %s of %s: remove it: %w", pe.Event.ID, label(w.re.Name, true, 0), err)
	}
	w.st.countEvents(ctx, OutcomeApplied, ModeRedrive, 1)
	w.r.log.Info("parked event re-run", "reactor", w.re.Name, "event", pe.Event.ID)
	return nil
}
