package projection

import (
	"context"
	"fmt"
	"time"

	"github.com/idemkit/idem/eventstore"
)

// Status is the state of a projection or reactor as its target records it, with
// its lag behind the log, and what this runner does with it (G12). Unlike Stats it
// reads the target and the store, so it also shows the work of other processes.
type Status struct {
	Name string
	// Reactor is true for a reactor.
	Reactor bool
	// Version is this runner's code version of the projection (0 for a reactor).
	Version int
	// State is what this runner does with it. SteppedAside is also reported when
	// the runner is idle and the active generation was built by newer code.
	State RunState
	// Active is the generation readers read (nil before the first run); its
	// Version is the code version that built it.
	Active *Generation
	// Building is the newest generation being built beside it, if any, with its
	// own checkpoint.
	Building *Generation
	// Checkpoint is Active's checkpoint (Start if there is none).
	Checkpoint eventstore.Position
	// Head is the position of the last event of the log, when the store is an
	// eventstore.HeadReader.
	Head eventstore.Position
	// Lag is the number of events, of the types and streams the projection wants,
	// after Checkpoint, counted up to the lag limit (LagCapped then says it is a
	// lower bound).
	Lag       uint64
	LagCapped bool
	// LagAge is the age of the oldest event not yet applied to Active (from its
	// RecordedAt); 0 when there is none, or when the store records no time.
	LagAge time.Duration
	// Parked is the number of parked events of Active and Building.
	Parked int
	// Err is the error this runner stopped it with, if any.
	Err error
}

// Status returns the status of projection or reactor name, which must have been
// added to the runner.
func (r *Runner[Tx]) Status(ctx context.Context, name string) (Status, error) {
	r.mu.Lock()
	var w worker
	for _, x := range r.workers() {
		if x.stats().snapshot().Name == name {
			w = x
		}
	}
	r.mu.Unlock()
	if w == nil {
		return Status{}, fmt.Errorf("status: projection %s: %w", quoteShort(name), ErrUnknownProjection)
	}
	return r.status(ctx, w)
}

// Statuses returns the status of every projection and reactor of the runner, in
// the order they were added.
func (r *Runner[Tx]) Statuses(ctx context.Context) ([]Status, error) {
	r.mu.Lock()
	ws := r.workers()
	r.mu.Unlock()
	out := make([]Status, 0, len(ws))
	for _, w := range ws {
		s, err := r.status(ctx, w)
		if err != nil {
			return out, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (r *Runner[Tx]) status(ctx context.Context, w worker) (Status, error) {
	st := w.stats().snapshot()
	s := Status{Name: st.Name, Reactor: st.Reactor, Version: st.Version, State: st.State, Err: st.Err}
	if err := r.init(ctx); err != nil {
		return s, err
	}
	gens, err := r.target.Generations(ctx, s.Name)
	if err != nil {
		return s, fmt.Errorf("status of %s: %w", label(s.Name, s.Reactor, 0), err)
	}
	for i, g := range gens {
		switch g.State {
		case Active:
			s.Active = &gens[i]
			s.Parked += g.Parked
		case Building:
			s.Building = &gens[i] // the newest, gens being by number
		}
	}
	if s.Building != nil {
		s.Parked += s.Building.Parked
	}
	if s.Active != nil {
		s.Checkpoint = s.Active.Checkpoint
		if !s.Reactor && s.State == Idle && s.Active.Version > s.Version {
			s.State = SteppedAside
		}
	}
	h, hasHead := r.head(ctx)
	l := r.countLag(ctx, s.Checkpoint, h, hasHead, w.filters())
	s.Head, s.Lag, s.LagCapped, s.LagAge = l.head, l.events, l.capped, l.age
	return s, ctx.Err()
}
