package pgtarget_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/memory"
	"github.com/idemkit/idem/eventstore/postgres/pgtest"
	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/pgtarget"
)

// TestCorruptBookkeeping loosens the bookkeeping tables as a tool might (drops
// their NOT NULLs and CHECKs), stores a value the target never writes in each
// column the runner reads (a NULL, a negative number, an unknown state, an
// invalid table name, an infinite time), and checks that the runner's paths
// reading it fail with a *projection.CorruptError, matching eventstore.ErrCorrupt,
// that names the table and the column: never a panic, a hang or a zero value
// (G11).
//
// Key columns are left out: a generation's name, a guard's name, generation and
// stream, a parked event's name and id (primary key columns cannot hold NULL,
// and another value makes the row another key's, which no reader asks for).
func TestCorruptBookkeeping(t *testing.T) {
	type column struct {
		table, name string
		bad         []string // SQL literals
	}
	cols := []column{
		{"idem_projection_generations", "generation", []string{`0`, `-1`}},
		{"idem_projection_generations", "kind", []string{`NULL`, `'view'`}},
		{"idem_projection_generations", "version", []string{`NULL`, `-1`}},
		{"idem_projection_generations", "state", []string{`NULL`, `'dormant'`}},
		{"idem_projection_generations", "tables", []string{`NULL`, `'{"a b"}'`, `'{NULL}'`, `'{idem_x}'`}},
		{"idem_projection_generations", "commit_pos", []string{`NULL`, `-1`}},
		{"idem_projection_generations", "prepare_pos", []string{`NULL`, `-1`}},
		{"idem_projection_generations", "created_at", []string{`NULL`, `'infinity'`}},
		{"idem_projection_generations", "updated_at", []string{`NULL`, `'-infinity'`}},
		{"idem_projection_guards", "revision", []string{`NULL`, `-1`}},
		{"idem_projection_parked_events", "generation", []string{`-1`}},
		{"idem_projection_parked_events", "stream", []string{`NULL`}},
		{"idem_projection_parked_events", "revision", []string{`NULL`, `-1`}},
		{"idem_projection_parked_events", "commit_pos", []string{`NULL`, `-1`}},
		{"idem_projection_parked_events", "prepare_pos", []string{`NULL`, `-1`}},
		{"idem_projection_parked_events", "type", []string{`NULL`}},
		{"idem_projection_parked_events", "recorded_at", []string{`NULL`, `'infinity'`}},
		{"idem_projection_parked_events", "recorded_ns", []string{`NULL`, `-1`, `1000`}},
		{"idem_projection_parked_events", "error", []string{`NULL`}},
		{"idem_projection_parked_events", "attempts", []string{`NULL`, `-1`}},
		{"idem_projection_parked_events", "parked_at", []string{`NULL`, `'infinity'`}},
	}
	p := pool(t)
	cases := 0
	for _, c := range cols {
		for _, bad := range c.bad {
			t.Run(fmt.Sprintf("%s.%s=%s", c.table, c.name, bad), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
				defer cancel()
				store := memory.New()
				defer store.Close()
				appendAll(t, store, "c-1", "ok", "bad", "ok")
				tg, err := pgtarget.New(p, pgtarget.WithSchema(pgtest.Schema(t)))
				require.NoError(t, err)
				r, err := projection.NewRunner(store, tg, projection.WithRetries(0), quiet)
				require.NoError(t, err)
				require.NoError(t, r.Add(counts()))
				require.NoError(t, r.CatchUp(ctx), "one event parked, two applied")

				table := pgx.Identifier{tg.Schema(), c.table}.Sanitize()
				loosen(t, tg.Schema(), c.table, c.name)
				pgtest.Exec(t, fmt.Sprintf(`UPDATE %s SET %s = %s`, table, c.name, bad))
				appendAll(t, store, "c-1", "ok")

				var errs []error
				switch c.table {
				case "idem_projection_generations":
					_, err := r.Status(ctx, "counts")
					errs = append(errs, r.CatchUp(ctx), err)
				case "idem_projection_guards":
					_, err := r.ReplayStream(ctx, "counts", "c-1")
					errs = append(errs, r.CatchUp(ctx), err)
				case "idem_projection_parked_events":
					_, err := r.Parked(ctx, "counts")
					errs = append(errs, err, r.SkipParked(ctx, "counts", uuid.New()))
				}
				require.NoError(t, ctx.Err(), "no hang")
				for _, err := range errs {
					require.ErrorIs(t, err, eventstore.ErrCorrupt)
					var ce *projection.CorruptError
					require.ErrorAs(t, err, &ce)
					require.Contains(t, err.Error(), c.table)
					require.Contains(t, err.Error(), "column "+c.name)
				}
				cases++
			})
		}
	}
	require.Equal(t, 41, cases)
}

// loosen drops the NOT NULL of column and every CHECK of table, as a tool
// altering the table might.
func loosen(t *testing.T, schema, table, column string) {
	t.Helper()
	q := pgx.Identifier{schema, table}.Sanitize()
	pgtest.Exec(t, fmt.Sprintf(`DO $$ DECLARE c text; BEGIN
		FOR c IN SELECT conname FROM pg_constraint WHERE conrelid = '%[1]s'::regclass AND contype = 'c' LOOP
			EXECUTE format('ALTER TABLE %[1]s DROP CONSTRAINT %%I', c);
		END LOOP;
		IF NOT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
				WHERE i.indrelid = '%[1]s'::regclass AND i.indisprimary AND a.attname = '%[2]s') THEN
			ALTER TABLE %[1]s ALTER COLUMN %[3]s DROP NOT NULL;
		END IF;
	END $$`, q, column, pgx.Identifier{column}.Sanitize()))
}
