package projection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/idemkit/idem/eventstore"
)

// Runner applies events from a store to projections and reactors whose read models
// and bookkeeping (generations, checkpoints, per-stream guards, parked events) live
// in a Target. Several projections run at once, each with its own checkpoint.
type Runner[Tx any] struct {
	store  eventstore.Store
	target Target[Tx]
	set    settings
	log    *slog.Logger
	inst   *instruments

	mu       sync.Mutex
	projs    []*projWorker[Tx]
	reactors []*reactorWorker[Tx]
	running  bool

	initMu sync.Mutex
	initOK bool
}

// NewRunner returns a runner reading from store and writing to target. Add
// projections and reactors, then call Run (or CatchUp). It fails with
// ErrInvalidOption if an option is out of range.
func NewRunner[Tx any](store eventstore.Store, target Target[Tx], opts ...Option) (*Runner[Tx], error) {
	if store == nil || target == nil {
		return nil, fmt.Errorf("new projection runner: %w: nil store or target", ErrInvalidOption)
	}
	set, err := newSettings(opts)
	if err != nil {
		return nil, fmt.Errorf("new projection runner: %w", err)
	}
	return &Runner[Tx]{store: store, target: target, set: set, log: set.logger, inst: newInstruments(set.telemetry)}, nil
}

// Add adds a projection. Names are unique in a runner, across projections and
// reactors.
func (r *Runner[Tx]) Add(p Projection[Tx]) error {
	if err := p.validate(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.addable(p.Name); err != nil {
		return fmt.Errorf("add projection %s: %w", quoteShort(p.Name), err)
	}
	r.projs = append(r.projs, newProjWorker(r, p))
	return nil
}

// AddReactor adds a reactor. Names are unique in a runner, across projections and
// reactors.
func (r *Runner[Tx]) AddReactor(re Reactor) error {
	if err := re.validate(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.addable(re.Name); err != nil {
		return fmt.Errorf("add reactor %s: %w", quoteShort(re.Name), err)
	}
	r.reactors = append(r.reactors, newReactorWorker(r, re))
	return nil
}

// addable checks that name can be added now; r.mu is held.
func (r *Runner[Tx]) addable(name string) error {
	if r.running {
		return ErrRunning
	}
	for _, w := range r.projs {
		if w.p.Name == name {
			return fmt.Errorf("%w: a projection has that name", ErrInvalidProjection)
		}
	}
	for _, w := range r.reactors {
		if w.re.Name == name {
			return fmt.Errorf("%w: a reactor has that name", ErrInvalidProjection)
		}
	}
	return nil
}

// worker is a projection or a reactor being run.
type worker interface {
	run(ctx context.Context, untilCaughtUp bool) error
	stats() *stats
	filters() []eventstore.ReadOption
}

// Run applies events to every projection and reactor, catching up from their
// checkpoints and then live, until ctx is done (it then returns nil) or one of them
// fails (it then stops the others and returns the error). A projection whose
// generation is retired by another runner moves to the new active generation, or
// steps aside quietly if newer code built it (see Generation).
func (r *Runner[Tx]) Run(ctx context.Context) error { return r.runAll(ctx, false) }

// CatchUp is Run that returns once every projection and reactor has caught up with
// the log (a generation being built has then been switched in). It suits tests,
// batch jobs and operators' tools.
func (r *Runner[Tx]) CatchUp(ctx context.Context) error { return r.runAll(ctx, true) }

func (r *Runner[Tx]) runAll(ctx context.Context, untilCaughtUp bool) error {
	r.mu.Lock()
	if r.running {
		r.mu.Unlock()
		return ErrRunning
	}
	r.running = true
	workers := r.workers()
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.running = false
		r.mu.Unlock()
	}()
	if err := r.init(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg, lag sync.WaitGroup
	errs := make([]error, len(workers))
	for i, w := range workers {
		wg.Go(func() {
			if err := w.run(ctx, untilCaughtUp); err != nil {
				errs[i] = err
				cancel()
			}
		})
	}
	if r.set.lagRefresh && !untilCaughtUp {
		lag.Go(func() { r.lagLoop(ctx, workers) })
	}
	wg.Wait()
	cancel()
	lag.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if untilCaughtUp {
		r.refreshLag(context.WithoutCancel(ctx), workers)
	}
	return nil
}

func (r *Runner[Tx]) workers() []worker {
	ws := make([]worker, 0, len(r.projs)+len(r.reactors))
	for _, w := range r.projs {
		ws = append(ws, w)
	}
	for _, w := range r.reactors {
		ws = append(ws, w)
	}
	return ws
}

// projection returns the worker of projection name.
func (r *Runner[Tx]) projection(name string) (*projWorker[Tx], error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range r.projs {
		if w.p.Name == name {
			return w, nil
		}
	}
	for _, w := range r.reactors {
		if w.re.Name == name {
			return nil, fmt.Errorf("%s is a reactor, not a projection: %w", label(name, true, 0), ErrUnknownProjection)
		}
	}
	return nil, fmt.Errorf("projection %s: %w", quoteShort(name), ErrUnknownProjection)
}

// reactor returns the worker of reactor name, or nil.
func (r *Runner[Tx]) reactor(name string) *reactorWorker[Tx] {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range r.reactors {
		if w.re.Name == name {
			return w
		}
	}
	return nil
}

// init creates the target's bookkeeping once per runner, retried as the retry
// policy says: a target locked at start (a deploy, an operator's query) is
// waited out.
func (r *Runner[Tx]) init(ctx context.Context) error {
	r.initMu.Lock()
	defer r.initMu.Unlock()
	if r.initOK {
		return nil
	}
	if err := r.retrying(ctx, "create the projection bookkeeping", func() error { return r.target.Init(ctx) }); err != nil {
		return fmt.Errorf("create the projection bookkeeping: %w", err)
	}
	r.initOK = true
	return nil
}

// retrying runs fn, a step of the target, again with backoff when it fails with an
// error that retrying may cure, as many times as the retry policy says.
func (r *Runner[Tx]) retrying(ctx context.Context, what string, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || permanent(err) || ctx.Err() != nil || attempt > r.set.retries {
			return err
		}
		r.log.Warn("projection target step failed, retrying", "step", what, "attempt", attempt, "error", err)
		if err := sleep(ctx, r.set.backoffFor(attempt)); err != nil {
			return err
		}
	}
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// head returns the position of the last event of the log: from a HeadReader, or by
// reading the whole log.
func head(ctx context.Context, store eventstore.Store) (eventstore.Position, error) {
	if hr, ok := store.(eventstore.HeadReader); ok {
		return hr.Head(ctx)
	}
	var last eventstore.Position
	for e, err := range store.ReadAll(ctx, eventstore.Start()) {
		if err != nil {
			return last, err
		}
		last = e.Position
	}
	return last, nil
}
