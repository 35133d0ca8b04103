package pgtarget_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore/postgres/pgtest"
	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/pgtarget"
)

// TestTwoTargetsNeverBothApplyAGuardedEvent: two Targets on one schema, each with
// a pool of its own as two processes would have, and four goroutines each, all
// try to apply the same 40 events of one stream, each through the per-stream
// guard as the runner does (read the guard, apply the event if it is past it,
// save the guard), with a pause between the read and the write. Writes of one
// name are serialised across targets (the advisory lock), so every event is
// applied exactly once (G8).
func TestTwoTargetsNeverBothApplyAGuardedEvent(t *testing.T) {
	ctx := t.Context()
	schema := pgtest.Schema(t)
	targets := []*pgtarget.Target{openSchema(t, schema), openSchema(t, schema)}
	require.NoError(t, targets[0].Init(ctx))
	g := projection.Generation{Name: "p", Number: 1, Kind: projection.KindProjection, Version: 1, Tables: []string{"applied"}}
	require.NoError(t, targets[0].Write(ctx, "p", func(w projection.Writer[Tx]) error {
		return w.Create(ctx, g, func(tx Tx) error {
			_, err := tx.Exec(ctx, `CREATE TABLE {applied} (revision bigint NOT NULL, by_target int NOT NULL)`)
			return err
		})
	}))
	const events, each = 40, 4
	var wg sync.WaitGroup
	errs := make(chan error, len(targets)*each)
	for i, tg := range targets {
		for range each {
			wg.Go(func() {
				for rev := range uint64(events) {
					err := tg.Write(ctx, "p", func(w projection.Writer[Tx]) error {
						guards, err := w.Guards(ctx, 1, []string{"s"})
						if err != nil {
							return err
						}
						if last, ok := guards["s"]; ok && rev <= last {
							return nil // applied before
						}
						if _, err := w.Tx(ctx, g).Exec(ctx, `INSERT INTO {applied} (revision, by_target) VALUES ($1, $2)`, int64(rev), i); err != nil {
							return err
						}
						time.Sleep(time.Duration(rand.N(500)) * time.Microsecond) // another Write would slip in here
						return w.SaveGuards(ctx, 1, map[string]uint64{"s": rev})
					})
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	require.NoError(t, errors.Join(collect(errs)...))
	rows, err := targets[1].Pool().Query(ctx, `SELECT revision, count(*) FROM `+
		pgx.Identifier{schema, pgtarget.PhysicalTable("applied", 1)}.Sanitize()+` GROUP BY revision ORDER BY revision`)
	require.NoError(t, err)
	var rev, n int64
	got := 0
	_, err = pgx.ForEachRow(rows, []any{&rev, &n}, func() error {
		require.Equal(t, int64(got), rev)
		require.Equal(t, int64(1), n, "revision %d applied %d times", rev, n)
		got++
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, events, got)
}

func collect(errs <-chan error) []error {
	var out []error
	for err := range errs {
		out = append(out, err)
	}
	return out
}

// TestWritesOfOtherNamesRunAtOnce: a Write held open does not hold Writes of
// other projections, on the same target or another one on the schema.
func TestWritesOfOtherNamesRunAtOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	schema := pgtest.Schema(t)
	a, b := openSchema(t, schema), openSchema(t, schema)
	require.NoError(t, a.Init(ctx))
	holding, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- a.Write(ctx, "first", func(projection.Writer[Tx]) error { close(holding); <-release; return nil })
	}()
	<-holding
	for _, tg := range []*pgtarget.Target{a, b} {
		require.NoError(t, tg.Write(ctx, "second", func(w projection.Writer[Tx]) error {
			_, err := w.Generations(ctx)
			return err
		}))
	}
	close(release)
	require.NoError(t, <-done)
}
