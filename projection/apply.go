package projection

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/internal/callback"
)

// sqlWorker runs one version of a SQL projection.
type sqlWorker struct {
	r      *Runner
	p      SQL
	tables *tables
	st     stats

	cancelMu sync.Mutex
	cancel   context.CancelFunc
	retired  bool
}

func (w *sqlWorker) stats() *stats                        { return &w.st }
func (w *sqlWorker) readOptions() []eventstore.ReadOption { return w.p.readOptions() }
func (w *sqlWorker) label() string                        { return label(w.p.Name, w.p.Version) }

// retire stops the worker: a newer version of its projection was switched in.
func (w *sqlWorker) retire() {
	w.cancelMu.Lock()
	defer w.cancelMu.Unlock()
	w.retired = true
	if w.cancel != nil {
		w.cancel()
	}
}

func (w *sqlWorker) run(ctx context.Context, untilCaughtUp bool) error {
	w.st.set(func(s *stats) { s.name, s.version, s.err = w.p.Name, w.p.Version, nil })
	cp, mode, err := w.prepare(ctx)
	if err == nil {
		err = w.loop(ctx, cp, mode, untilCaughtUp)
		if errors.Is(err, ErrRetired) {
			// Replaced by a newer version while running: stop quietly.
			w.r.log.Info("projection version retired, stopping", "projection", w.p.Name, "version", w.p.Version)
			w.st.set(func(s *stats) { s.state = stateRetired })
			return nil
		}
	}
	w.cancelMu.Lock()
	retired := w.retired
	w.cancelMu.Unlock()
	switch {
	case err == nil:
		return nil
	case retired && ctx.Err() == nil && errors.Is(err, context.Canceled):
		w.st.set(func(s *stats) { s.state = stateRetired })
		return nil
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return nil
	}
	w.st.set(func(s *stats) { s.err = err })
	w.r.log.Error("projection stopped", "projection", w.p.Name, "version", w.p.Version, "error", err)
	return err
}

func (w *sqlWorker) loop(parent context.Context, cp eventstore.Position, mode Mode, untilCaughtUp bool) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	w.cancelMu.Lock()
	if w.retired {
		w.cancelMu.Unlock()
		return ErrRetired
	}
	w.cancel = cancel
	w.cancelMu.Unlock()

	w.r.log.Info("projection starting", "projection", w.p.Name, "version", w.p.Version, "mode", mode.String(), "checkpoint", cp.String())
	opts := w.r.opts
	size := max(opts.BatchSize, opts.CatchUpBatchSize)
	f := startFeed(ctx, w.r.store, cp, w.p.readOptions(), size)
	defer f.stop()
	defer cancel()
	prog := newProgressTracker(w.r, w.p.Name, w.p.Version, cp)
	batch := make([]eventstore.RecordedEvent, 0, size)
	for {
		var caughtUp bool
		var err error
		batch, caughtUp, err = f.next(ctx, batch[:0], opts.batchSize(mode), mode != Live)
		if err != nil {
			return fmt.Errorf("%s: read events: %w", w.label(), err)
		}
		if len(batch) > 0 {
			if err := w.apply(ctx, batch, mode, true, nil); err != nil {
				return err
			}
			if mode != Live {
				prog.report(ctx, mode, uint64(len(batch)), w.st.getCheckpoint(), false)
			}
		}
		if !caughtUp {
			continue
		}
		if mode != Live {
			prog.report(ctx, mode, 0, w.st.getCheckpoint(), true)
		}
		if mode == Rebuild {
			if err := w.switchOver(ctx); err != nil {
				return err
			}
		}
		mode = Live
		w.st.set(func(s *stats) { s.mode = Live })
		if untilCaughtUp {
			return nil
		}
	}
}

// apply commits batch, splitting it around events whose handler fails: the events
// before a failing one commit, the failing one is retried with backoff, then
// stops the projection or is parked (Poison). When move is false (replays) the
// checkpoint stays where it is; the per-stream guard still applies. Counts are
// added to t when it is not nil.
func (w *sqlWorker) apply(ctx context.Context, batch []eventstore.RecordedEvent, mode Mode, move bool, t *ReplayResult) error {
	for len(batch) > 0 {
		err := w.commitRetrying(ctx, batch, mode, move, nil, t)
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
			if err := w.apply(ctx, batch[:hf.at], mode, move, t); err != nil {
				return err
			}
			batch = batch[hf.at:]
		}
		if err := w.poison(ctx, batch[0], mode, move, hf.err, t); err != nil {
			return err
		}
		batch = batch[1:]
	}
	return nil
}

