package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/postgres"
	"github.com/idemkit/idem/eventstore/postgres/pgtest"
)

// The no-skip proof: many writers whose transactions stay open a random while
// after taking their positions, catch-up subscribers reading all along.
const (
	skipWriters     = 64
	skipStores      = 16 // writers are spread over stores: each store runs one batch at a time
	skipAppendsEach = 8
	skipSubscribers = 4
	skipMaxDelay    = 8 * time.Millisecond
)

// projectionBeside is a projection running beside the writers and subscribers
// of TestPositionsNeverSkipAnEvent, checked like them: every event applied
// exactly once, in position order. It is set to pgProjectionBeside (a projection
// on projection/pgtarget, projection_test.go); nil runs the race without it.
var projectionBeside func(t *testing.T, store eventstore.Store) (check func(all []eventstore.RecordedEvent))

// TestPositionsNeverSkipAnEvent: 64 writers over 16 stores (half with group
// commit, half without) append while every batch sleeps a random 0-8ms in the
// database between taking its positions and committing; 4 catch-up subscribers,
// two started before the writers, two while they write, on stores of their own,
// each see every event exactly once, in position order, with no gap at the
// catch-up/live boundary; so does a projection on projection/pgtarget applying
// the log live all along (projectionBeside).
func TestPositionsNeverSkipAnEvent(t *testing.T) {
	all, delivered := raceWritersAndSubscribers(t, false)
	for i, got := range delivered {
		require.Equal(t, len(all), len(got), "subscriber %d: every event exactly once", i)
		for k := range got {
			if got[k].ID != all[k].ID || got[k].Position != all[k].Position {
				t.Fatalf("subscriber %d, event %d: got %s at %s, want %s at %s", i, k, got[k].ID, got[k].Position, all[k].ID, all[k].Position)
			}
		}
	}
	t.Logf("%d writers, %d subscribers, %d events: every subscriber saw every event once, in order", skipWriters, skipSubscribers, len(all))
}

// TestNaivePositionsSkipEvents is the same race on the naive scheme (positions
// straight from a sequence, no lock): subscribers skip events whose transaction
// committed after a later position was read. It shows that the race above would
// catch the classic failure.
func TestNaivePositionsSkipEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	for round := range 3 {
		all, delivered := raceWritersAndSubscribers(t, true)
		missed := 0
		for _, got := range delivered {
			seen := map[uuid.UUID]bool{}
			for _, e := range got {
				seen[e.ID] = true
			}
			for _, e := range all {
				if !seen[e.ID] {
					missed++
				}
			}
		}
		if missed > 0 {
			t.Logf("round %d: the naive scheme's subscribers missed %d events of %d", round, missed, len(all)*len(delivered))
			return
		}
	}
	t.Fatal("the naive scheme skipped nothing in 3 rounds: the race does not exercise out-of-order commits")
}

// raceWritersAndSubscribers runs the race on a fresh schema and returns the log as
// read after it, and what each subscriber delivered up to a sentinel appended
// last.
func raceWritersAndSubscribers(t *testing.T, naive bool) (all []eventstore.RecordedEvent, delivered [][]eventstore.RecordedEvent) {
	ctx := t.Context()
	schema := pgtest.Schema(t)
	var stores []*postgres.Store
	for i := range skipStores {
		var opts []postgres.Option
		if i%2 == 1 {
			opts = append(opts, postgres.WithMaxBatch(1))
		}
		s := pgtest.OpenSchema(t, schema, opts...)
		if naive {
			require.NoError(t, postgres.UseNaivePositions(ctx, s))
		}
		postgres.SetCommitDelay(s, func() time.Duration { return rand.N(skipMaxDelay) })
		stores = append(stores, s)
	}
	var check func([]eventstore.RecordedEvent)
	if projectionBeside != nil && !naive { // the naive scheme skips events: a projection would too
		check = projectionBeside(t, stores[0])
	}

	sentinel := eventstore.EventData{ID: uuid.New(), Type: "Sentinel"}
	delivered = make([][]eventstore.RecordedEvent, skipSubscribers)
	var subs sync.WaitGroup
	subErrs := make([]error, skipSubscribers)
	subscribe := func(i int) {
		sub := pgtest.OpenSchema(t, schema, postgres.WithPollInterval(50*time.Millisecond))
		subs.Go(func() {
			sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			for msg, err := range sub.SubscribeAll(sctx, eventstore.Start()) {
				if err != nil {
					subErrs[i] = err
					return
				}
				if msg.CaughtUp {
					continue
				}
				if msg.Event.ID == sentinel.ID {
					return
				}
				delivered[i] = append(delivered[i], msg.Event)
			}
			subErrs[i] = fmt.Errorf("subscription ended before the sentinel: %w", sctx.Err())
		})
	}
	subscribe(0)
	subscribe(1)

	var writers sync.WaitGroup
	errs := make([]error, skipWriters)
	for w := range skipWriters {
		s := stores[w%len(stores)]
		writers.Go(func() {
			stream := fmt.Sprintf("writer-%d", w)
			expected := eventstore.NoStream()
			for i := range skipAppendsEach {
				evs := make([]eventstore.EventData, 1+(w+i)%3)
				for k := range evs {
					evs[k] = eventstore.EventData{ID: uuid.New(), Type: "Written", Data: []byte(stream)}
				}
				res, err := s.Append(ctx, stream, expected, evs...)
				if err != nil {
					errs[w] = err
					return
				}
				expected = eventstore.Exact(res.Revision)
			}
		})
		if w == skipWriters/2 {
			subscribe(2)
			subscribe(3)
		}
	}
	writers.Wait()
	for w, err := range errs {
		require.NoError(t, err, "writer %d", w)
	}
	postgres.SetCommitDelay(stores[0], nil)
	_, err := stores[0].Append(ctx, "sentinel", eventstore.NoStream(), sentinel)
	require.NoError(t, err)
	subs.Wait()
	for i, err := range subErrs {
		require.NoError(t, err, "subscriber %d", i)
	}

	for e, err := range stores[0].ReadAll(ctx, eventstore.Start()) {
		require.NoError(t, err)
		if e.ID != sentinel.ID {
			all = append(all, e)
		}
	}
	want := 0
	for w := range skipWriters {
		for i := range skipAppendsEach {
			want += 1 + (w+i)%3
		}
	}
	require.Len(t, all, want, "the log holds every acknowledged event")
	require.True(t, slices.IsSortedFunc(all, func(a, b eventstore.RecordedEvent) int { return a.Position.Compare(b.Position) }))
	if check != nil {
		check(all)
	}
	return all, delivered
}
