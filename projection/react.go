package projection

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/internal/callback"
)

// reactorWorker runs a reactor: handle one event (the side effect), then commit the
// reactor's checkpoint and per-stream guard. See Reactor for the crash window.
type reactorWorker struct {
	r      *Runner
	re     Reactor
	st     stats
	guards map[string]uint64 // cache of the per-stream guard; only this worker writes it
}

func (w *reactorWorker) stats() *stats                        { return &w.st }
func (w *reactorWorker) readOptions() []eventstore.ReadOption { return w.re.readOptions() }

func (w *reactorWorker) run(ctx context.Context, untilCaughtUp bool) error {
	w.st.set(func(s *stats) { s.name, s.reactor, s.err = w.re.Name, true, nil })
	err := w.loop(ctx, untilCaughtUp)
	if err == nil || (ctx.Err() != nil && errors.Is(err, ctx.Err())) {
		return nil
	}
	w.st.set(func(s *stats) { s.err = err })
	w.r.log.Error("reactor stopped", "reactor", w.re.Name, "error", err)
	return err
}

func (w *reactorWorker) loop(ctx context.Context, untilCaughtUp bool) error {
	cp, err := w.prepare(ctx)
	if err != nil {
		return fmt.Errorf("prepare %s: %w", label(w.re.Name, 0), err)
	}
	clear(w.guards)
	mode := CatchUp
	w.st.set(func(s *stats) { s.state, s.mode, s.checkpoint = stateActive, mode, cp })
	w.r.log.Info("reactor starting", "reactor", w.re.Name, "checkpoint", cp.String())
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f := startFeed(ctx, w.r.store, cp, w.re.readOptions(), w.r.opts.BatchSize)
	defer f.stop()
	defer cancel()
	batch := make([]eventstore.RecordedEvent, 0, w.r.opts.BatchSize)
	for {
		var caughtUp bool
		// A reactor commits per event: batches only spare handoffs, never wait.
		batch, caughtUp, err = f.next(ctx, batch[:0], w.r.opts.BatchSize, false)
		if err != nil {
			return fmt.Errorf("%s: read events: %w", label(w.re.Name, 0), err)
		}
		for _, e := range batch {
			if err := w.react(ctx, e, mode); err != nil {
				return err
			}
		}
		if caughtUp {
			mode = Live
			w.st.set(func(s *stats) { s.mode = Live })
			if untilCaughtUp {
				return nil
			}
		}
	}
}

// react handles one event with retries, then commits the checkpoint and guard.
func (w *reactorWorker) react(ctx context.Context, e eventstore.RecordedEvent, mode Mode) error {
	g, err := w.guard(ctx, e.Stream)
	if err != nil {
		return err
	}
	if g >= 0 && e.Revision <= uint64(g) {
		w.st.skipped.Add(1)
		return w.commit(ctx, e, nil, 0)
	}
	ev := ReactorEvent{RecordedEvent: e, Mode: mode, IdempotencyKey: e.ID.String()}
	opts := w.r.opts
	attempts := 0
	for {
		attempts++
		err = callback.Call(label(w.re.Name, 0)+" Handle", func() error { return w.re.Handle(ctx, ev) })
		if err == nil {
			w.st.applied.Add(1)
			return w.commit(ctx, e, nil, 0)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if attempts > opts.Retries {
			break
		}
		w.r.log.Warn("reactor failed, retrying", "reactor", w.re.Name, "event", e.ID, "stream", e.Stream,
			"revision", e.Revision, "attempt", attempts, "error", err)
		if err := sleep(ctx, opts.backoff(attempts)); err != nil {
			return err
		}
		w.st.retries.Add(1)
	}
	herr := newHandlerError(w.re.Name, 0, e, attempts, err)
	if w.re.Poison != PoisonPark {
		return herr
	}
	if err := w.commit(ctx, e, herr, attempts); err != nil {
		return err
	}
	w.st.parked.Add(1)
	w.r.log.Warn("reactor event parked", "reactor", w.re.Name, "event", e.ID, "error", herr)
	return nil
}

// guard returns the last revision handled for stream, or -1.
func (w *reactorWorker) guard(ctx context.Context, stream string) (int64, error) {
	if g, ok := w.guards[stream]; ok {
		return int64(g), nil
	}
	var g int64 = -1
	err := w.r.db.QueryRowContext(ctx, `SELECT revision FROM idem_projection_streams WHERE name = ? AND version = 0 AND stream = ?`,
		w.re.Name, stream).Scan(&g)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%s: read stream guard: %w", label(w.re.Name, 0), err)
	}
	if g >= 0 {
		w.remember(stream, uint64(g))
	}
	return g, nil
}