// poison retries one failing event alone, then applies the poison policy.
func (w *sqlWorker) poison(ctx context.Context, e eventstore.RecordedEvent, mode Mode, move bool, cause error, t *ReplayResult) error {
	opts := w.r.opts
	attempts := 1
	for attempt := 1; attempt <= opts.Retries; attempt++ {
		w.r.log.Warn("projection handler failed, retrying", "projection", w.p.Name, "version", w.p.Version,
			"event", e.ID, "stream", e.Stream, "revision", e.Revision, "attempt", attempts, "error", cause)
		if err := sleep(ctx, opts.backoff(attempt)); err != nil {
			return err
		}
		w.st.retries.Add(1)
		attempts++
		err := w.commitRetrying(ctx, []eventstore.RecordedEvent{e}, mode, move, nil, t)
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
	herr := newHandlerError(w.p.Name, w.p.Version, e, attempts, cause)
	if w.p.Poison != PoisonPark {
		return herr
	}
	if err := w.commitRetrying(ctx, []eventstore.RecordedEvent{e}, mode, move, herr, t); err != nil {
		return err
	}
	w.r.log.Warn("projection event parked", "projection", w.p.Name, "version", w.p.Version,
		"event", e.ID, "stream", e.Stream, "revision", e.Revision, "error", herr)
	return nil
}

// commitRetrying is commit, retried with backoff when the target database fails.
func (w *sqlWorker) commitRetrying(ctx context.Context, batch []eventstore.RecordedEvent, mode Mode, move bool, park error, t *ReplayResult) error {
	for attempt := 1; ; attempt++ {
		err := w.commit(ctx, batch, mode, move, park, t)
		var hf *handlerFailure
		switch {
		case err == nil, errors.As(err, &hf), errors.Is(err, ErrRetired), errors.Is(err, ErrCheckpointMoved),
			ctx.Err() != nil, attempt > w.r.opts.Retries:
			return err
		}
		w.st.retries.Add(1)
		w.r.log.Warn("projection batch failed, retrying", "projection", w.p.Name, "version", w.p.Version,
			"events", len(batch), "attempt", attempt, "error", err)
		if err := sleep(ctx, w.r.opts.backoff(attempt)); err != nil {
			return err
		}
	}
}

// commit applies batch in one transaction with the checkpoint (when move is set)
// and the per-stream guard (G8). With park set, the events are recorded as parked
// instead of being handled. A handler failure is returned as *handlerFailure, with
// everything rolled back.
func (w *sqlWorker) commit(ctx context.Context, batch []eventstore.RecordedEvent, mode Mode, move bool, park error, t *ReplayResult) error {
	r := w.r
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: begin transaction: %w", w.label(), err)
	}
	defer tx.Rollback()
	from := w.st.getCheckpoint()
	to := batch[len(batch)-1].Position
	if move && to.Compare(from) <= 0 {
		move = false // already past: nothing to move (defensive; positions only grow)
	}
	if err := claim(ctx, tx, w.p.Name, w.p.Version, move, from, to); err != nil {
		return err
	}
	streams := make([]string, 0, len(batch))
	seen := make(map[string]bool, len(batch))
	for _, e := range batch {
		if !seen[e.Stream] {
			seen[e.Stream] = true
			streams = append(streams, e.Stream)
		}
	}
	guards, err := loadGuards(ctx, tx, w.p.Name, w.p.Version, streams)
	if err != nil {
		return err
	}
	ptx := newTx(ctx, tx, w.tables)
	dirty := make(map[string]uint64, len(streams))
	var applied, skipped uint64
	for i, e := range batch {
		if g, ok := guards[e.Stream]; ok && e.Revision <= g {
			skipped++ // G8: applied before (a replay, or a crash after commit)
			continue
		}
		if park != nil {
			if err := insertParked(ctx, tx, w.p.Name, w.p.Version, e, park, 1+r.opts.Retries); err != nil {
				return err
			}
		} else if err := callback.Call(w.label()+" Handle", func() error { return w.p.Handle(ctx, ptx, Event{RecordedEvent: e, Mode: mode}) }); err != nil {
			return &handlerFailure{at: i, err: err}
		}
		guards[e.Stream] = e.Revision
		dirty[e.Stream] = e.Revision
		applied++
	}
	if err := saveGuards(ctx, tx, w.p.Name, w.p.Version, dirty); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit batch up to %s: %w", w.label(), to, err)
	}
	if move {
		w.st.set(func(s *stats) { s.checkpoint = to })
	}
	if park != nil {
		w.st.parked.Add(applied)
	} else {
		w.st.applied.Add(applied)
	}
	w.st.skipped.Add(skipped)
	if t != nil {
		if park != nil {
			t.Parked += applied
		} else {
			t.Applied += applied
		}
		t.Skipped += skipped
	}
	return nil
}

