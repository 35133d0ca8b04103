package projection

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/internal/callback"
)

// ParkedEvent is an event set aside by PoisonPark.
type ParkedEvent struct {
	Projection string
	// Version is the projection version; 0 for a reactor.
	Version int
	Event   eventstore.RecordedEvent
	// Err is the last handler error, as text.
	Err      string
	Attempts int
	ParkedAt time.Time
}

// Parked lists the parked events of projection or reactor name (every version), in
// log order.
func (r *Runner) Parked(ctx context.Context, name string) ([]ParkedEvent, error) {
	if err := r.ensureSchema(ctx); err != nil {
		return nil, err
	}
	rows, err := r.db.QueryContext(ctx, `SELECT version, event_id, stream, revision, commit_pos, prepare_pos, type, data, metadata,
		recorded_at, error, attempts, parked_at FROM idem_projection_parked WHERE name = ? ORDER BY version, commit_pos, prepare_pos`, name)
	if err != nil {
		return nil, fmt.Errorf("list parked events of %s: %w", name, err)
	}
	defer rows.Close()
	var out []ParkedEvent
	for rows.Next() {
		pe, err := scanParked(rows)
		if err != nil {
			return nil, fmt.Errorf("list parked events of %s: %w", name, err)
		}
		pe.Projection = name
		out = append(out, pe)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list parked events of %s: %w", name, err)
	}
	return out, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanParked(s scanner) (ParkedEvent, error) {
	var pe ParkedEvent
	var id, recordedAt, parkedAt string
	var rev, c, p int64
	err := s.Scan(&pe.Version, &id, &pe.Event.Stream, &rev, &c, &p, &pe.Event.Type, &pe.Event.Data, &pe.Event.Metadata,
		&recordedAt, &pe.Err, &pe.Attempts, &parkedAt)
	if err != nil {
		return pe, err
	}
	if pe.Event.ID, err = uuid.Parse(id); err != nil {
		return pe, fmt.Errorf("%w: parked event id %q: %v", eventstore.ErrCorrupt, id, err)
	}
	if rev < 0 || c < 0 || p < 0 {
		return pe, fmt.Errorf("%w: parked event %s: negative revision or position", eventstore.ErrCorrupt, pe.Event.ID)
	}
	pe.Event.Revision = uint64(rev)
	pe.Event.Position = eventstore.Position{Commit: uint64(c), Prepare: uint64(p)}
	if pe.Event.RecordedAt, err = time.Parse(time.RFC3339Nano, recordedAt); err != nil {
		return pe, fmt.Errorf("%w: parked event %s: recorded_at: %w", eventstore.ErrCorrupt, pe.Event.ID, err)
	}
	if pe.ParkedAt, err = time.Parse(time.RFC3339Nano, parkedAt); err != nil {
		return pe, fmt.Errorf("%w: parked event %s: parked_at: %w", eventstore.ErrCorrupt, pe.Event.ID, err)
	}
	return pe, nil
}

// RetryParked runs the current handler of projection or reactor name on one of its
// parked events again. For a SQL projection the handler's changes and the removal
// of the parked row commit in one transaction, so a re-run applies the event once.
// For a reactor the row is removed after Handle returns (at-least-once, as always
// for reactors). On failure the event stays parked, its attempts and error updated,
// and the *HandlerError is returned. The event is applied out of its original
// order: later events of its stream were applied while it was parked.
func (r *Runner) RetryParked(ctx context.Context, name string, eventID uuid.UUID) error {
	if err := r.ensureSchema(ctx); err != nil {
		return err
	}
	for _, w := range r.sqlWorkers(name) {
		err := w.retryParked(ctx, eventID)
		if !errors.Is(err, ErrParkedNotFound) {
			return err
		}
	}
	r.mu.Lock()
	var rw *reactorWorker
	for _, w := range r.reactors {
		if w.re.Name == name {
			rw = w
		}
	}
	r.mu.Unlock()
	if rw != nil {
		return rw.retryParked(ctx, eventID)
	}
	return fmt.Errorf("retry parked event %s of %s: %w", eventID, name, ErrParkedNotFound)
}

func readParked(ctx context.Context, q querier, name string, version int, id uuid.UUID) (ParkedEvent, error) {
	pe, err := scanParked(q.QueryRowContext(ctx, `SELECT version, event_id, stream, revision, commit_pos, prepare_pos, type, data, metadata,
		recorded_at, error, attempts, parked_at FROM idem_projection_parked WHERE name = ? AND version = ? AND event_id = ?`,
		name, version, id.String()))
	if errors.Is(err, sql.ErrNoRows) {
		return pe, fmt.Errorf("retry parked event %s of %s: %w", id, label(name, version), ErrParkedNotFound)
	}
	pe.Projection = name
	return pe, err
}

func (r *Runner) noteParkedFailure(ctx context.Context, pe ParkedEvent, cause error) error {
	herr := newHandlerError(pe.Projection, pe.Version, pe.Event, pe.Attempts+1, cause)
	err := r.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE idem_projection_parked SET attempts = attempts + 1, error = ?, parked_at = ?
			WHERE name = ? AND version = ? AND event_id = ?`, cause.Error(), now(), pe.Projection, pe.Version, pe.Event.ID.String())
		return err
	})
	return errors.Join(herr, err)
}

func deleteParked(ctx context.Context, tx *sql.Tx, name string, version int, id uuid.UUID) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM idem_projection_parked WHERE name = ? AND version = ? AND event_id = ?`,
		name, version, id.String())
	return err
}

func (w *sqlWorker) retryParked(ctx context.Context, id uuid.UUID) error {
	var pe ParkedEvent
	var cause error
	err := w.r.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		if pe, err = readParked(ctx, tx, w.p.Name, w.p.Version, id); err != nil {
			return err
		}
		if err := claim(ctx, tx, w.p.Name, w.p.Version, false, eventstore.Start(), eventstore.Start()); err != nil {
			return err
		}
		ptx := newTx(ctx, tx, w.tables)
		if err := callback.Call(w.label()+" Handle", func() error { return w.p.Handle(ctx, ptx, Event{RecordedEvent: pe.Event, Mode: CatchUp}) }); err != nil {
			cause = err
			return err
		}
		return deleteParked(ctx, tx, w.p.Name, w.p.Version, id)
	})
	if cause != nil {
		return w.r.noteParkedFailure(ctx, pe, cause)
	}
	if err != nil {
		return err
	}
	w.st.applied.Add(1)
	w.r.log.Info("parked event re-run", "projection", w.p.Name, "version", w.p.Version, "event", id)
	return nil
}

func (w *reactorWorker) retryParked(ctx context.Context, id uuid.UUID) error {
	pe, err := readParked(ctx, w.r.db, w.re.Name, 0, id)
	if err != nil {
		return err
	}
	ev := ReactorEvent{RecordedEvent: pe.Event, Mode: CatchUp, IdempotencyKey: id.String()}
	if err := callback.Call(label(w.re.Name, 0)+" Handle", func() error { return w.re.Handle(ctx, ev) }); err != nil {
		return w.r.noteParkedFailure(ctx, pe, err)
	}
	err = w.r.writeTx(ctx, func(tx *sql.Tx) error { return deleteParked(ctx, tx, w.re.Name, 0, id) })
	if err != nil {
		return fmt.Errorf("retry parked event %s of %s: remove it: %w", id, label(w.re.Name, 0), err)
	}
	w.st.applied.Add(1)
	w.r.log.Info("parked event re-run", "reactor", w.re.Name, "event", id)
	return nil
}
