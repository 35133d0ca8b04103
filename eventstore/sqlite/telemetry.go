package sqlite

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/idemkit/idem/internal/telemetry"
)

// instruments are the store's metrics (see docs/observability.md).
type instruments struct {
	backend   metric.MeasurementOption
	commits   metric.Float64Histogram
	groupSize metric.Int64Histogram
}

func newInstruments(p telemetry.Providers) *instruments {
	m := p.MeterFor("github.com/idemkit/idem/eventstore/sqlite")
	return &instruments{
		backend: metric.WithAttributes(telemetry.Backend.String("sqlite")),
		commits: telemetry.Must(m.Float64Histogram("idem.store.commit.duration", metric.WithUnit("s"),
			metric.WithDescription("Time of an append batch's transaction, from BEGIN to COMMIT (the sync included)."),
			metric.WithExplicitBucketBoundaries(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25))),
		groupSize: telemetry.Must(m.Int64Histogram("idem.store.commit.appends", metric.WithUnit("{append}"),
			metric.WithDescription("Appends sharing one commit (group commit)."),
			metric.WithExplicitBucketBoundaries(1, 2, 4, 8, 16, 32, 64, 128, 256))),
	}
}

// recordCommit records one batch's transaction.
func (in *instruments) recordCommit(start time.Time, appends int) {
	ctx := context.Background()
	in.commits.Record(ctx, time.Since(start).Seconds(), in.backend)
	in.groupSize.Record(ctx, int64(appends), in.backend)
}