// prepare creates the version's bookkeeping row and tables on its first run, and
// returns its checkpoint and the mode it starts in: CatchUp for the active version
// (or the first version of a projection), Rebuild for a version built beside an
// active one.
func (w *sqlWorker) prepare(ctx context.Context) (eventstore.Position, Mode, error) {
	var cp eventstore.Position
	var state string
	p := w.p
	err := w.r.writeTx(ctx, func(tx *sql.Tx) error {
		recs, err := records(ctx, tx, p.Name)
		if err != nil {
			return err
		}
		active := 0
		for v, rec := range recs {
			if rec.kind != kindSQL {
				return fmt.Errorf("%w: the name is used by a reactor", ErrInvalidProjection)
			}
			if rec.state == stateActive {
				active = v
			}
		}
		if rec, ok := recs[p.Version]; ok {
			if rec.state == stateRetired {
				return fmt.Errorf("%w (active version: %d)", ErrRetired, active)
			}
			cp, state = rec.checkpoint, rec.state
			return nil
		}
		if active > p.Version {
			return fmt.Errorf("%w: version %d is active; deploy a version above it to replace it", ErrRetired, active)
		}
		ptx := newTx(ctx, tx, w.tables)
		if err := callback.Call(w.label()+" Setup", func() error { return p.Setup(ctx, ptx) }); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
		for _, t := range p.Tables {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`,
				PhysicalTable(t, p.Version)).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("%w: Setup did not create table {%s} (%s)", ErrInvalidProjection, t, PhysicalTable(t, p.Version))
			}
		}
		state = stateBuilding
		if active == 0 {
			state = stateActive
			if err := pointViews(ctx, tx, p, nil); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO idem_projections (name, version, kind, state, tables, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, p.Name, p.Version, kindSQL, state, joinTables(p.Tables), now(), now())
		return err
	})
	if err != nil {
		return cp, 0, fmt.Errorf("prepare %s: %w", w.label(), err)
	}
	if err := w.r.dropRetired(ctx, p.Name); err != nil {
		return cp, 0, err
	}
	mode := CatchUp
	if state == stateBuilding {
		mode = Rebuild
	}
	w.st.set(func(s *stats) { s.state, s.mode, s.checkpoint = state, mode, cp })
	return cp, mode, nil
}

// progressTracker reports catch-up and rebuild progress.
type progressTracker struct {
	r       *Runner
	name    string
	version int
	start   eventstore.Position
	began   time.Time
	last    time.Time
	done    uint64
}

func newProgressTracker(r *Runner, name string, version int, start eventstore.Position) *progressTracker {
	t := time.Now()
	return &progressTracker{r: r, name: name, version: version, start: start, began: t, last: t}
}

func (t *progressTracker) report(ctx context.Context, mode Mode, n uint64, cp eventstore.Position, final bool) {
	t.done += n
	if !final && time.Since(t.last) < t.r.opts.ProgressEvery {
		return
	}
	t.last = time.Now()
	p := Progress{Projection: t.name, Version: t.version, Mode: mode, Done: t.done, Checkpoint: cp, CaughtUp: final}
	elapsed := time.Since(t.began)
	if elapsed > 0 {
		p.Rate = float64(t.done) / elapsed.Seconds()
	}
	if final {
		p.Total = t.done
	} else if hr, ok := t.r.store.(eventstore.HeadReader); ok {
		if head, err := hr.Head(ctx); err == nil {
			p.Head = head
			p.estimate(t.start, elapsed)
		}
	}
	attrs := []any{"projection", t.name, "version", t.version, "mode", mode.String(), "done", p.Done,
		"total", p.Total, "rate", int64(p.Rate), "remaining", p.Remaining.Round(time.Second), "checkpoint", cp.String()}
	if final {
		t.r.log.Info("projection caught up", attrs...)
	} else {
		t.r.log.Info("projection progress", attrs...)
	}
	if t.r.opts.Progress != nil {
		t.r.opts.Progress(p)
	}
}

// Progress reports how far a catch-up or a rebuild has gone.
type Progress struct {
	Projection string
	Version    int
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
