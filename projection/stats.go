package projection

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/idemkit/idem/eventstore"
)

// RunState is what a runner is doing with a projection or reactor.
type RunState uint8

const (
	// Idle: not running (before Run or CatchUp, or after they returned).
	Idle RunState = iota
	// Running: catching up, rebuilding or live (see Mode).
	Running
	// SteppedAside: the projection's active generation was built by newer code (a
	// higher Version); this runner leaves it alone until restarted with that code.
	SteppedAside
	// Failed: stopped with an error (see Err).
	Failed
)

// String returns "idle", "running", "stepped aside" or "failed".
func (s RunState) String() string {
	switch s {
	case Idle:
		return "idle"
	case Running:
		return "running"
	case SteppedAside:
		return "stepped aside"
	case Failed:
		return "failed"
	default:
		return "unknown"
	}
}

// Stats is a snapshot of the counters of one projection or reactor in this runner
// (G12), kept in memory: see Status for the target's view.
type Stats struct {
	Name string
	// Reactor is true for a reactor.
	Reactor bool
	// Version is the projection's code version (0 for a reactor).
	Version int
	// Generation is the generation Run applies events to (0 before the first run,
	// or when stepped aside).
	Generation int
	// State is what the runner does with it.
	State RunState
	// Mode is the mode events are applied in now (0 before the first run).
	Mode Mode
	// Applied counts events applied (handled, for a reactor) by this runner, to
	// any generation (Rebuild and replays included); Skipped the events the
	// per-stream guard skipped; Parked the events parked; Retries the handler or
	// target retries.
	Applied, Skipped, Parked, Retries uint64
	// Checkpoint is the position of the last event Run committed to Generation.
	Checkpoint eventstore.Position
	// Head is the position of the last event of the source log, when the store is
	// an eventstore.HeadReader, as of the last refresh (WithLagInterval).
	Head eventstore.Position
	// Lag is the number of events, of the types and streams the projection wants,
	// after Checkpoint: counted by reading the log from the checkpoint, up to the
	// lag limit (LagCapped then says it is a lower bound). Lag is counted, not
	// computed from positions, because positions are not contiguous (on
	// EventStoreDB they are byte offsets).
	Lag       uint64
	LagCapped bool
	// LagAge is the age of the oldest event not yet applied (from its RecordedAt);
	// 0 when there is none, or when the store records no time.
	LagAge time.Duration
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
	reactor    bool
	version    int
	generation int
	state      RunState
	mode       Mode
	checkpoint eventstore.Position
	lag        lag
	err        error

	m *meters // the worker's instruments; set at creation
}

// countEvents adds n events of outcome, applied in mode, to the counters and the
// idem.projection.events metric, which therefore always agree.
func (s *stats) countEvents(ctx context.Context, outcome, mode string, n uint64) {
	switch outcome {
	case OutcomeApplied:
		s.applied.Add(n)
	case OutcomeSkipped:
		s.skipped.Add(n)
	case OutcomeParked:
		s.parked.Add(n)
	}
	s.m.countEvents(ctx, outcome, mode, n)
}

// countRetry counts one retry, of a handler or of a target write.
func (s *stats) countRetry(ctx context.Context, cause string) {
	s.retries.Add(1)
	s.m.countRetry(ctx, cause)
}

func (s *stats) snapshot() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Name: s.name, Reactor: s.reactor, Version: s.version, Generation: s.generation, State: s.state, Mode: s.mode,
		Applied: s.applied.Load(), Skipped: s.skipped.Load(), Parked: s.parked.Load(), Retries: s.retries.Load(),
		Checkpoint: s.checkpoint, Head: s.lag.head, Lag: s.lag.events, LagCapped: s.lag.capped, LagAge: s.lag.age,
		LagAt: s.lag.at, Err: s.err}
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

// Stats returns a snapshot of every projection and reactor of the runner, in the
// order they were added.
func (r *Runner[Tx]) Stats() []Stats {
	r.mu.Lock()
	ws := r.workers()
	r.mu.Unlock()
	out := make([]Stats, 0, len(ws))
	for _, w := range ws {
		out = append(out, w.stats().snapshot())
	}
	return out
}

func (r *Runner[Tx]) lagLoop(ctx context.Context, ws []worker) {
	t := time.NewTicker(r.set.lagEvery)
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
func (r *Runner[Tx]) refreshLag(ctx context.Context, ws []worker) {
	h, hasHead := r.head(ctx)
	for _, w := range ws {
		s := w.stats()
		l := r.countLag(ctx, s.getCheckpoint(), h, hasHead, w.filters())
		s.set(func(s *stats) { s.lag = l })
		s.m.recordLag(ctx, l)
	}
}

// lag is how far a checkpoint is behind the log.
type lag struct {
	head   eventstore.Position
	events uint64
	capped bool
	age    time.Duration
	at     time.Time
}

// head reads the head of the log, if the store can tell it cheaply.
func (r *Runner[Tx]) head(ctx context.Context) (eventstore.Position, bool) {
	if hr, ok := r.store.(eventstore.HeadReader); ok {
		if h, err := hr.Head(ctx); err == nil {
			return h, true
		}
	}
	return eventstore.Position{}, false
}

// countLag counts the events of filters after cp, up to the lag limit, and the age
// of the first of them. With the head known and not after cp, nothing is read.
func (r *Runner[Tx]) countLag(ctx context.Context, cp, h eventstore.Position, hasHead bool, filters []eventstore.ReadOption) lag {
	l := lag{head: h, at: time.Now()}
	if hasHead && h.Compare(cp) <= 0 {
		return l
	}
	opts := append(append([]eventstore.ReadOption(nil), filters...), eventstore.Limit(r.set.lagLimit))
	for e, err := range r.store.ReadAll(ctx, cp, opts...) {
		if err != nil {
			break
		}
		if l.events == 0 && !e.RecordedAt.IsZero() {
			l.age = max(l.at.Sub(e.RecordedAt), 0)
		}
		l.events++
	}
	l.capped = l.events >= uint64(r.set.lagLimit)
	return l
}
