package postgres_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

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
