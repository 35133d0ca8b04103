package projection

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
)

// switchOver makes a rebuilt version the active one (G9). In one transaction it
// points every view at the new version's tables and marks the older versions
// retired: a reader sees the old read model or the new one, never a mix (a SQLite
// transaction that redefines views is atomic, and a reader's transaction sees one
// snapshot). The older versions' tables are dropped afterwards.
func (w *sqlWorker) switchOver(ctx context.Context) error {
	p := w.p
	newer := false
	err := w.r.writeTx(ctx, func(tx *sql.Tx) error {
		if err := claim(ctx, tx, p.Name, p.Version, false, w.st.getCheckpoint(), w.st.getCheckpoint()); err != nil {
			return err
		}
		recs, err := records(ctx, tx, p.Name)
		if err != nil {
			return err
		}
		var old []string
		for v, rec := range recs {
			if v > p.Version && rec.state == stateActive {
				newer = true
			}
			if v < p.Version && rec.state == stateActive {
				old = append(old, rec.tables...)
			}
		}
		if newer {
			// A newer version was switched in first: this one is obsolete.
			_, err := tx.ExecContext(ctx, `UPDATE idem_projections SET state = ?, updated_at = ? WHERE name = ? AND version = ?`,
				stateRetired, now(), p.Name, p.Version)
			return err
		}
		if err := pointViews(ctx, tx, p, old); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE idem_projections SET state = ?, updated_at = ?
			WHERE name = ? AND version < ? AND state != ?`, stateRetired, now(), p.Name, p.Version, stateRetired); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE idem_projections SET state = ?, updated_at = ? WHERE name = ? AND version = ?`,
			stateActive, now(), p.Name, p.Version)
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: switch readers to the rebuilt version: %w", w.label(), err)
	}
	if newer {
		if err := w.r.dropRetired(ctx, p.Name); err != nil {
			w.r.log.Warn("retired projection tables not dropped; they are dropped at the next start", "projection", p.Name, "error", err)
		}
		return fmt.Errorf("%s: %w: a newer version was switched in first", w.label(), ErrRetired)
	}
	w.st.set(func(s *stats) { s.state = stateActive })
	w.r.log.Info("projection switched to rebuilt version", "projection", p.Name, "version", p.Version,
		"checkpoint", w.st.getCheckpoint().String())
	// Stop older versions running in this runner; their next transaction would
	// fail with ErrRetired anyway (so would one in another process).
	w.r.mu.Lock()
	for _, o := range w.r.sqls {
		if o.p.Name == p.Name && o.p.Version < p.Version {
			o.retire()
		}
	}
	w.r.mu.Unlock()
	return w.r.dropRetired(ctx, p.Name)
}

// pointViews (re)creates the view of each logical table of p over p's physical
// table, and drops the views of old tables p no longer has.
func pointViews(ctx context.Context, tx *sql.Tx, p SQL, old []string) error {
	for _, t := range p.Tables {
		var kind string
		err := tx.QueryRowContext(ctx, `SELECT type FROM sqlite_master WHERE name = ?`, t).Scan(&kind)
		if err != nil && err != sql.ErrNoRows {
			return err
		}
		if err == nil && kind != "view" {
			return fmt.Errorf("%w: cannot create view %s over %s: a %s of that name exists",
				ErrInvalidProjection, t, PhysicalTable(t, p.Version), kind)
		}
		if _, err := tx.ExecContext(ctx, `DROP VIEW IF EXISTS "`+t+`"`); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `CREATE VIEW "`+t+`" AS SELECT * FROM "`+PhysicalTable(t, p.Version)+`"`); err != nil {
			return err
		}
	}
	for _, t := range old {
		if !slices.Contains(p.Tables, t) && identifier.MatchString(t) {
			if _, err := tx.ExecContext(ctx, `DROP VIEW IF EXISTS "`+t+`"`); err != nil {
				return err
			}
		}
	}
	return nil
}

// dropRetired drops the tables, guard rows and parked events of the retired
// versions of a projection. Their bookkeeping row stays, marked retired, so that a
// runner still running one of them stops with ErrRetired.
func (r *Runner) dropRetired(ctx context.Context, name string) error {
	err := r.writeTx(ctx, func(tx *sql.Tx) error {
		recs, err := records(ctx, tx, name)
		if err != nil {
			return err
		}
		for v, rec := range recs {
			if rec.state != stateRetired || rec.kind != kindSQL || len(rec.tables) == 0 {
				continue
			}
			for _, t := range rec.tables {
				if !identifier.MatchString(t) {
					continue
				}
				if _, err := tx.ExecContext(ctx, `DROP TABLE IF EXISTS "`+PhysicalTable(t, v)+`"`); err != nil {
					return err
				}
			}
			for _, q := range []string{
				`DELETE FROM idem_projection_streams WHERE name = ? AND version = ?`,
				`DELETE FROM idem_projection_parked WHERE name = ? AND version = ?`,
				`UPDATE idem_projections SET tables = '' WHERE name = ? AND version = ?`,
			} {
				if _, err := tx.ExecContext(ctx, q, name, v); err != nil {
					return err
				}
			}
			r.log.Info("dropped retired projection version", "projection", name, "version", v)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("drop retired versions of projection %s: %w", name, err)
	}
	return nil
}

func joinTables(ts []string) string { return strings.Join(ts, ",") }
