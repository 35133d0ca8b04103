package projection

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/idemkit/idem/eventstore"
)

// Stats is a snapshot of one projection version's or reactor's counters (G12).
type Stats struct {
	Name string
	// Version is the projection version; 0 for a reactor.
	Version int
	// Reactor is true for a reactor.
	Reactor bool
	// State is "building", "active" or "retired" ("" before the first run).
	State string
	// Mode is the mode events are applied in now (0 before the first run).
	Mode Mode
	// Applied counts events applied (handled, for a reactor) by this runner;
	// Skipped the events the per-stream guard skipped; Parked the events parked;
	// Retries the handler or database retries.
	Applied, Skipped, Parked, Retries uint64
	// Checkpoint is the position of the last event committed.
	Checkpoint eventstore.Position
	// Head is the position of the last event of the source log, when the store is
	// an eventstore.HeadReader, as of the last refresh (see Options.LagEvery).
	Head eventstore.Position
	// Lag is the number of events, of the types and streams the projection wants,
	// after Checkpoint: counted by reading the log from the checkpoint, up to
	// Options.LagLimit (LagCapped then says it is a lower bound). Lag is counted,
	// not computed from positions, because positions are not contiguous (on
	// EventStoreDB they are byte offsets).
	Lag       uint64
	LagCapped bool
	// LagAt is when Head and Lag were refreshed.
	LagAt time.Time
	// Err is the error the projection stopped with, if any.
	Err error
}

// stats holds a worker's live figures.
type stats struct {
	applied, skipped, parked, retries atomic.Uint64

	mu         sync.Mutex
	name       string
	version    int
	reactor    bool
	state      string
	mode       Mode
	checkpoint eventstore.Position
	head       eventstore.Position
	lag        uint64
	lagCapped  bool
	lagAt      time.Time
	err        error
}

func (s *stats) snapshot() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Name: s.name, Version: s.version, Reactor: s.reactor, State: s.state, Mode: s.mode,
		Applied: s.applied.Load(), Skipped: s.skipped.Load(), Parked: s.parked.Load(), Retries: s.retries.Load(),
		Checkpoint: s.checkpoint, Head: s.head, Lag: s.lag, LagCapped: s.lagCapped, LagAt: s.lagAt, Err: s.err}
}

func (s *stats) set(f func(s *stats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *stats) getCheckpoint() eventstore.Position {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checkpoint
}

// Stats returns a snapshot of every projection version and reactor of the runner,
// in the order they were added.
func (r *Runner) Stats() []Stats {
	r.mu.Lock()
	ws := r.workers()
	r.mu.Unlock()
	out := make([]Stats, 0, len(ws))
	for _, w := range ws {
		out = append(out, w.stats().snapshot())
	}
	return out
}

func (r *Runner) lagLoop(ctx context.Context, ws []worker) {
	t := time.NewTicker(r.opts.LagEvery)
	defer t.Stop()
	for {
		r.refreshLag(ctx, ws)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// refreshLag reads the head once, then counts each worker's events behind.
func (r *Runner) refreshLag(ctx context.Context, ws []worker) {
	var head eventstore.Position
	hasHead := false
	if hr, ok := r.store.(eventstore.HeadReader); ok {
		if h, err := hr.Head(ctx); err == nil {
			head, hasHead = h, true
		}
	}
	for _, w := range ws {
		s := w.stats()
		cp := s.getCheckpoint()
		var lag uint64
		if !hasHead || head.Compare(cp) > 0 {
			for _, err := range r.store.ReadAll(ctx, cp, append(w.readOptions(), eventstore.Limit(r.opts.LagLimit))...) {
				if err != nil {
					break
				}
				lag++
			}
		}
		s.set(func(s *stats) {
			s.head, s.lag, s.lagCapped, s.lagAt = head, lag, lag >= uint64(r.opts.LagLimit), time.Now()
		})
	}
}
