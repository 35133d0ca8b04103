package projection

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/internal/callback"
	"github.com/idemkit/idem/internal/telemetry"
)

// build applies events to one generation of a projection: the worker's running
// generation (track set: its checkpoint and mode show in Stats), a generation
// built by Runner.Rebuild, or the target of a replay.
type build[Tx any] struct {
	w      *projWorker[Tx]
	g      Generation
	mode   Mode
	cp     eventstore.Position // the checkpoint as last committed by this build
	track  bool
	handle string // the callback name of Handle, for panics
	unlock func() // releases the build lock once switched in (Rebuild mode)
	report []func(Progress)
	replay bool // events are re-applied by ReplayStream or ReplayRange
}

func newBuild[Tx any](w *projWorker[Tx], g Generation, mode Mode, track bool) *build[Tx] {
	b := &build[Tx]{w: w, g: g, mode: mode, cp: g.Checkpoint, track: track,
		handle: label(w.p.Name, false, g.Number) + " Handle", unlock: func() {}}
	if w.r.set.progress != nil {
		b.report = append(b.report, w.r.set.progress)
	}
	b.report = append(b.report, func(p Progress) { w.st.m.recordProgress(context.Background(), p) })
	if track {
		w.st.set(func(s *stats) { s.generation, s.mode, s.checkpoint = g.Number, mode, g.Checkpoint })
	}
	return b
}

func (b *build[Tx]) label() string { return label(b.w.p.Name, false, b.g.Number) }

func (b *build[Tx]) setMode(m Mode) {
	b.mode = m
	if b.track {
		b.w.st.set(func(s *stats) { s.mode = m })
	}
}

// follow reads the log from the generation's checkpoint and applies it, in batches
// (one transaction each), until ctx ends or, with untilCaughtUp, until it has
// caught up. A generation built in Rebuild mode is switched in once caught up
// (G9), and then goes on live.
func (b *build[Tx]) follow(ctx context.Context, untilCaughtUp bool) error {
	r := b.w.r
	r.log.Info("projection starting", "projection", b.w.p.Name, "generation", b.g.Number, "mode", b.mode.String(),
		"checkpoint", b.cp.String())
	size := max(r.set.batchSize, r.set.catchUpBatchSize)
	fctx, cancel := context.WithCancel(ctx)
	f := startFeed(fctx, r.store, b.cp, b.w.opts, size)
	defer f.stop()
	defer cancel()
	prog := newProgressTracker(r, b.w.p.Name, b.g.Number, b.cp, b.report)
	batch := make([]eventstore.RecordedEvent, 0, size)
	for {
		var caughtUp bool
		var err error
		batch, caughtUp, err = f.next(fctx, batch[:0], r.set.sizeFor(b.mode), b.mode != Live)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%s: read events: %w", b.label(), err)
		}
		if len(batch) > 0 {
			if err := b.applyBatch(ctx, batch, true, nil); err != nil {
				return err
			}
			if b.mode != Live {
				prog.report(ctx, b.mode, uint64(len(batch)), b.cp, false)
			}
		}
		if !caughtUp {
			continue
		}
		if b.mode != Live {
			prog.report(ctx, b.mode, 0, b.cp, true)
		}
		if b.mode == Rebuild {
			if err := b.switchOver(ctx); err != nil {
				return err
			}
		}
		b.setMode(Live)
		if untilCaughtUp {
			return nil
		}
	}
}

// applyBatch is apply in a span (idem.projection.batch) linked to the commands
// that wrote the events, timed by idem.projection.batch.duration.
func (b *build[Tx]) applyBatch(ctx context.Context, batch []eventstore.RecordedEvent, move bool, tally *ReplayResult) error {
	mode := modeName(b.mode, b.replay)
	ctx, span := b.w.st.m.startSpan(ctx, "idem.projection.batch", batch,
		telemetry.Mode.String(mode), telemetry.Generation.Int(b.g.Number), telemetry.Events.Int(len(batch)),
		telemetry.Position.String(batch[len(batch)-1].Position.String()))
	began := time.Now()
	err := b.apply(ctx, batch, move, tally)
	b.w.st.m.recordBatch(ctx, mode, time.Since(began))
	endSpan(span, err)
	return err
}