// maxGuardCache bounds the reactor's cache of per-stream guards: one entry per
// stream it has seen would grow with every payment ever made. Past the bound the
// cache starts afresh; the guards themselves are in the database.
const maxGuardCache = 4096

// remember caches the guard of stream.
func (w *reactorWorker) remember(stream string, revision uint64) {
	if _, ok := w.guards[stream]; !ok && len(w.guards) >= maxGuardCache {
		clear(w.guards)
	}
	w.guards[stream] = revision
}

// commit moves the checkpoint to e and the guard of e's stream to e's revision,
// recording e as parked when park is set. Database failures are retried.
func (w *reactorWorker) commit(ctx context.Context, e eventstore.RecordedEvent, park error, attempts int) error {
	from := w.st.getCheckpoint()
	for attempt := 1; ; attempt++ {
		err := w.r.writeTx(ctx, func(tx *sql.Tx) error {
			if err := claim(ctx, tx, w.re.Name, 0, true, from, e.Position); err != nil {
				return err
			}
			if park != nil {
				if err := insertParked(ctx, tx, w.re.Name, 0, e, park, attempts); err != nil {
					return err
				}
			}
			return saveGuards(ctx, tx, w.re.Name, 0, map[string]uint64{e.Stream: e.Revision})
		})
		if err == nil {
			w.remember(e.Stream, e.Revision)
			w.st.set(func(s *stats) { s.checkpoint = e.Position })
			return nil
		}
		if errors.Is(err, ErrCheckpointMoved) || errors.Is(err, ErrRetired) || ctx.Err() != nil || attempt > w.r.opts.Retries {
			return fmt.Errorf("%s: commit checkpoint %s: %w", label(w.re.Name, 0), e.Position, err)
		}
		w.st.retries.Add(1)
		if err := sleep(ctx, w.r.opts.backoff(attempt)); err != nil {
			return err
		}
	}
}

// prepare creates the reactor's bookkeeping row on its first run (at Start, or at
// the head of the log with NewOnly) and returns its checkpoint.
func (w *reactorWorker) prepare(ctx context.Context) (eventstore.Position, error) {
	var start eventstore.Position
	if w.re.NewOnly {
		h, err := head(ctx, w.r.store)
		if err != nil {
			return start, err
		}
		start = h
	}
	var cp eventstore.Position
	err := w.r.writeTx(ctx, func(tx *sql.Tx) error {
		recs, err := records(ctx, tx, w.re.Name)
		if err != nil {
			return err
		}
		for v, rec := range recs {
			if rec.kind != kindReactor {
				return fmt.Errorf("%w: the name is used by a SQL projection", ErrInvalidProjection)
			}
			cp = recs[v].checkpoint
			return nil
		}
		cp = start
		_, err = tx.ExecContext(ctx, `INSERT INTO idem_projections (name, version, kind, state, commit_pos, prepare_pos, created_at, updated_at)
			VALUES (?, 0, ?, ?, ?, ?, ?, ?)`, w.re.Name, kindReactor, stateActive, int64(start.Commit), int64(start.Prepare), now(), now())
		return err
	})
	return cp, err
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
