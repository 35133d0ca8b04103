package demo

import (
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/idemkit/idem/projection"
)

// TestAppliedAgree compares a runner's Stats with its idem.projection.events,
// per projection and reactor, over every mode.
func TestAppliedAgree(t *testing.T) {
	events := func(projApplied, reactorApplied int64) []metricdata.ScopeMetrics {
		pt := func(key, name, outcome, mode string, v int64) metricdata.DataPoint[int64] {
			return metricdata.DataPoint[int64]{Value: v, Attributes: attribute.NewSet(attribute.String(key, name),
				attribute.String("idem.outcome", outcome), attribute.String("idem.mode", mode))}
		}
		return []metricdata.ScopeMetrics{{Metrics: []metricdata.Metrics{{Name: "idem.projection.events",
			Data: metricdata.Sum[int64]{IsMonotonic: true, DataPoints: []metricdata.DataPoint[int64]{
				pt("idem.projection", "totals", "applied", "catch_up", 2),
				pt("idem.projection", "totals", "applied", "live", projApplied-2),
				pt("idem.projection", "totals", "skipped", "live", 9),
				pt("idem.reactor", "totals", "applied", "live", reactorApplied),
			}}}}}}
	}
	stats := []projection.Stats{{Name: "totals", Applied: 5}, {Name: "totals", Reactor: true, Applied: 3}}
	for _, c := range []struct {
		proj, reactor int64
		want          bool
	}{{5, 3, true}, {4, 3, false}, {5, 4, false}, {3, 5, false}} {
		if got := appliedAgree(stats, events(c.proj, c.reactor)); got != c.want {
			t.Errorf("projection %d, reactor %d applied: agree %v, want %v", c.proj, c.reactor, got, c.want)
		}
	}
}
