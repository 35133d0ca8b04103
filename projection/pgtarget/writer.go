package pgtarget

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/internal/quote"
	"github.com/idemkit/idem/projection"
)

// writer is the projection.Writer of one Target.Write: the bookkeeping of one name
// in one transaction.
type writer struct {
	t    *Target
	tx   pgx.Tx
	name string
}

// exec runs a bookkeeping statement.
func (w *writer) exec(ctx context.Context, query string, args ...any) (pgconn.CommandTag, error) {
	tag, err := w.tx.Exec(ctx, query, args...)
	return tag, storageError(ctx, err)
}

func (w *writer) label(generation int) string {
	return fmt.Sprintf("generation %d of %s", generation, quote.Q(w.name))
}

// Generations implements projection.Writer.
func (w *writer) Generations(ctx context.Context) ([]projection.Generation, error) {
	gens, err := w.t.readGenerations(ctx, w.tx, w.name)
	if err != nil {
		return nil, fmt.Errorf("read generations: %w", err)
	}
	return gens, nil
}

// generation reads one generation, failing with ErrUnknownProjection if it is not
// recorded.
func (w *writer) generation(ctx context.Context, n int) (projection.Generation, error) {
	gens, err := w.Generations(ctx)
	if err != nil {
		return projection.Generation{}, err
	}
	for _, g := range gens {
		if g.Number == n {
			return g, nil
		}
	}
	return projection.Generation{}, fmt.Errorf("%s: %w: not recorded in schema %s", w.label(n), projection.ErrUnknownProjection, w.t.schema)
}

// Create implements projection.Writer: it records g, runs setup and checks that it
// created every table of g, as a table, in the target's schema.
func (w *writer) Create(ctx context.Context, g projection.Generation, setup func(tx *Tx) error) error {
	switch {
	case g.Name != w.name:
		return fmt.Errorf("create %s: %w: the generation is named %s", w.label(g.Number), projection.ErrInvalidProjection, quote.Q(g.Name))
	case g.Number < 1:
		return fmt.Errorf("create %s: %w: generation numbers start at 1", w.label(g.Number), projection.ErrInvalidProjection)
	case g.Version < 0 || g.Version > 1<<31-1:
		return fmt.Errorf("create %s: %w: version %d out of range", w.label(g.Number), projection.ErrInvalidProjection, g.Version)
	}
	for _, t := range g.Tables {
		if !projection.ValidTable(t) {
			return fmt.Errorf("create %s: %w: invalid table name %s", w.label(g.Number), projection.ErrInvalidProjection, quote.Q(t))
		}
	}
	tables := g.Tables
	if tables == nil {
		tables = []string{}
	}
	now := time.Now()
	_, err := w.exec(ctx, `INSERT INTO `+w.t.table("idem_projection_generations")+`
		(name, generation, kind, version, state, tables, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`,
		w.name, g.Number, g.Kind.String(), g.Version, projection.Building.String(), tables, now)
	if err != nil {
		return fmt.Errorf("record %s: %w", w.label(g.Number), err)
	}
	if setup == nil {
		return nil
	}
	if err := setup(w.Tx(ctx, g)); err != nil {
		return fmt.Errorf("setup of %s: %w", w.label(g.Number), err)
	}
	for _, t := range g.Tables {
		kind, err := w.relkind(ctx, PhysicalTable(t, g.Number))
		if err != nil {
			return err
		}
		if kind != "r" && kind != "p" {
			return fmt.Errorf("setup of %s: %w: Setup did not create table {%s} (%s)",
				w.label(g.Number), projection.ErrInvalidProjection, t, qualified(w.t.schema, PhysicalTable(t, g.Number)))
		}
	}
	return nil
}

