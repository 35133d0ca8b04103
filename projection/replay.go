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

// ReplayStream feeds the events of one stream to every running-or-runnable version
// of the SQL projection name in this runner, through the per-stream guard: what was
// applied already is skipped, so replaying never applies an event twice (G8). The
// checkpoint does not move; events beyond it that the replay applies are skipped
// later by the guard. Handlers see CatchUp. The projection must have run once
// (Run or CatchUp) in the target database.
func (r *Runner) ReplayStream(ctx context.Context, name, stream string) (ReplayResult, error) {
	return r.replay(ctx, name, fmt.Sprintf("stream %s", stream), func(w *sqlWorker) iter.Seq2[eventstore.RecordedEvent, error] {
		return r.store.ReadStream(ctx, stream, 0)
	})
}

// ReplayRange is ReplayStream for the events of the global log after position
// `after`, up to and including position upTo, of the types and streams the
// projection wants.
func (r *Runner) ReplayRange(ctx context.Context, name string, after, upTo eventstore.Position) (ReplayResult, error) {
	return r.replay(ctx, name, fmt.Sprintf("range %s..%s", after, upTo), func(w *sqlWorker) iter.Seq2[eventstore.RecordedEvent, error] {
		return func(yield func(eventstore.RecordedEvent, error) bool) {
			for e, err := range r.store.ReadAll(ctx, after, w.p.readOptions()...) {
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

func (r *Runner) replay(ctx context.Context, name, what string, read func(w *sqlWorker) iter.Seq2[eventstore.RecordedEvent, error]) (ReplayResult, error) {
	var res ReplayResult
	ws := r.sqlWorkers(name)
	if len(ws) == 0 {
		return res, fmt.Errorf("replay %s into projection %s: %w", what, name, ErrUnknownProjection)
	}
	if err := r.ensureSchema(ctx); err != nil {
		return res, err
	}
	for _, w := range ws {
		if w.st.snapshot().State == stateRetired {
			continue
		}
		o := backend.ResolveReadOptions(w.p.readOptions())
		batch := make([]eventstore.RecordedEvent, 0, r.opts.batchSize(CatchUp))
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			err := w.apply(ctx, batch, CatchUp, false, &res)
			batch = batch[:0]
			return err
		}
		for e, err := range read(w) {
			if err != nil {
				return res, fmt.Errorf("replay %s into %s: %w", what, w.label(), err)
			}
			if !o.Matches(e.Stream, e.Type) {
				continue
			}
			batch = append(batch, e)
			if len(batch) == cap(batch) {
				if err := flush(); err != nil {
					return res, fmt.Errorf("replay %s into %s: %w", what, w.label(), err)
				}
			}
		}
		if err := flush(); err != nil {
			return res, fmt.Errorf("replay %s into %s: %w", what, w.label(), err)
		}
		r.log.Info("projection replay done", "projection", name, "version", w.p.Version, "replayed", what,
			"applied", res.Applied, "skipped", res.Skipped, "parked", res.Parked)
	}
	return res, nil
}

// sqlWorkers returns the versions of projection name added to the runner, highest
// first.
func (r *Runner) sqlWorkers(name string) []*sqlWorker {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*sqlWorker
	for _, w := range r.sqls {
		if w.p.Name == name {
			out = append(out, w)
		}
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].p.Version > out[j-1].p.Version; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
