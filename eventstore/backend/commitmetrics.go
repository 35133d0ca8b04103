package backend

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/idemkit/idem/internal/telemetry"
)

// CommitMetrics are a store's group-commit metrics (see docs/observability.md):
// idem.store.commit.duration, the time of one append batch's transaction, and
// idem.store.commit.appends, how many appends shared it, both with idem.backend.
type CommitMetrics struct {
	backend   metric.MeasurementOption
	commits   metric.Float64Histogram
	groupSize metric.Int64Histogram
}

// NewCommitMetrics returns the commit metrics of a store of the named backend
// ("sqlite", "postgres"), from mp (the OTel global provider if nil), under the
// instrumentation scope of the store's package.
func NewCommitMetrics(mp metric.MeterProvider, scope, backendName string) *CommitMetrics {
	m := telemetry.Providers{Meter: mp}.MeterFor(scope)
	return &CommitMetrics{
		backend: metric.WithAttributeSet(telemetry.BackendSet(backendName)),
		commits: telemetry.Must(m.Float64Histogram("idem.store.commit.duration", metric.WithUnit("s"),
			metric.WithDescription("Time of an append batch's transaction, from BEGIN to COMMIT (the sync included)."),
			metric.WithExplicitBucketBoundaries(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25))),
		groupSize: telemetry.Must(m.Int64Histogram("idem.store.commit.appends", metric.WithUnit("{append}"),
			metric.WithDescription("Appends sharing one commit (group commit)."),
			metric.WithExplicitBucketBoundaries(1, 2, 4, 8, 16, 32, 64, 128, 256))),
	}
}

// Record records one batch's transaction, begun at start, of appends appends.
func (c *CommitMetrics) Record(start time.Time, appends int) {
	ctx := context.Background()
	c.commits.Record(ctx, time.Since(start).Seconds(), c.backend)
	c.groupSize.Record(ctx, int64(appends), c.backend)
}