func (w *writer) setState(ctx context.Context, n int, s projection.GenerationState) error {
	tag, err := w.exec(ctx, `UPDATE `+w.t.table("idem_projection_generations")+` SET state = $1, updated_at = $2
		WHERE name = $3 AND generation = $4`, s.String(), time.Now(), w.name, n)
	if err != nil {
		return fmt.Errorf("mark %s %s: %w", w.label(n), s, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("mark %s %s: %w: not recorded in schema %s", w.label(n), s, projection.ErrUnknownProjection, w.t.schema)
	}
	return nil
}

// Retire implements projection.Writer.
func (w *writer) Retire(ctx context.Context, n int) error {
	return w.setState(ctx, n, projection.Retired)
}

// Claim implements projection.Writer.
func (w *writer) Claim(ctx context.Context, n int) error {
	g, err := w.generation(ctx, n)
	if err != nil {
		return err
	}
	if g.State == projection.Retired {
		return fmt.Errorf("%s: %w", w.label(n), projection.ErrRetired)
	}
	return nil
}

// Advance implements projection.Writer: a compare-and-set of the checkpoint.
func (w *writer) Advance(ctx context.Context, n int, from, to eventstore.Position) error {
	fc, fp, err := position(from)
	if err != nil {
		return err
	}
	tc, tp, err := position(to)
	if err != nil {
		return err
	}
	tag, err := w.exec(ctx, `UPDATE `+w.t.table("idem_projection_generations")+` SET commit_pos = $1, prepare_pos = $2, updated_at = $3
		WHERE name = $4 AND generation = $5 AND commit_pos = $6 AND prepare_pos = $7 AND state IN ('active', 'building')`,
		tc, tp, time.Now(), w.name, n, fc, fp)
	if err != nil {
		return fmt.Errorf("move the checkpoint of %s: %w", w.label(n), err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	g, err := w.generation(ctx, n)
	switch {
	case err != nil:
		return err
	case g.State == projection.Retired:
		return fmt.Errorf("%s: %w", w.label(n), projection.ErrRetired)
	default:
		return fmt.Errorf("%s: expected checkpoint %s, found %s: %w", w.label(n), from, g.Checkpoint, projection.ErrCheckpointMoved)
	}
}

// Guards implements projection.Writer.
func (w *writer) Guards(ctx context.Context, n int, streams []string) (map[string]uint64, error) {
	g, err := w.t.readGuards(ctx, w.tx, w.name, n, streams)
	if err != nil {
		return nil, fmt.Errorf("read the stream guards of %s: %w", w.label(n), err)
	}
	return g, nil
}

// SaveGuards implements projection.Writer, in one statement: one row write per
// stream per batch. A guard never moves back: an event applied out of order (a
// parked event re-run) cannot reopen the revisions after it to a replay (G8).
func (w *writer) SaveGuards(ctx context.Context, n int, guards map[string]uint64) error {
	if len(guards) == 0 {
		return nil
	}
	streams := make([]string, 0, len(guards))
	revisions := make([]int64, 0, len(guards))
	for s, r := range guards {
		rev, err := bigint("revision", r)
		if err != nil {
			return fmt.Errorf("write the stream guards of %s: %w", w.label(n), err)
		}
		streams, revisions = append(streams, s), append(revisions, rev)
	}
	_, err := w.exec(ctx, `INSERT INTO `+w.t.table("idem_projection_guards")+` AS g (name, generation, stream, revision)
		SELECT $1, $2, u.stream, u.revision FROM unnest($3::text[], $4::bigint[]) AS u(stream, revision)
		ON CONFLICT (name, generation, stream) DO UPDATE SET revision = greatest(g.revision, excluded.revision)`,
		w.name, n, streams, revisions)
	if err != nil {
		return fmt.Errorf("write the stream guards of %s: %w", w.label(n), err)
	}
	return nil
}

// Park implements projection.Writer.
func (w *writer) Park(ctx context.Context, n int, pe projection.ParkedEvent) error {
	e := pe.Event
	c, p, err := position(e.Position)
	if err != nil {
		return err
	}
	rev, err := bigint("revision", e.Revision)
	if err != nil {
		return err
	}
	at := pe.ParkedAt
	if at.IsZero() {
		at = time.Now()
	}
	recorded, ns := splitTime(e.RecordedAt)
	_, err = w.exec(ctx, `INSERT INTO `+w.t.table("idem_projection_parked_events")+` AS p
		(name, generation, event_id, stream, revision, commit_pos, prepare_pos, type, data, metadata, recorded_at, recorded_ns, error, attempts, parked_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
		ON CONFLICT (name, generation, event_id) DO UPDATE SET error = excluded.error,
			attempts = p.attempts + excluded.attempts, parked_at = excluded.parked_at`,
		w.name, n, e.ID, e.Stream, rev, c, p, e.Type, e.Data, e.Metadata, recorded, ns, cleanText(pe.Err), pe.Attempts, at)
	if err != nil {
		return fmt.Errorf("park event %s in %s: %w", e.ID, w.label(n), err)
	}
	return nil
}

// Unpark implements projection.Writer.
func (w *writer) Unpark(ctx context.Context, n int, id uuid.UUID) error {
	tag, err := w.exec(ctx, `DELETE FROM `+w.t.table("idem_projection_parked_events")+` WHERE name = $1 AND generation = $2 AND event_id = $3`,
		w.name, n, id)
	if err != nil {
		return fmt.Errorf("unpark event %s of %s: %w", id, w.label(n), err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("unpark event %s of %s: %w", id, w.label(n), projection.ErrParkedNotFound)
	}
	return nil
}

// Tx implements projection.Writer.
func (w *writer) Tx(_ context.Context, g projection.Generation) *Tx {
	return &Tx{tx: w.tx, tables: w.t.tablesOf(g)}
}
