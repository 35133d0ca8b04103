package pgtarget_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/memory"
	"github.com/idemkit/idem/projection"
)

// tally is a projection of two tables that every event updates together: a count
// per stream, and the total. Every row carries the physical name of the counts
// table it was written in (its generation), so that a reader can tell one
// generation from another.
func tally() projection.Projection[Tx] {
	return projection.Projection[Tx]{
		Name: "tally", Version: 1, Tables: []string{"counts", "totals"},
		Setup: func(ctx context.Context, tx Tx) error {
			_, err := tx.Exec(ctx, `CREATE TABLE {counts} (stream text PRIMARY KEY, n bigint NOT NULL, gen text NOT NULL);
				CREATE TABLE {totals} (id int PRIMARY KEY, total bigint NOT NULL, gen text NOT NULL)`)
			if err == nil {
				_, err = tx.Exec(ctx, `INSERT INTO {totals} VALUES (1, 0, $1)`, tx.Table("counts"))
			}
			return err
		},
		Handle: func(ctx context.Context, tx Tx, e projection.Event) error {
			if _, err := tx.Exec(ctx, `INSERT INTO {counts} (stream, n, gen) VALUES ($1, 1, $2)
				ON CONFLICT (stream) DO UPDATE SET n = {counts}.n + 1`, e.Stream, tx.Table("counts")); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `UPDATE {totals} SET total = total + 1`)
			return err
		},
	}
}

// view is what one read saw.
type view struct {
	gens  []string // the distinct generations of the rows read
	sum   int64    // the sum of the counts
	total int64
}

// generation is the number of the generation a view read.
func (v view) generation() int {
	n, _ := strconv.Atoi(v.gens[0][strings.LastIndex(v.gens[0], "_g")+2 : len(v.gens[0])-1])
	return n
}

// readTally reads both views of tally in one statement.
func readTally(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, schema string) (view, error) {
	counts, totals := pgx.Identifier{schema, "counts"}.Sanitize(), pgx.Identifier{schema, "totals"}.Sanitize()
	var v view
	err := q.QueryRow(ctx, `SELECT
		ARRAY(SELECT DISTINCT gen FROM (SELECT gen FROM `+counts+` UNION ALL SELECT gen FROM `+totals+`) g ORDER BY gen),
		(SELECT coalesce(sum(n), 0)::bigint FROM `+counts+`), (SELECT total FROM `+totals+`)`).Scan(&v.gens, &v.sum, &v.total)
	return v, err
}

// check reports what is wrong with a view: rows of several generations, or
// tables out of step.
func (v view) check() error {
	switch {
	case len(v.gens) != 1:
		return fmt.Errorf("a mix of generations: %v", v.gens)
	case v.sum != v.total:
		return fmt.Errorf("generation %v: counts sum to %d, total %d: tables out of step", v.gens, v.sum, v.total)
	}
	return nil
}

// retryable reports a reader's error that a PostgreSQL reader retries: a
// deadlock with a switch (readers and the switch lock the views in some order).
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001")
}

// TestRebuildBlueGreenUnderReaders: writers append, a runner applies live, and
// two Rebuild calls build generations 2 and 3 beside the active one and switch
// readers to them. Readers in connections of their own read both views all along,
// in single statements and in REPEATABLE READ transactions of two reads: every
// read sees one whole generation, its two tables in step, never a mix nor a
// half-built table; a transaction's two reads agree; a reader never sees an
// older generation after a newer one. At the end, the read model counts every
// event once.
func TestRebuildBlueGreenUnderReaders(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	store := memory.New()
	defer store.Close()
	tg := open(t)
	r, err := projection.NewRunner(store, tg, quiet, projection.WithCatchUpBatchSize(64))
	require.NoError(t, err)
	require.NoError(t, r.Add(tally()))
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	ran := make(chan error, 1)
	go func() { ran <- r.Run(runCtx) }()

	var appended atomic.Int64
	stopWriters := make(chan struct{})
	var writers sync.WaitGroup
	for w := range 2 {
		writers.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stopWriters:
					return
				default:
				}
				if _, err := store.Append(ctx, fmt.Sprintf("s-%d-%d", w, i%10), eventstore.Any(), event("x")); err != nil {
					t.Error(err)
					return
				}
				appended.Add(1)
				time.Sleep(10 * time.Millisecond) // well below what the target applies per second on a small machine
			}
		})
	}

	require.Eventually(t, func() bool {
		st, err := r.Status(ctx, "tally")
		return err == nil && st.Active != nil
	}, 30*time.Second, 10*time.Millisecond, "generation 1 built")
	readers := startReaders(t, ctx, tg.Schema(), 2)
	time.Sleep(300 * time.Millisecond)
	for range 2 {
		require.NoError(t, r.Rebuild(ctx, "tally"))
		time.Sleep(300 * time.Millisecond)
	}
	close(stopWriters)
	writers.Wait()
	head, err := store.Head(ctx)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st, err := r.Status(ctx, "tally")
		return err == nil && st.Checkpoint == head
	}, 30*time.Second, 10*time.Millisecond, "caught up: %+v", r.Stats())
	seen := readers.stop()
	stopRun()
	require.NoError(t, <-ran)

	final, err := readTally(ctx, tg.Pool(), tg.Schema())
	require.NoError(t, err)
	require.NoError(t, final.check())
	require.Equal(t, appended.Load(), final.total, "every event counted once")
	require.Equal(t, 3, final.generation())
	require.Equal(t, []int{1, 2, 3}, seen, "readers read every generation in turn")
}

// readers read tally in connections of their own until stopped.
type readers struct {
	stop func() []int // stops them; the generations they saw, in order
}

func startReaders(t *testing.T, ctx context.Context, schema string, n int) readers {
	p := pool(t)
	done := make(chan struct{})
	var wg sync.WaitGroup
	seen := make([][]int, n)
	for i := range n {
		wg.Go(func() {
			last := 0
			for k := 0; ; k++ {
				select {
				case <-done:
					return
				default:
				}
				v, err := readOnce(ctx, p, schema, k%2 == 1)
				if retryable(err) {
					continue
				}
				if err != nil {
					t.Errorf("reader %d: %v", i, err)
					return
				}
				if err := v.check(); err != nil {
					t.Errorf("reader %d: %v", i, err)
					return
				}
				if g := v.generation(); g < last {
					t.Errorf("reader %d: generation %d after %d", i, g, last)
					return
				} else if g > last {
					seen[i] = append(seen[i], g)
					last = g
				}
			}
		})
	}
	return readers{stop: func() []int {
		close(done)
		wg.Wait()
		var all []int
		for _, s := range seen {
			for _, g := range s {
				if !slices.Contains(all, g) {
					all = append(all, g)
				}
			}
		}
		slices.Sort(all)
		return all
	}}
}

// readOnce reads tally once: in a single statement, or (tx) twice in one
// REPEATABLE READ transaction, whose two reads must agree.
func readOnce(ctx context.Context, p *pgxpool.Pool, schema string, tx bool) (view, error) {
	if !tx {
		return readTally(ctx, p, schema)
	}
	var first view
	err := pgx.BeginTxFunc(ctx, p, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		if first, err = readTally(ctx, tx, schema); err != nil {
			return err
		}
		time.Sleep(time.Millisecond)
		second, err := readTally(ctx, tx, schema)
		if err != nil {
			return err
		}
		if !slices.Equal(first.gens, second.gens) || first.total != second.total {
			return fmt.Errorf("one transaction read %+v, then %+v", first, second)
		}
		return nil
	})
	return first, err
}
