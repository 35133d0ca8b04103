package projection

import (
	"context"
	"errors"
	"sync"

	"github.com/idemkit/idem/eventstore"
)

// projWorker runs one projection in a runner: it decides which generation to run
// (prepare), runs it, and decides again when that generation is switched or
// retired.
type projWorker[Tx any] struct {
	r    *Runner[Tx]
	p    Projection[Tx]
	opts []eventstore.ReadOption
	st   stats

	// buildLock holds a value while a generation of the projection is being built
	// (Rebuild mode) in this runner: by Run after a deploy, or by Runner.Rebuild.
	// Two builds of one generation would fail each other (ErrCheckpointMoved).
	buildLock chan struct{}

	reloadMu sync.Mutex
	reload   context.CancelCauseFunc // ends the running generation's loop, to decide again
}

// errRedecide ends a generation's loop so that the worker decides again which
// generation to run.
var errRedecide = errors.New("projection generation switched: deciding again")

func newProjWorker[Tx any](r *Runner[Tx], p Projection[Tx]) *projWorker[Tx] {
	w := &projWorker[Tx]{r: r, p: p, opts: readOptions(p.EventTypes, p.StreamPrefixes), buildLock: make(chan struct{}, 1)}
	w.st.name, w.st.version, w.st.m = p.Name, p.Version, newMeters(r.inst, p.Name, false)
	return w
}

func (w *projWorker[Tx]) stats() *stats                    { return &w.st }
func (w *projWorker[Tx]) filters() []eventstore.ReadOption { return w.opts }

// tryBuild takes the build lock if it is free.
func (w *projWorker[Tx]) tryBuild() bool {
	select {
	case w.buildLock <- struct{}{}:
		return true
	default:
		return false
	}
}

// waitBuild waits until the build lock is free (without taking it).
func (w *projWorker[Tx]) waitBuild(ctx context.Context) error {
	select {
	case w.buildLock <- struct{}{}:
		<-w.buildLock
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *projWorker[Tx]) releaseBuild() { <-w.buildLock }

// signalReload makes the running loop, if any, decide again: a generation was
// switched in by Runner.Rebuild.
func (w *projWorker[Tx]) signalReload() {
	w.reloadMu.Lock()
	defer w.reloadMu.Unlock()
	if w.reload != nil {
		w.reload(errRedecide)
	}
}

func (w *projWorker[Tx]) setReload(f context.CancelCauseFunc) {
	w.reloadMu.Lock()
	defer w.reloadMu.Unlock()
	w.reload = f
}

func (w *projWorker[Tx]) run(ctx context.Context, untilCaughtUp bool) error {
	w.st.set(func(s *stats) { s.state, s.err = Running, nil })
	err := w.runGenerations(ctx, untilCaughtUp)
	switch {
	case err == nil:
		w.st.set(func(s *stats) {
			if s.state == Running {
				s.state = Idle
			}
		})
		return nil
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		w.st.set(func(s *stats) { s.state = Idle })
		return nil
	}
	w.st.set(func(s *stats) { s.state, s.err = Failed, err })
	w.r.log.Error("projection stopped", "projection", w.p.Name, "error", err)
	return err
}

// runGenerations runs the generation prepare chooses; when it is switched (by
// Rebuild in this runner) or retired (by another runner), it decides again: adopt
// the new active generation if this code version built it, or step aside.
func (w *projWorker[Tx]) runGenerations(ctx context.Context, untilCaughtUp bool) error {
	for {
		gctx, cancel := context.WithCancelCause(ctx)
		w.setReload(cancel)
		err := w.runGeneration(gctx, untilCaughtUp)
		w.setReload(nil)
		redecide := ctx.Err() == nil && (errors.Is(context.Cause(gctx), errRedecide) ||
			errors.Is(err, errRedecide) || errors.Is(err, ErrRetired))
		cancel(nil)
		if err == nil || !redecide {
			return err
		}
		reason := err
		if errors.Is(context.Cause(gctx), errRedecide) {
			reason = errRedecide
		}
		w.r.log.Info("projection generation switched or retired, deciding again", "projection", w.p.Name, "reason", reason)
	}
}

// runGeneration prepares and runs one generation until ctx ends, the generation is
// retired, or (with untilCaughtUp) it has caught up.
func (w *projWorker[Tx]) runGeneration(ctx context.Context, untilCaughtUp bool) error {
	pl, err := w.prepare(ctx, false, false)
	if err != nil {
		return err
	}
	mode := CatchUp
	switch pl.step {
	case stepAside:
		w.r.log.Info("projection stepped aside: its active generation was built by newer code",
			"projection", w.p.Name, "generation", pl.gen.Number, "generation_version", pl.gen.Version, "version", w.p.Version)
		w.st.set(func(s *stats) { s.state, s.generation, s.mode = SteppedAside, 0, 0 })
		return nil
	case stepResume, stepBuild:
		mode = Rebuild
		if !w.tryBuild() {
			// Runner.Rebuild is building it: let it finish, then decide again.
			if err := w.waitBuild(ctx); err != nil {
				return err
			}
			return errRedecide
		}
	}
	b := newBuild(w, pl.gen, mode, true)
	if mode == Rebuild {
		b.unlock = sync.OnceFunc(w.releaseBuild)
		defer b.unlock()
	}
	return b.follow(ctx, untilCaughtUp)
}
