package projection

import (
	"context"
	"errors"
	"fmt"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/internal/callback"
	"github.com/idemkit/idem/internal/telemetry"
)

// reactorGeneration is the number of a reactor's one generation: a reactor is never
// rebuilt (G10), so it has one checkpoint.
const reactorGeneration = 1

// reactorWorker runs a reactor: handle one event (the side effect), then commit the
// reactor's checkpoint and per-stream guard. See Reactor for the crash window.
type reactorWorker[Tx any] struct {
	r      *Runner[Tx]
	re     Reactor
	opts   []eventstore.ReadOption
	handle string // the callback name of Handle, for panics
	st     stats
	guards map[string]uint64 // cache of the per-stream guard; only this worker writes it
}

func newReactorWorker[Tx any](r *Runner[Tx], re Reactor) *reactorWorker[Tx] {
	w := &reactorWorker[Tx]{r: r, re: re, opts: readOptions(re.EventTypes, re.StreamPrefixes),
		handle: label(re.Name, true, 0) + " Handle", guards: map[string]uint64{}}
	w.st.name, w.st.reactor, w.st.m = re.Name, true, newMeters(r.inst, re.Name, true)
	return w
}

func (w *reactorWorker[Tx]) stats() *stats                    { return &w.st }
func (w *reactorWorker[Tx]) filters() []eventstore.ReadOption { return w.opts }

func (w *reactorWorker[Tx]) run(ctx context.Context, untilCaughtUp bool) error {
	w.st.set(func(s *stats) { s.state, s.err = Running, nil })
	err := w.loop(ctx, untilCaughtUp)
	if err == nil || (ctx.Err() != nil && errors.Is(err, ctx.Err())) {
		w.st.set(func(s *stats) { s.state = Idle })
		return nil
	}
	w.st.set(func(s *stats) { s.state, s.err = Failed, err })
	w.r.log.Error("reactor stopped", "reactor", w.re.Name, "error", err)
	return err
}

func (w *reactorWorker[Tx]) loop(ctx context.Context, untilCaughtUp bool) error {
	cp, err := w.prepare(ctx)
	if err != nil {
		return fmt.Errorf("prepare %s: %w", label(w.re.Name, true, 0), err)
	}
	clear(w.guards)
	mode := CatchUp
	w.st.set(func(s *stats) { s.generation, s.mode, s.checkpoint = reactorGeneration, mode, cp })
	w.r.log.Info("reactor starting", "reactor", w.re.Name, "checkpoint", cp.String())
	fctx, cancel := context.WithCancel(ctx)
	size := w.r.set.batchSize
	f := startFeed(fctx, w.r.store, cp, w.opts, size)
	defer f.stop()
	defer cancel()
	batch := make([]eventstore.RecordedEvent, 0, size)
	for {
		var caughtUp bool
		// A reactor commits per event: batches only spare handoffs, never wait.
		batch, caughtUp, err = f.next(fctx, batch[:0], size, false)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%s: read events: %w", label(w.re.Name, true, 0), err)
		}
		for _, e := range batch {
			if cp, err = w.react(ctx, cp, e, mode); err != nil {
				return err
			}
		}
		if caughtUp {
			mode = Live
			w.st.set(func(s *stats) { s.mode = Live })
			if untilCaughtUp {
				return nil
			}
		}
	}
}

// react handles one event with retries, then commits the checkpoint and guard, and
// returns the new checkpoint.
func (w *reactorWorker[Tx]) react(ctx context.Context, cp eventstore.Position, e eventstore.RecordedEvent, mode Mode) (next eventstore.Position, err error) {
	ctx, span := w.st.m.startSpan(ctx, "idem.reactor.event", []eventstore.RecordedEvent{e}, telemetry.Mode.String(modeName(mode, false)),
		telemetry.Stream.String(e.Stream), telemetry.Revision.Int64(int64(e.Revision)), telemetry.Position.String(e.Position.String()))
	defer func() { endSpan(span, err) }()
	g, known, err := w.guard(ctx, e.Stream)
	if err != nil {
		return cp, err
	}
	if known && e.Revision <= g {
		w.st.countEvents(ctx, OutcomeSkipped, modeName(mode, false), 1)
		return w.commit(ctx, cp, e, nil)
	}
	ev := ReactorEvent{RecordedEvent: e, Mode: mode, IdempotencyKey: e.ID.String()}
	set := &w.r.set
	attempts := 0
	for {
		attempts++
		err = callback.Call(w.handle, func() error { return w.re.Handle(ctx, ev) })
		if err == nil {
			w.st.countEvents(ctx, OutcomeApplied, modeName(mode, false), 1)
			return w.commit(ctx, cp, e, nil)
		}
		if ctx.Err() != nil {
			return cp, ctx.Err()
		}
		if attempts > set.retries {
			break
		}
		w.r.log.Warn("reactor failed, retrying", "reactor", w.re.Name, "event", e.ID, "stream", e.Stream,
			"revision", e.Revision, "attempt", attempts, "error", err)
		if err := sleep(ctx, set.backoffFor(attempts)); err != nil {
			return cp, err
		}
		w.st.countRetry(ctx, CauseHandler)
	}
	herr := newHandlerError(w.re.Name, true, reactorGeneration, e, attempts, err)
	if w.re.Poison != PoisonPark {
		return cp, herr
	}
	cp, err = w.commit(ctx, cp, e, herr)
	if err != nil {
		return cp, err
	}
	w.st.countEvents(ctx, OutcomeParked, modeName(mode, false), 1)
	w.r.log.Warn("reactor event parked", "reactor", w.re.Name, "event", e.ID, "error", herr)
	return cp, nil
}

