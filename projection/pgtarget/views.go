package pgtarget

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/idemkit/idem/projection"
)

// relkind returns the kind of the relation named name in the target's schema
// ("r" table, "p" partitioned table, "v" view, "m" materialized view...), or ""
// if there is none.
func (w *writer) relkind(ctx context.Context, name string) (string, error) {
	var kind string
	err := w.tx.QueryRow(ctx, `SELECT c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2`, w.t.schema, name).Scan(&kind)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("look up %s: %w", qualified(w.t.schema, name), storageError(ctx, err))
	}
	return kind, nil
}

// Activate implements projection.Writer: it points the view of each logical
// table at the generation's physical table, drops the views of logical tables
// other generations had and this one lacks, and marks it active. PostgreSQL's
// DDL is transactional: readers see the old views or the new ones, from the
// commit of the Write that switches (G9). Replacing a view takes its ACCESS
// EXCLUSIVE lock: the switch waits for readers in the middle of a statement or a
// transaction that read it, up to the lock timeout, and readers arriving
// meanwhile wait for the switch.
func (w *writer) Activate(ctx context.Context, n int) error {
	gens, err := w.Generations(ctx)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(gens, func(g projection.Generation) bool { return g.Number == n })
	if i < 0 {
		return fmt.Errorf("activate %s: %w: not recorded in schema %s", w.label(n), projection.ErrUnknownProjection, w.t.schema)
	}
	g := gens[i]
	for _, t := range g.Tables {
		if err := w.pointView(ctx, n, t); err != nil {
			return fmt.Errorf("activate %s: %w", w.label(n), err)
		}
	}
	for _, o := range gens {
		for _, t := range o.Tables {
			if o.Number == n || slices.ContainsFunc(g.Tables, func(x string) bool { return viewName(x) == viewName(t) }) {
				continue
			}
			kind, err := w.relkind(ctx, viewName(t))
			if err != nil {
				return err
			}
			if kind == "v" {
				if err := w.dropView(ctx, viewName(t)); err != nil {
					return fmt.Errorf("activate %s: %w", w.label(n), err)
				}
			}
		}
	}
	return w.setState(ctx, n, projection.Active)
}

// pointView makes the view of logical table t read its physical table in
// generation n. A view that exists is replaced in place when the new table has
// its columns, in order, with their types (views of the user's built on it keep
// working); otherwise it is dropped and made anew.
func (w *writer) pointView(ctx context.Context, n int, t string) error {
	view, phys := qualified(w.t.schema, viewName(t)), qualified(w.t.schema, PhysicalTable(t, n))
	kind, err := w.relkind(ctx, viewName(t))
	if err != nil {
		return err
	}
	switch kind {
	case "":
		_, err := w.exec(ctx, `CREATE VIEW `+view+` AS SELECT * FROM `+phys)
		return err
	case "v":
	default:
		return fmt.Errorf("%w: cannot create view %s over %s: a relation of kind %q has that name",
			projection.ErrInvalidProjection, view, phys, kind)
	}
	sp, err := w.tx.Begin(ctx) // a savepoint: a failed replace leaves the transaction usable
	if err != nil {
		return storageError(ctx, err)
	}
	if _, err := sp.Exec(ctx, `CREATE OR REPLACE VIEW `+view+` AS SELECT * FROM `+phys); err == nil {
		return storageError(ctx, sp.Commit(ctx))
	} else if !columnsChanged(err) {
		_ = sp.Rollback(ctx)
		return storageError(ctx, err)
	}
	if err := sp.Rollback(ctx); err != nil {
		return storageError(ctx, err)
	}
	if err := w.dropView(ctx, viewName(t)); err != nil {
		return err
	}
	_, err = w.exec(ctx, `CREATE VIEW `+view+` AS SELECT * FROM `+phys)
	return err
}

// columnsChanged reports whether CREATE OR REPLACE VIEW failed because the new
// query's columns are not the old ones extended.
func columnsChanged(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "42P16" || pgErr.Code == "42804") // invalid_table_definition, datatype_mismatch
}

// dropView drops a view of the target's schema. One that other objects depend on
// (a view of the user's over it) is not dropped: the error says so.
func (w *writer) dropView(ctx context.Context, name string) error {
	_, err := w.exec(ctx, `DROP VIEW IF EXISTS `+qualified(w.t.schema, name))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "2BP01" { // dependent_objects_still_exist
		return fmt.Errorf("%w: view %s must be replaced, and other objects depend on it (%s): drop them, or keep its columns: %w",
			projection.ErrInvalidProjection, qualified(w.t.schema, name), strings.TrimSpace(pgErr.Detail), err)
	}
	return err
}

// Drop implements projection.Writer: it drops a retired generation's tables (and
// a view still reading one, when the generation was retired without another
// being activated) and deletes its guards and parked events; its row stays, with
// no tables. A table other objects depend on is not dropped: the error says so.
func (w *writer) Drop(ctx context.Context, n int) error {
	g, err := w.generation(ctx, n)
	if err != nil {
		return err
	}
	if g.State != projection.Retired {
		return fmt.Errorf("drop %s: %w: it is %s, not retired", w.label(n), projection.ErrInvalidProjection, g.State)
	}
	for _, t := range g.Tables {
		if err := w.dropTable(ctx, t, n); err != nil {
			return fmt.Errorf("drop %s: %w", w.label(n), err)
		}
	}
	for _, q := range []string{
		`DELETE FROM ` + w.t.table("idem_projection_guards") + ` WHERE name = $1 AND generation = $2`,
		`DELETE FROM ` + w.t.table("idem_projection_parked_events") + ` WHERE name = $1 AND generation = $2`,
		`UPDATE ` + w.t.table("idem_projection_generations") + ` SET tables = '{}' WHERE name = $1 AND generation = $2`,
	} {
		if _, err := w.exec(ctx, q, w.name, n); err != nil {
			return fmt.Errorf("drop %s: %w", w.label(n), err)
		}
	}
	return nil
}

// dropTable drops the physical table of logical table t in generation n, after
// the view of t if that view reads it.
func (w *writer) dropTable(ctx context.Context, t string, n int) error {
	view, phys := qualified(w.t.schema, viewName(t)), qualified(w.t.schema, PhysicalTable(t, n))
	var reads bool
	err := w.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
		WHERE d.classid = 'pg_rewrite'::regclass AND r.ev_class = to_regclass($1) AND d.refobjid = to_regclass($2))`,
		view, phys).Scan(&reads)
	if err != nil {
		return storageError(ctx, err)
	}
	if reads {
		if err := w.dropView(ctx, viewName(t)); err != nil {
			return err
		}
	}
	_, err = w.exec(ctx, `DROP TABLE IF EXISTS `+phys)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "2BP01" {
		return fmt.Errorf("table %s of a retired generation is still read by other objects (%s): %w",
			phys, strings.TrimSpace(pgErr.Detail), err)
	}
	return err
}