// apply commits batch, splitting it around events whose handler fails: the events
// before a failing one commit, the failing one is retried with backoff, then
// stops the projection or is parked (Poison). When move is false (replays) the
// checkpoint stays where it is; the per-stream guard still applies. Counts are
// added to tally when it is not nil.
func (b *build[Tx]) apply(ctx context.Context, batch []eventstore.RecordedEvent, move bool, tally *ReplayResult) error {
	for len(batch) > 0 {
		err := b.commitRetrying(ctx, batch, move, nil, tally)
		if err == nil {
			return nil
		}
		var hf *handlerFailure
		if !errors.As(err, &hf) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if hf.at > 0 {
			if err := b.apply(ctx, batch[:hf.at], move, tally); err != nil {
				return err
			}
			batch = batch[hf.at:]
		}
		if err := b.poison(ctx, batch[0], move, hf.err, tally); err != nil {
			return err
		}
		batch = batch[1:]
	}
	return nil
}

// poison retries one failing event alone, then applies the poison policy.
func (b *build[Tx]) poison(ctx context.Context, e eventstore.RecordedEvent, move bool, cause error, tally *ReplayResult) error {
	r := b.w.r
	attempts := 1
	for attempt := 1; attempt <= r.set.retries; attempt++ {
		r.log.Warn("projection handler failed, retrying", "projection", b.w.p.Name, "generation", b.g.Number,
			"event", e.ID, "stream", e.Stream, "revision", e.Revision, "attempt", attempts, "error", cause)
		if err := sleep(ctx, r.set.backoffFor(attempt)); err != nil {
			return err
		}
		b.w.st.countRetry(ctx, CauseHandler)
		attempts++
		err := b.commitRetrying(ctx, []eventstore.RecordedEvent{e}, move, nil, tally)
		if err == nil {
			return nil
		}
		var hf *handlerFailure
		if !errors.As(err, &hf) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		cause = hf.err
	}
	herr := newHandlerError(b.w.p.Name, false, b.g.Number, e, attempts, cause)
	if b.w.p.Poison != PoisonPark {
		return herr
	}
	if err := b.commitRetrying(ctx, []eventstore.RecordedEvent{e}, move, herr, tally); err != nil {
		return err
	}
	r.log.Warn("projection event parked", "projection", b.w.p.Name, "generation", b.g.Number,
		"event", e.ID, "stream", e.Stream, "revision", e.Revision, "error", herr)
	return nil
}

// commitRetrying is commit, retried with backoff when the target fails.
func (b *build[Tx]) commitRetrying(ctx context.Context, batch []eventstore.RecordedEvent, move bool, park *HandlerError, tally *ReplayResult) error {
	r := b.w.r
	for attempt := 1; ; attempt++ {
		err := b.commit(ctx, batch, move, park, tally)
		var hf *handlerFailure
		switch {
		case err == nil, errors.As(err, &hf), permanent(err), ctx.Err() != nil, attempt > r.set.retries:
			return err
		}
		b.w.st.countRetry(ctx, CauseTarget)
		r.log.Warn("projection batch failed, retrying", "projection", b.w.p.Name, "generation", b.g.Number,
			"events", len(batch), "attempt", attempt, "error", err)
		if err := sleep(ctx, r.set.backoffFor(attempt)); err != nil {
			return err
		}
	}
}

// commit applies batch in one Write with the checkpoint (when move is set) and the
// per-stream guard (G8). With park set, the events are recorded as parked instead
// of being handled. A handler failure is returned as *handlerFailure, with
// everything rolled back.
func (b *build[Tx]) commit(ctx context.Context, batch []eventstore.RecordedEvent, move bool, park *HandlerError, tally *ReplayResult) error {
	to := batch[len(batch)-1].Position
	move = move && to.Compare(b.cp) > 0 // already past: nothing to move (positions only grow)
	var n batchCount
	err := b.w.r.target.Write(ctx, b.w.p.Name, func(wr Writer[Tx]) error {
		if err := b.claim(ctx, wr, move, to); err != nil {
			return err
		}
		var err error
		n, err = b.applyGuarded(ctx, wr, batch, park)
		return err
	})
	if err != nil {
		var hf *handlerFailure
		if errors.As(err, &hf) {
			return hf
		}
		return fmt.Errorf("%s: commit batch up to %s: %w", b.label(), to, err)
	}
	if move {
		b.cp = to
		if b.track {
			b.w.st.set(func(s *stats) { s.checkpoint = to })
		}
	}
	b.count(ctx, n, park != nil, tally)
	return nil
}

