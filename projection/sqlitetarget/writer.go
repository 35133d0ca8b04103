package sqlitetarget

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/internal/quote"
	"github.com/idemkit/idem/projection"
)

// writer is the projection.Writer of one Target.Write: the bookkeeping of one name
// in one transaction.
type writer struct {
	t     *Target
	tx    *sql.Tx
	name  string
	done  <-chan struct{}
	quiet context.Context
}

// exec runs a bookkeeping statement; see stmtContext for the context it runs with.
func (w *writer) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	qctx, err := stmtContext(ctx, w.done, w.quiet)
	if err != nil {
		return nil, err
	}
	res, err := w.tx.ExecContext(qctx, query, args...)
	return res, storageError(ctx, err)
}

// quietCtx is the context for a bookkeeping query.
func (w *writer) quietCtx(ctx context.Context) (context.Context, error) {
	return stmtContext(ctx, w.done, w.quiet)
}

func (w *writer) label(generation int) string {
	return fmt.Sprintf("generation %d of %s", generation, quote.Q(w.name))
}

func now() string { return formatTime(time.Now()) }

// Generations implements projection.Writer.
func (w *writer) Generations(ctx context.Context) ([]projection.Generation, error) {
	qctx, err := w.quietCtx(ctx)
	if err != nil {
		return nil, err
	}
	gens, err := readGenerations(qctx, w.tx, w.name)
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
	return projection.Generation{}, fmt.Errorf("%s: %w: not recorded in this database", w.label(n), projection.ErrUnknownProjection)
}

