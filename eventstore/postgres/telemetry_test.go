package postgres_test

import (
	"context"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/postgres"
	"github.com/idemkit/idem/eventstore/postgres/pgtest"
)

// TestCommitMetrics: every append batch's transaction is recorded, with the number
// of appends that shared it, under idem.backend "postgres" (G12).
func TestCommitMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	s := pgtest.Open(t, postgres.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	const writers, each = 8, 5
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for range each {
				_, err := s.Append(t.Context(), "m-"+string(rune('a'+w)), eventstore.Any(),
					eventstore.EventData{ID: uuid.New(), Type: "T"})
				require.NoError(t, err)
			}
		})
	}
	wg.Wait()

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	var appends, batches int64
	var durations uint64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Histogram[int64]:
				require.Equal(t, "idem.store.commit.appends", m.Name)
				for _, p := range d.DataPoints {
					v, _ := p.Attributes.Value("idem.backend")
					require.Equal(t, "postgres", v.AsString())
					appends += p.Sum
					batches += int64(p.Count)
				}
			case metricdata.Histogram[float64]:
				require.Equal(t, "idem.store.commit.duration", m.Name)
				for _, p := range d.DataPoints {
					durations += p.Count
				}
			}
		}
	}
	require.EqualValues(t, writers*each, appends, "every append counted once")
	require.EqualValues(t, batches, durations, "one duration per batch")
	require.Positive(t, batches)
}