// batchCount is what a committed batch did: events applied (or parked), and
// events the per-stream guard skipped.
type batchCount struct{ applied, skipped uint64 }

// claim moves the checkpoint from b.cp to `to` in wr, or, when it does not move
// (a replay), checks that the generation may still be written.
func (b *build[Tx]) claim(ctx context.Context, wr Writer[Tx], move bool, to eventstore.Position) error {
	if move {
		return wr.Advance(ctx, b.g.Number, b.cp, to)
	}
	return wr.Claim(ctx, b.g.Number)
}

// applyGuarded handles (or parks) each event of batch that its stream's guard has
// not seen, and moves the guards past them, in wr's transaction (G8).
func (b *build[Tx]) applyGuarded(ctx context.Context, wr Writer[Tx], batch []eventstore.RecordedEvent, park *HandlerError) (batchCount, error) {
	var n batchCount
	gen := b.g.Number
	streams := streamsOf(batch)
	guards, err := wr.Guards(ctx, gen, streams)
	if err != nil {
		return n, err
	}
	if guards == nil {
		guards = make(map[string]uint64, len(streams))
	}
	tx := wr.Tx(ctx, b.g)
	moved := make(map[string]uint64, len(streams))
	for i, e := range batch {
		if g, ok := guards[e.Stream]; ok && e.Revision <= g {
			n.skipped++ // applied before: a replay, or a crash after the commit
			continue
		}
		if park != nil {
			pe := ParkedEvent{Projection: b.w.p.Name, Generation: gen, Event: e, Err: park.Error(), Attempts: park.Attempts}
			if err := wr.Park(ctx, gen, pe); err != nil {
				return n, err
			}
		} else if err := callback.Call(b.handle, func() error { return b.w.p.Handle(ctx, tx, Event{RecordedEvent: e, Mode: b.mode}) }); err != nil {
			if errors.Is(err, ErrTargetUnavailable) {
				// The target failed under the handler (a lost connection): the
				// batch is retried as the target's failure; the event is not poison.
				return n, err
			}
			return n, &handlerFailure{at: i, err: err}
		}
		guards[e.Stream] = e.Revision
		moved[e.Stream] = e.Revision
		n.applied++
	}
	return n, wr.SaveGuards(ctx, gen, moved)
}

// streamsOf returns the distinct streams of batch, in order of first appearance.
func streamsOf(batch []eventstore.RecordedEvent) []string {
	streams := make([]string, 0, len(batch))
	seen := make(map[string]bool, len(batch))
	for _, e := range batch {
		if !seen[e.Stream] {
			seen[e.Stream] = true
			streams = append(streams, e.Stream)
		}
	}
	return streams
}

// count adds a committed batch to the stats and metrics, and to tally if set.
func (b *build[Tx]) count(ctx context.Context, n batchCount, parked bool, tally *ReplayResult) {
	mode, outcome := modeName(b.mode, b.replay), OutcomeApplied
	if parked {
		outcome = OutcomeParked
	}
	b.w.st.countEvents(ctx, outcome, mode, n.applied)
	b.w.st.countEvents(ctx, OutcomeSkipped, mode, n.skipped)
	if tally == nil {
		return
	}
	if parked {
		tally.Parked += n.applied
	} else {
		tally.Applied += n.applied
	}
	tally.Skipped += n.skipped
}

func newHandlerError(name string, reactor bool, generation int, e eventstore.RecordedEvent, attempts int, err error) *HandlerError {
	return &HandlerError{Projection: name, Reactor: reactor, Generation: generation, EventID: e.ID.String(), Type: e.Type,
		Stream: e.Stream, Revision: e.Revision, Position: e.Position, Attempts: attempts, Err: err}
}