// guard returns the last revision handled from stream, if any.
func (w *reactorWorker[Tx]) guard(ctx context.Context, stream string) (uint64, bool, error) {
	if g, ok := w.guards[stream]; ok {
		return g, true, nil
	}
	gs, err := w.r.target.Guards(ctx, w.re.Name, reactorGeneration, []string{stream})
	if err != nil {
		return 0, false, fmt.Errorf("%s: read stream guard: %w", label(w.re.Name, true, 0), err)
	}
	g, ok := gs[stream]
	if ok {
		w.remember(stream, g)
	}
	return g, ok, nil
}

// maxGuardCache bounds the reactor's cache of per-stream guards: one entry per
// stream it has seen would grow with every payment ever made. Past the bound the
// cache starts afresh; the guards themselves are in the target.
const maxGuardCache = 4096

// remember caches the guard of stream.
func (w *reactorWorker[Tx]) remember(stream string, revision uint64) {
	if _, ok := w.guards[stream]; !ok && len(w.guards) >= maxGuardCache {
		clear(w.guards)
	}
	w.guards[stream] = revision
}

// commit moves the checkpoint from cp to e and the guard of e's stream to e's
// revision, recording e as parked when park is set. Target failures are retried.
func (w *reactorWorker[Tx]) commit(ctx context.Context, cp eventstore.Position, e eventstore.RecordedEvent, park *HandlerError) (eventstore.Position, error) {
	set := &w.r.set
	for attempt := 1; ; attempt++ {
		err := w.r.target.Write(ctx, w.re.Name, func(wr Writer[Tx]) error {
			if err := wr.Advance(ctx, reactorGeneration, cp, e.Position); err != nil {
				return err
			}
			if park != nil {
				pe := ParkedEvent{Projection: w.re.Name, Generation: reactorGeneration, Event: e, Err: park.Error(), Attempts: park.Attempts}
				if err := wr.Park(ctx, reactorGeneration, pe); err != nil {
					return err
				}
			}
			return wr.SaveGuards(ctx, reactorGeneration, map[string]uint64{e.Stream: e.Revision})
		})
		if err == nil {
			w.remember(e.Stream, e.Revision)
			w.st.set(func(s *stats) { s.checkpoint = e.Position })
			return e.Position, nil
		}
		if permanent(err) || ctx.Err() != nil || attempt > set.retries {
			return cp, fmt.Errorf("%s: commit checkpoint %s: %w", label(w.re.Name, true, 0), e.Position, err)
		}
		w.st.countRetry(ctx, CauseTarget)
		if err := sleep(ctx, set.backoffFor(attempt)); err != nil {
			return cp, err
		}
	}
}

// prepare creates the reactor's generation on its first run (at Start, or at the
// head of the log with NewOnly), retried when the target fails transiently, and
// returns its checkpoint.
func (w *reactorWorker[Tx]) prepare(ctx context.Context) (eventstore.Position, error) {
	var start eventstore.Position
	if w.re.NewOnly {
		h, err := head(ctx, w.r.store)
		if err != nil {
			return start, fmt.Errorf("read the head of the log: %w", err)
		}
		start = h
	}
	var cp eventstore.Position
	err := w.r.retrying(ctx, "prepare "+label(w.re.Name, true, 0), func() error {
		return w.r.target.Write(ctx, w.re.Name, func(wr Writer[Tx]) error {
			gens, err := wr.Generations(ctx)
			if err != nil {
				return err
			}
			if err := checkKind(gens, KindReactor); err != nil {
				return err
			}
			for _, g := range gens {
				if g.Number == reactorGeneration {
					cp = g.Checkpoint
					return nil
				}
			}
			g := Generation{Name: w.re.Name, Number: reactorGeneration, Kind: KindReactor, State: Building}
			if err := wr.Create(ctx, g, nil); err != nil {
				return err
			}
			if err := wr.Activate(ctx, reactorGeneration); err != nil {
				return err
			}
			cp = eventstore.Start()
			if start != cp {
				if err := wr.Advance(ctx, reactorGeneration, cp, start); err != nil {
					return err
				}
				cp = start
			}
			return nil
		})
	})
	return cp, err
}
