package projection

import (
	"context"
	"fmt"
	"iter"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/backend"
)

// ReplayResult counts what a replay did: events applied (they had not been applied
// before), skipped by the per-stream guard (already applied), and parked.
type ReplayResult struct {
	Applied, Skipped, Parked uint64
}

// ReplayStream feeds the events of one stream, of the types the projection wants,
// to the generations of projection name built by this runner's Version (the active
// one, and one being built), through the per-stream guard: what was applied already
// is skipped, so replaying never applies an event twice (G8). The checkpoint does
// not move; events beyond it that the replay applies are skipped later by the
// guard. Handlers see CatchUp. The projection must have a generation of this
// Version in the target (ErrUnknownProjection, or ErrVersionMismatch if only
// another version's).
func (r *Runner[Tx]) ReplayStream(ctx context.Context, name, stream string) (ReplayResult, error) {
	return r.replay(ctx, name, "stream "+quoteShort(stream), func(w *projWorker[Tx]) iter.Seq2[eventstore.RecordedEvent, error] {
		return r.store.ReadStream(ctx, stream, 0)
	})
}

// ReplayRange is ReplayStream for the events of the global log after position
// `after`, up to and including position upTo, of the types and streams the
// projection wants.
func (r *Runner[Tx]) ReplayRange(ctx context.Context, name string, after, upTo eventstore.Position) (ReplayResult, error) {
	return r.replay(ctx, name, fmt.Sprintf("range %s..%s", after, upTo), func(w *projWorker[Tx]) iter.Seq2[eventstore.RecordedEvent, error] {
		return func(yield func(eventstore.RecordedEvent, error) bool) {
			for e, err := range r.store.ReadAll(ctx, after, w.opts...) {
				if err == nil && e.Position.Compare(upTo) > 0 {
					return
				}
				if !yield(e, err) {
					return
				}
			}
		}
	})
}

// replay re-applies the events read yields to every live generation of name
// built by this runner's version (the guard skips what each already applied).
func (r *Runner[Tx]) replay(ctx context.Context, name, what string, read func(w *projWorker[Tx]) iter.Seq2[eventstore.RecordedEvent, error]) (ReplayResult, error) {
	var res ReplayResult
	w, err := r.projection(name)
	if err != nil {
		return res, fmt.Errorf("replay %s: %w", what, err)
	}
	if err := r.init(ctx); err != nil {
		return res, err
	}
	targets, err := r.replayTargets(ctx, w, what)
	if err != nil {
		return res, err
	}
	for _, g := range targets {
		b := newBuild(w, g, CatchUp, false)
		b.replay = true
		if err := b.replayInto(ctx, read(w), &res); err != nil {
			return res, fmt.Errorf("replay %s into %s: %w", what, b.label(), err)
		}
		r.log.Info("projection replay done", "projection", name, "generation", g.Number, "replayed", what,
			"applied", res.Applied, "skipped", res.Skipped, "parked", res.Parked)
	}
	return res, nil
}

// replayTargets returns the generations of w's projection a replay writes to: the
// ones not retired that this runner's version built.
func (r *Runner[Tx]) replayTargets(ctx context.Context, w *projWorker[Tx], what string) ([]Generation, error) {
	name := w.p.Name
	gens, err := r.target.Generations(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("replay %s into %s: %w", what, label(name, false, 0), err)
	}
	var targets []Generation
	other := 0
	for _, g := range gens {
		switch {
		case g.State == Retired:
		case g.Version == w.p.Version:
			targets = append(targets, g)
		default:
			other = g.Version
		}
	}
	switch {
	case len(targets) == 0 && other != 0:
		return nil, fmt.Errorf("replay %s into %s: %w: its generations were built by version %d, this runner has version %d",
			what, label(name, false, 0), ErrVersionMismatch, other, w.p.Version)
	case len(targets) == 0:
		return nil, fmt.Errorf("replay %s into %s: %w: no generation in the target yet (run it first)",
			what, label(name, false, 0), ErrUnknownProjection)
	}
	return targets, nil
}

// replayInto applies the events of events that the projection wants, in batches,
// without moving the checkpoint, adding the counts to res.
func (b *build[Tx]) replayInto(ctx context.Context, events iter.Seq2[eventstore.RecordedEvent, error], res *ReplayResult) error {
	o := backend.ResolveReadOptions(b.w.opts)
	batch := make([]eventstore.RecordedEvent, 0, b.w.r.set.catchUpBatchSize)
	for e, err := range events {
		if err != nil {
			return err
		}
		if !o.Matches(e.Stream, e.Type) {
			continue
		}
		batch = append(batch, e)
		if len(batch) == cap(batch) {
			if err := b.applyBatch(ctx, batch, false, res); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if len(batch) == 0 {
		return nil
	}
	return b.applyBatch(ctx, batch, false, res)
}
