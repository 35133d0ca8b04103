package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/postgres"
	"github.com/idemkit/idem/eventstore/postgres/pgtest"
)

// enqueued is an append running in its own goroutine.
type enqueued struct {
	done chan struct{}
	res  eventstore.AppendResult
	err  error
}

func enqueue(ctx context.Context, s *postgres.Store, stream string, expected eventstore.ExpectedRevision, evs ...eventstore.EventData) *enqueued {
	q := &enqueued{done: make(chan struct{})}
	go func() {
		defer close(q.done)
		q.res, q.err = s.Append(ctx, stream, expected, evs...)
	}()
	return q
}

func (q *enqueued) wait(t *testing.T) (eventstore.AppendResult, error) {
	t.Helper()
	select {
	case <-q.done:
		return q.res, q.err
	case <-time.After(30 * time.Second):
		t.Fatal("append did not finish")
		return eventstore.AppendResult{}, nil
	}
}

// streamIDs returns the ids stored in stream, nil when it has none.
func streamIDs(t *testing.T, s eventstore.Store, stream string) []uuid.UUID {
	t.Helper()
	var out []uuid.UUID
	for _, e := range streamEvents(t, s, stream) {
		out = append(out, e.ID)
	}
	return out
}

// queueUpBehindPrimer starts an append whose batch blocks on the position lock
// (held from outside), and waits until it leads: what is appended next queues up
// and becomes the next batch, in a known order.
func queueUpBehindPrimer(t *testing.T, s *postgres.Store) (primer *enqueued, release func()) {
	t.Helper()
	release = holdPositionLock(t, s)
	primer = enqueue(t.Context(), s, "primer", eventstore.NoStream(), newEvent("Primed"))
	k1, k2 := postgres.PositionLockKeys(s.Schema())
	require.Eventually(t, func() bool {
		var waiting bool
		err := s.Pool().QueryRow(t.Context(), `SELECT EXISTS (SELECT 1 FROM pg_locks
			WHERE locktype = 'advisory' AND NOT granted AND classid = $1::int::oid AND objid = $2::int::oid AND objsubid = 2)`,
			k1, k2).Scan(&waiting)
		require.NoError(t, err)
		return waiting
	}, 10*time.Second, 5*time.Millisecond, "the primer's batch waits for the position lock")
	return primer, release
}

// TestGroupCommitChecksEachAppend puts 64 appends to distinct streams and a
// handful of appends to one stream into one batch: every append is judged on its
// own, in the database, against the batch's earlier effects (a conflict, a
// follow-up, a retry of an earlier append of the same batch, a stale revision),
// and a refused or cancelled append leaves its neighbours untouched.
func TestGroupCommitChecksEachAppend(t *testing.T) {
	ctx := t.Context()
	s := newStore(t, newPool(t, nil))
	primer, release := queueUpBehindPrimer(t, s)

	const distinct = 64
	var distinctAppends []*enqueued
	var distinctEvents []eventstore.EventData
	for i := range distinct {
		ev := newEvent("Opened")
		distinctEvents = append(distinctEvents, ev)
		distinctAppends = append(distinctAppends, enqueue(ctx, s, fmt.Sprintf("account-%d", i), eventstore.NoStream(), ev))
	}
	require.Eventually(t, func() bool { return postgres.QueueLen(s) == distinct }, 5*time.Second, time.Millisecond)
	a, b, c := newEvent("A"), newEvent("B"), newEvent("C")
	seq := func(q *enqueued, n int) *enqueued {
		require.Eventually(t, func() bool { return postgres.QueueLen(s) == n }, 5*time.Second, time.Millisecond)
		return q
	}
	first := seq(enqueue(ctx, s, "hot", eventstore.NoStream(), a), distinct+1)
	conflict := seq(enqueue(ctx, s, "hot", eventstore.NoStream(), b), distinct+2)        // sees first: refused
	follow := seq(enqueue(ctx, s, "hot", eventstore.Exact(0), c), distinct+3)            // sees first: accepted
	retry := seq(enqueue(ctx, s, "hot", eventstore.NoStream(), a), distinct+4)           // a retry of first (G2)
	stale := seq(enqueue(ctx, s, "hot", eventstore.Exact(5), newEvent("D")), distinct+5) // refused
	cancelCtx, cancel := context.WithCancel(ctx)
	cancelled := enqueue(cancelCtx, s, "cancelled", eventstore.NoStream(), newEvent("E"))
	cancel()
	_, err := cancelled.wait(t)
	require.ErrorIs(t, err, context.Canceled)

	_, _, before := postgres.BatchStats(s)
	release()
	_, err = primer.wait(t)
	require.NoError(t, err)
	for i, q := range distinctAppends {
		res, err := q.wait(t)
		require.NoError(t, err, "account-%d", i)
		require.Equal(t, uint64(0), res.Revision)
		require.Equal(t, eventstore.Written, res.Outcome)
	}
	firstRes, err := first.wait(t)
	require.NoError(t, err)
	var wrong *eventstore.WrongExpectedRevisionError
	_, err = conflict.wait(t)
	require.ErrorAs(t, err, &wrong)
	require.Equal(t, eventstore.Exact(0), wrong.Actual)
	res, err := follow.wait(t)
	require.NoError(t, err)
	require.Equal(t, uint64(1), res.Revision)
	res, err = retry.wait(t)
	require.NoError(t, err)
	require.Equal(t, eventstore.AppendResult{Revision: firstRes.Revision, Position: firstRes.Position, Outcome: eventstore.Replayed}, res)
	_, err = stale.wait(t)
	require.ErrorAs(t, err, &wrong)
	require.Equal(t, eventstore.Exact(1), wrong.Actual)

	batches, appends, largest := postgres.BatchStats(s)
	t.Logf("batches %d, appends %d, largest batch %d", batches, appends, largest)
	require.GreaterOrEqual(t, largest, int64(distinct+5), "the queued appends ran as one batch")
	require.Less(t, before, int64(distinct+5))
	for i, ev := range distinctEvents {
		require.Equal(t, []uuid.UUID{ev.ID}, streamIDs(t, s, fmt.Sprintf("account-%d", i)))
	}
	require.Equal(t, []uuid.UUID{a.ID, c.ID}, streamIDs(t, s, "hot"))
	require.Nil(t, streamIDs(t, s, "cancelled"), "the cancelled append wrote nothing")
}

