package postgres_test

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stretchr/testify/require"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/postgres"
	"github.com/idemkit/idem/eventstore/postgres/pgtest"
)

// BenchmarkPositionScheme measures what serialised positions cost per append,
// against the naive sequence (the same append function without the position
// lock), in the same run: one caller appending to its stream, and 64 callers
// spread over 8 Stores (8 replicas of a service, each with group commit), each
// appending one event with Exact(n) to a stream of its own.
//
//	go test -run '^$' -bench PositionScheme ./eventstore/postgres/
func BenchmarkPositionScheme(b *testing.B) {
	for _, callers := range []int{1, 64} {
		for _, scheme := range []string{"serialised", "naive"} {
			b.Run(fmt.Sprintf("callers=%d/%s", callers, scheme), func(b *testing.B) {
				benchAppends(b, callers, scheme == "naive")
			})
		}
	}
}

// benchAppends runs b.N single-event appends spread over callers goroutines.
func benchAppends(b *testing.B, callers int, naive bool) {
	ctx := b.Context()
	schema := pgtest.Schema(b)
	stores := make([]*postgres.Store, min(callers, 8))
	for i := range stores {
		stores[i] = pgtest.OpenSchema(b, schema)
		if naive {
			require.NoError(b, postgres.UseNaivePositions(ctx, stores[i]))
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, callers)
	b.ResetTimer()
	for c := range callers {
		s := stores[c%len(stores)]
		wg.Go(func() {
			stream := fmt.Sprintf("bench-%d", c)
			expected := eventstore.NoStream()
			for next.Add(1) <= int64(b.N) {
				res, err := s.Append(ctx, stream, expected, newEvent("Benchmarked"))
				if err != nil {
					errs[c] = err
					return
				}
				expected = eventstore.Exact(res.Revision)
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	for _, err := range errs {
		require.NoError(b, err)
	}
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "appends/s")
	}
}

// BenchmarkPositionSchemePaired measures the same as BenchmarkPositionScheme,
// pairing the two schemes round by round (each round runs serialised for a
// while, then naive, on stores opened once), so that a shared machine's load
// drift hits both alike; it reports the median over rounds of each rate and of
// their ratio. Run it once:
//
//	go test -run '^$' -bench PositionSchemePaired -benchtime 1x ./eventstore/postgres/
func BenchmarkPositionSchemePaired(b *testing.B) {
	const rounds, each = 7, 2 * time.Second
	for _, callers := range []int{1, 64} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			for b.Loop() {
				serialised, naive := openBenchStores(b, callers, false), openBenchStores(b, callers, true)
				var rs, rn, ratio []float64
				for range rounds {
					s := appendFor(b, serialised, callers, each)
					n := appendFor(b, naive, callers, each)
					rs, rn, ratio = append(rs, s), append(rn, n), append(ratio, s/n)
				}
				b.ReportMetric(median(rs), "serialised-appends/s")
				b.ReportMetric(median(rn), "naive-appends/s")
				b.ReportMetric(median(ratio), "serialised/naive")
			}
		})
	}
}

// openBenchStores opens min(callers, 8) stores on a new schema.
func openBenchStores(b *testing.B, callers int, naive bool) []*postgres.Store {
	schema := pgtest.Schema(b)
	stores := make([]*postgres.Store, min(callers, 8))
	for i := range stores {
		stores[i] = pgtest.OpenSchema(b, schema)
		if naive {
			require.NoError(b, postgres.UseNaivePositions(b.Context(), stores[i]))
		}
	}
	return stores
}

// appendFor has callers goroutines append single events to streams of their own
// for d, and returns the appends per second.
func appendFor(b *testing.B, stores []*postgres.Store, callers int, d time.Duration) float64 {
	ctx := b.Context()
	var done atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	start := time.Now()
	run := uuid.NewString()[:8]
	for c := range callers {
		s := stores[c%len(stores)]
		wg.Go(func() {
			stream := fmt.Sprintf("bench-%s-%d", run, c)
			expected := eventstore.NoStream()
			for time.Now().Before(deadline) {
				res, err := s.Append(ctx, stream, expected, newEvent("Benchmarked"))
				if err != nil {
					b.Error(err)
					return
				}
				expected = eventstore.Exact(res.Revision)
				done.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(done.Load()) / time.Since(start).Seconds()
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// BenchmarkFindEvent looks an event up by id in a stream of 10,000 events
// (FindEvent: one seek of the (stream, id) index), against reading the whole
// stream (what recognising a command costs without it), in the same run.
//
//	go test -run '^$' -bench FindEvent ./eventstore/postgres/
func BenchmarkFindEvent(b *testing.B) {
	ctx := b.Context()
	s := pgtest.Open(b)
	const n = 10_000
	ids := make([]uuid.UUID, 0, n)
	for len(ids) < n {
		batch := make([]eventstore.EventData, 500)
		for i := range batch {
			batch[i] = newEvent("Deposited")
			ids = append(ids, batch[i].ID)
		}
		_, err := s.Append(ctx, "account-1", eventstore.Any(), batch...)
		require.NoError(b, err)
	}
	b.Run("FindEvent", func(b *testing.B) {
		for i := range b.N {
			if _, err := s.FindEvent(ctx, "account-1", ids[(i*7919)%n]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ReadStream", func(b *testing.B) {
		for range b.N {
			k := 0
			for _, err := range s.ReadStream(ctx, "account-1", 0) {
				if err != nil {
					b.Fatal(err)
				}
				k++
			}
			if k != n {
				b.Fatalf("read %d events", k)
			}
		}
	})
}
