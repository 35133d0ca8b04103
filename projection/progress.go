package projection

import (
	"context"
	"time"

	"github.com/idemkit/idem/eventstore"
)

// Progress reports how far a catch-up or a rebuild has gone.
type Progress struct {
	Projection string
	// Generation is the generation being built.
	Generation int
	Mode       Mode
	// Done counts the events read since this run started.
	Done uint64
	// Total estimates Done plus the events still to read: exact at the end
	// (CaughtUp), otherwise extrapolated from how far the checkpoint has moved
	// between the start and the head of the log (0 if the store can't tell its
	// head).
	Total uint64
	// Rate is events per second since the run started.
	Rate float64
	// Remaining estimates the time left (0 if unknown).
	Remaining time.Duration
	// Checkpoint and Head are the positions the estimate is based on.
	Checkpoint, Head eventstore.Position
	// CaughtUp is true for the last report of a catch-up or rebuild.
	CaughtUp bool
}

func (p *Progress) estimate(start eventstore.Position, elapsed time.Duration) {
	if p.Head.Commit <= start.Commit || p.Checkpoint.Commit <= start.Commit || p.Done == 0 {
		return
	}
	frac := float64(p.Checkpoint.Commit-start.Commit) / float64(p.Head.Commit-start.Commit)
	if frac <= 0 || frac > 1 {
		return
	}
	p.Total = uint64(float64(p.Done) / frac)
	p.Remaining = time.Duration(float64(elapsed) * (1 - frac) / frac)
}

// progressTracker reports catch-up and rebuild progress to the log and to report.
type progressTracker[Tx any] struct {
	r          *Runner[Tx]
	name       string
	generation int
	start      eventstore.Position
	began      time.Time
	last       time.Time
	done       uint64
	sinks      []func(Progress)
}

func newProgressTracker[Tx any](r *Runner[Tx], name string, generation int, start eventstore.Position, sinks []func(Progress)) *progressTracker[Tx] {
	t := time.Now()
	return &progressTracker[Tx]{r: r, name: name, generation: generation, start: start, began: t, last: t, sinks: sinks}
}

func (t *progressTracker[Tx]) report(ctx context.Context, mode Mode, n uint64, cp eventstore.Position, final bool) {
	t.done += n
	if !final && time.Since(t.last) < t.r.set.progressEvery {
		return
	}
	t.last = time.Now()
	p := Progress{Projection: t.name, Generation: t.generation, Mode: mode, Done: t.done, Checkpoint: cp, CaughtUp: final}
	elapsed := time.Since(t.began)
	if elapsed > 0 {
		p.Rate = float64(t.done) / elapsed.Seconds()
	}
	if final {
		p.Total = t.done
	} else if h, ok := t.r.head(ctx); ok {
		p.Head = h
		p.estimate(t.start, elapsed)
	}
	attrs := []any{"projection", t.name, "generation", t.generation, "mode", mode.String(), "done", p.Done,
		"total", p.Total, "rate", int64(p.Rate), "remaining", p.Remaining.Round(time.Second), "checkpoint", cp.String()}
	if final {
		t.r.log.Info("projection caught up", attrs...)
	} else {
		t.r.log.Info("projection progress", attrs...)
	}
	for _, f := range t.sinks {
		f(p)
	}
}