// TestGroupCommitBatchesUnderConcurrency: concurrent appends share transactions
// (fewer batches than appends) and each gets its own correct result; with
// WithMaxBatch(1) every append is a transaction of its own.
func TestGroupCommitBatchesUnderConcurrency(t *testing.T) {
	for _, maxBatch := range []int{postgres.DefaultMaxBatch, 1} {
		t.Run(fmt.Sprint("max=", maxBatch), func(t *testing.T) {
			s := pgtest.Open(t, postgres.WithMaxBatch(maxBatch))
			const writers, each = 32, 10
			var wg sync.WaitGroup
			errs := make([]error, writers)
			for w := range writers {
				wg.Go(func() {
					expected := eventstore.NoStream()
					for i := range each {
						res, err := s.Append(t.Context(), fmt.Sprint("w-", w), expected, newEvent("E"))
						if err == nil && res.Revision != uint64(i) {
							err = fmt.Errorf("append %d got revision %d", i, res.Revision)
						}
						if err != nil {
							errs[w] = err
							return
						}
						expected = eventstore.Exact(res.Revision)
					}
				})
			}
			wg.Wait()
			for _, err := range errs {
				require.NoError(t, err)
			}
			batches, appends, largest := postgres.BatchStats(s)
			t.Logf("%d appends in %d batches, largest %d", appends, batches, largest)
			require.Equal(t, int64(writers*each), appends)
			if maxBatch == 1 {
				require.Equal(t, int64(1), largest)
			} else {
				require.Less(t, batches, appends, "appends shared transactions")
			}
		})
	}
}

// TestLeaderGivesUpWhileWaitingForAConnection: the append leading a batch waits
// for a connection of an exhausted pool and its context ends. It fails with its
// context's error and writes nothing; the appends queued behind it are not lost
// but run under a new leader once a connection is free.
func TestLeaderGivesUpWhileWaitingForAConnection(t *testing.T) {
	pool := newPool(t, func(c *pgxpool.Config) { c.MaxConns = 1 })
	s := newStore(t, pool)
	held, err := pool.Acquire(t.Context())
	require.NoError(t, err)
	leaderCtx, cancel := context.WithCancel(t.Context())
	leader := enqueue(leaderCtx, s, "leader", eventstore.NoStream(), newEvent("Led"))
	time.Sleep(20 * time.Millisecond) // let it lead and wait for a connection
	var queued []*enqueued
	for i := range 3 {
		queued = append(queued, enqueue(t.Context(), s, fmt.Sprint("follower-", i), eventstore.NoStream(), newEvent("Followed")))
	}
	require.Eventually(t, func() bool { return postgres.QueueLen(s) == 3 }, 5*time.Second, time.Millisecond)
	cancel()
	_, err = leader.wait(t)
	require.ErrorIs(t, err, context.Canceled)
	held.Release()
	for i, q := range queued {
		res, err := q.wait(t)
		require.NoError(t, err, "follower-%d", i)
		require.Equal(t, uint64(0), res.Revision)
	}
	require.Nil(t, streamIDs(t, s, "leader"), "the abandoned leader wrote nothing")
}

// TestCloseWaitsForRunningBatch closes the store while a batch waits for the
// position lock and another append is queued behind it: Close returns only after
// both are committed, and both are acknowledged; later calls fail with ErrClosed.
func TestCloseWaitsForRunningBatch(t *testing.T) {
	schema := pgtest.Schema(t)
	s, err := postgres.Open(t.Context(), pgtest.URL(t), postgres.WithSchema(schema), postgres.WithLogger(pgtest.Logger))
	require.NoError(t, err)
	running, release := queueUpBehindPrimer(t, s)
	queued := enqueue(t.Context(), s, "queued", eventstore.NoStream(), newEvent("Queued"))
	require.Eventually(t, func() bool { return postgres.QueueLen(s) == 1 }, 5*time.Second, time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a batch was running", err)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	_, err = running.wait(t)
	require.NoError(t, err)
	_, err = queued.wait(t)
	require.NoError(t, err)
	require.NoError(t, <-closed)
	_, err = s.Append(t.Context(), "late", eventstore.NoStream(), newEvent("Late"))
	require.ErrorIs(t, err, eventstore.ErrClosed)
	s2 := pgtest.OpenSchema(t, schema)
	for _, stream := range []string{"primer", "queued"} {
		require.Len(t, streamIDs(t, s2, stream), 1, stream)
	}
}