// Create implements projection.Writer: it records g, runs setup and checks that it
// created every table of g (sqlite_master).
func (w *writer) Create(ctx context.Context, g projection.Generation, setup func(tx *Tx) error) error {
	switch {
	case g.Name != w.name:
		return fmt.Errorf("create %s: %w: the generation is named %s", w.label(g.Number), projection.ErrInvalidProjection, quote.Q(g.Name))
	case g.Number < 1:
		return fmt.Errorf("create %s: %w: generation numbers start at 1", w.label(g.Number), projection.ErrInvalidProjection)
	}
	for _, t := range g.Tables {
		if !projection.ValidTable(t) {
			return fmt.Errorf("create %s: %w: invalid table name %s", w.label(g.Number), projection.ErrInvalidProjection, quote.Q(t))
		}
	}
	ts := now()
	_, err := w.exec(ctx, `INSERT INTO idem_projection_generations (name, generation, kind, version, state, tables, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, w.name, g.Number, g.Kind.String(), g.Version, projection.Building.String(),
		strings.Join(g.Tables, ","), ts, ts)
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
		kind, err := w.objectType(ctx, PhysicalTable(t, g.Number))
		if err != nil {
			return err
		}
		if kind != "table" {
			return fmt.Errorf("setup of %s: %w: Setup did not create table {%s} (%s)",
				w.label(g.Number), projection.ErrInvalidProjection, t, PhysicalTable(t, g.Number))
		}
	}
	return nil
}

// objectType returns the type of the schema object named name ("table", "view",
// "index", "trigger"), or "" if there is none. SQLite's names are case-insensitive.
func (w *writer) objectType(ctx context.Context, name string) (string, error) {
	qctx, err := w.quietCtx(ctx)
	if err != nil {
		return "", err
	}
	var kind string
	err = w.tx.QueryRowContext(qctx, `SELECT type FROM sqlite_master WHERE name = ? COLLATE NOCASE`, name).Scan(&kind)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("look up %s: %w", name, storageError(ctx, err))
	}
	return kind, nil
}

// viewDefinition returns the SQL of the view named name, or "" if there is none.
func (w *writer) viewDefinition(ctx context.Context, name string) (string, error) {
	qctx, err := w.quietCtx(ctx)
	if err != nil {
		return "", err
	}
	var def string
	err = w.tx.QueryRowContext(qctx, `SELECT sql FROM sqlite_master WHERE type = 'view' AND name = ? COLLATE NOCASE`, name).Scan(&def)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("look up view %s: %w", name, storageError(ctx, err))
	}
	return def, nil
}

// Activate implements projection.Writer: it points the view of each logical table
// at the generation's physical table, drops the views of logical tables other
// generations had and this one lacks, and marks it active. A SQLite transaction
// that redefines views is atomic, and a reader's transaction sees one snapshot:
// it reads the old generation or the new one, never a mix (G9).
func (w *writer) Activate(ctx context.Context, n int) error {
	gens, err := w.Generations(ctx)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(gens, func(g projection.Generation) bool { return g.Number == n })
	if i < 0 {
		return fmt.Errorf("activate %s: %w: not recorded in this database", w.label(n), projection.ErrUnknownProjection)
	}
	g := gens[i]
	for _, t := range g.Tables {
		kind, err := w.objectType(ctx, t)
		if err != nil {
			return err
		}
		if kind != "" && kind != "view" {
			return fmt.Errorf("activate %s: %w: cannot create view %s over %s: a %s of that name exists",
				w.label(n), projection.ErrInvalidProjection, t, PhysicalTable(t, n), kind)
		}
		if _, err := w.exec(ctx, `DROP VIEW IF EXISTS `+quoteIdent(t)); err != nil {
			return fmt.Errorf("activate %s: %w", w.label(n), err)
		}
		if _, err := w.exec(ctx, `CREATE VIEW `+quoteIdent(t)+` AS SELECT * FROM `+quoteIdent(PhysicalTable(t, n))); err != nil {
			return fmt.Errorf("activate %s: %w", w.label(n), err)
		}
	}
	for _, o := range gens {
		for _, t := range o.Tables {
			if o.Number == n || slices.ContainsFunc(g.Tables, func(x string) bool { return strings.EqualFold(x, t) }) {
				continue
			}
			kind, err := w.objectType(ctx, t)
			if err != nil {
				return err
			}
			if kind == "view" {
				if _, err := w.exec(ctx, `DROP VIEW IF EXISTS `+quoteIdent(t)); err != nil {
					return fmt.Errorf("activate %s: %w", w.label(n), err)
				}
			}
		}
	}
	return w.setState(ctx, n, projection.Active)
}

func (w *writer) setState(ctx context.Context, n int, s projection.GenerationState) error {
	res, err := w.exec(ctx, `UPDATE idem_projection_generations SET state = ?, updated_at = ? WHERE name = ? AND generation = ?`,
		s.String(), now(), w.name, n)
	if err != nil {
		return fmt.Errorf("mark %s %s: %w", w.label(n), s, err)
	}
	if k, err := res.RowsAffected(); err != nil || k != 1 {
		return fmt.Errorf("mark %s %s: %w: not recorded in this database", w.label(n), s, projection.ErrUnknownProjection)
	}
	return nil
}

// Retire implements projection.Writer.
func (w *writer) Retire(ctx context.Context, n int) error {
	return w.setState(ctx, n, projection.Retired)
}

// Drop implements projection.Writer: it drops a retired generation's tables and
// deletes its guards and parked events; its row stays, with no tables.
func (w *writer) Drop(ctx context.Context, n int) error {
	g, err := w.generation(ctx, n)
	if err != nil {
		return err
	}
	if g.State != projection.Retired {
		return fmt.Errorf("drop %s: %w: it is %s, not retired", w.label(n), projection.ErrInvalidProjection, g.State)
	}
	for _, t := range g.Tables {
		// A view still reading this generation (it was retired without another
		// being activated) would fail every reader once the table is gone.
		if def, err := w.viewDefinition(ctx, t); err != nil {
			return err
		} else if strings.Contains(def, quoteIdent(PhysicalTable(t, n))) {
			if _, err := w.exec(ctx, `DROP VIEW IF EXISTS `+quoteIdent(t)); err != nil {
				return fmt.Errorf("drop %s: %w", w.label(n), err)
			}
		}
		if _, err := w.exec(ctx, `DROP TABLE IF EXISTS `+quoteIdent(PhysicalTable(t, n))); err != nil {
			return fmt.Errorf("drop %s: %w", w.label(n), err)
		}
	}
	for _, q := range []string{
		`DELETE FROM idem_projection_guards WHERE name = ? AND generation = ?`,
		`DELETE FROM idem_projection_parked_events WHERE name = ? AND generation = ?`,
		`UPDATE idem_projection_generations SET tables = '' WHERE name = ? AND generation = ?`,
	} {
		if _, err := w.exec(ctx, q, w.name, n); err != nil {
			return fmt.Errorf("drop %s: %w", w.label(n), err)
		}
	}
	return nil
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
	res, err := w.exec(ctx, `UPDATE idem_projection_generations SET commit_pos = ?, prepare_pos = ?, updated_at = ?
		WHERE name = ? AND generation = ? AND commit_pos = ? AND prepare_pos = ? AND state IN ('active', 'building')`,
		tc, tp, now(), w.name, n, fc, fp)
	if err != nil {
		return fmt.Errorf("move the checkpoint of %s: %w", w.label(n), err)
	}
	if k, err := res.RowsAffected(); err == nil && k == 1 {
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
	qctx, err := w.quietCtx(ctx)
	if err != nil {
		return nil, err
	}
	list, err := json.Marshal(streams)
	if err != nil {
		return nil, err
	}
	g, err := readGuards(qctx, w.tx, w.name, n, streams, string(list))
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
	obj, err := json.Marshal(guards)
	if err != nil {
		return err
	}
	_, err = w.exec(ctx, `INSERT INTO idem_projection_guards (name, generation, stream, revision)
		SELECT ?, ?, key, value FROM json_each(?) WHERE true
		ON CONFLICT (name, generation, stream) DO UPDATE SET revision = max(revision, excluded.revision)`, w.name, n, string(obj))
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
	at := pe.ParkedAt
	if at.IsZero() {
		at = time.Now()
	}
	_, err = w.exec(ctx, `INSERT INTO idem_projection_parked_events
		(name, generation, event_id, stream, revision, commit_pos, prepare_pos, type, data, metadata, recorded_at, error, attempts, parked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name, generation, event_id) DO UPDATE SET error = excluded.error,
			attempts = attempts + excluded.attempts, parked_at = excluded.parked_at`,
		w.name, n, e.ID.String(), e.Stream, int64(e.Revision), c, p, e.Type, blob(e.Data), blob(e.Metadata),
		formatTime(e.RecordedAt), pe.Err, pe.Attempts, formatTime(at))
	if err != nil {
		return fmt.Errorf("park event %s in %s: %w", e.ID, w.label(n), err)
	}
	return nil
}

// blob stores b as a blob (NULL if nil): go-sqlite3 binds an empty slice as an
// empty blob.
func blob(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// Unpark implements projection.Writer.
func (w *writer) Unpark(ctx context.Context, n int, id uuid.UUID) error {
	res, err := w.exec(ctx, `DELETE FROM idem_projection_parked_events WHERE name = ? AND generation = ? AND event_id = ?`,
		w.name, n, id.String())
	if err != nil {
		return fmt.Errorf("unpark event %s of %s: %w", id, w.label(n), err)
	}
	if k, err := res.RowsAffected(); err != nil || k != 1 {
		return fmt.Errorf("unpark event %s of %s: %w", id, w.label(n), projection.ErrParkedNotFound)
	}
	return nil
}

// Tx implements projection.Writer.
func (w *writer) Tx(ctx context.Context, g projection.Generation) *Tx {
	return newTx(ctx, w.tx, w.t.tablesOf(g))
}
