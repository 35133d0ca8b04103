package demo

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
)

var (
	t0      = time.Unix(1_700_000_000, 0)
	scopeA  = instrumentation.Scope{Name: "github.com/idemkit/idem/command"}
	applied = attribute.NewSet(attribute.String("idem.outcome", "applied"))
	dupKey  = attribute.NewSet(attribute.String("idem.outcome", "duplicate_key"))
	projA   = attribute.NewSet(attribute.String("idem.projection", "a"))
	projB   = attribute.NewSet(attribute.String("idem.projection", "b"))
)

// instance is one process's metrics: a counter, a gauge and a histogram.
func instance(at time.Time, handled []metricdata.DataPoint[int64], lag []metricdata.DataPoint[int64],
	hist metricdata.HistogramDataPoint[float64]) instanceMetrics {
	return instanceMetrics{at: at, scopes: []metricdata.ScopeMetrics{{Scope: scopeA, Metrics: []metricdata.Metrics{
		{Name: "handled", Unit: "{command}", Data: metricdata.Sum[int64]{DataPoints: handled,
			Temporality: metricdata.CumulativeTemporality, IsMonotonic: true}},
		{Name: "lag", Data: metricdata.Gauge[int64]{DataPoints: lag}},
		{Name: "duration", Unit: "s", Data: metricdata.Histogram[float64]{DataPoints: []metricdata.HistogramDataPoint[float64]{hist},
			Temporality: metricdata.CumulativeTemporality}},
	}}}}
}

func point(set attribute.Set, start, at time.Time, v int64) metricdata.DataPoint[int64] {
	return metricdata.DataPoint[int64]{Attributes: set, StartTime: start, Time: at, Value: v}
}

func histPoint(start, at time.Time, counts []uint64, sum, lo, hi float64) metricdata.HistogramDataPoint[float64] {
	var n uint64
	for _, c := range counts {
		n += c
	}
	return metricdata.HistogramDataPoint[float64]{Attributes: applied, StartTime: start, Time: at, Count: n,
		Bounds: []float64{0.1, 1}, BucketCounts: counts, Sum: sum, Min: metricdata.NewExtrema(lo), Max: metricdata.NewExtrema(hi)}
}

// TestMergeMetrics merges a killed worker's last snapshot with its live
// successor's: counters and histograms add up, a gauge keeps the value reported
// last, an attribute set only one of them has stays as it is.
func TestMergeMetrics(t *testing.T) {
	killed := instance(t0.Add(time.Second),
		[]metricdata.DataPoint[int64]{point(applied, t0, t0.Add(time.Second), 3), point(dupKey, t0, t0.Add(time.Second), 2)},
		[]metricdata.DataPoint[int64]{point(projA, t0, t0.Add(time.Second), 7), point(projB, t0, t0.Add(time.Second), 4)},
		histPoint(t0, t0.Add(time.Second), []uint64{1, 0, 2}, 4.05, 0.05, 2))
	live := instance(t0.Add(3*time.Second),
		[]metricdata.DataPoint[int64]{point(applied, t0.Add(2*time.Second), t0.Add(3*time.Second), 5)},
		[]metricdata.DataPoint[int64]{point(projA, t0.Add(2*time.Second), t0.Add(3*time.Second), 0)},
		histPoint(t0.Add(2*time.Second), t0.Add(3*time.Second), []uint64{0, 3, 1}, 5.5, 0.5, 3))
	before := slices.Clone(killed.scopes[0].Metrics[2].Data.(metricdata.Histogram[float64]).DataPoints[0].BucketCounts)

	// The live instance comes first here: the order of the reports decides, not
	// the order of the instances.
	got, err := mergeMetrics([]instanceMetrics{live, killed})
	if err != nil {
		t.Fatal(err)
	}
	want := instance(time.Time{},
		[]metricdata.DataPoint[int64]{point(applied, t0, t0.Add(3*time.Second), 8), point(dupKey, t0, t0.Add(time.Second), 2)},
		[]metricdata.DataPoint[int64]{point(projA, t0.Add(2*time.Second), t0.Add(3*time.Second), 0), point(projB, t0, t0.Add(time.Second), 4)},
		histPoint(t0, t0.Add(3*time.Second), []uint64{1, 3, 3}, 9.55, 0.05, 3))
	if len(got) != 1 {
		t.Fatalf("%d scopes, want 1", len(got))
	}
	metricdatatest.AssertEqual(t, want.scopes[0], got[0])
	if after := killed.scopes[0].Metrics[2].Data.(metricdata.Histogram[float64]).DataPoints[0].BucketCounts; !slices.Equal(before, after) {
		t.Errorf("merge changed its input: bucket counts %v, were %v", after, before)
	}
}

// TestMergeMetricsRefusesMismatches leaves out an instance's share of a metric
// whose kind or bounds differ, says so, and keeps the rest.
func TestMergeMetricsRefusesMismatches(t *testing.T) {
	a := instance(t0, []metricdata.DataPoint[int64]{point(applied, t0, t0, 1)}, nil, histPoint(t0, t0, []uint64{1, 0, 0}, 0.01, 0.01, 0.01))
	b := instance(t0.Add(time.Second), []metricdata.DataPoint[int64]{point(applied, t0, t0, 2)}, nil, histPoint(t0, t0, []uint64{0, 1, 0}, 0.5, 0.5, 0.5))
	b.scopes[0].Metrics[2].Data.(metricdata.Histogram[float64]).DataPoints[0].Bounds = []float64{0.2, 1}
	b.scopes[0].Metrics[1].Data = metricdata.Sum[int64]{}
	got, err := mergeMetrics([]instanceMetrics{a, b})
	if err == nil {
		t.Fatal("no error for different bounds and kinds")
	}
	sum := got[0].Metrics[0].Data.(metricdata.Sum[int64])
	hist := got[0].Metrics[2].Data.(metricdata.Histogram[float64])
	if sum.DataPoints[0].Value != 3 || hist.DataPoints[0].Count != 1 {
		t.Errorf("handled %d (want 3), duration count %d (want a's 1)", sum.DataPoints[0].Value, hist.DataPoints[0].Count)
	}
}

// TestMetricsWireRoundTrip sends collected metrics through their JSON line form
// and reads back the same metricdata.
func TestMetricsWireRoundTrip(t *testing.T) {
	in := instance(t0, []metricdata.DataPoint[int64]{point(applied, t0, t0.Add(time.Second), 3)},
		[]metricdata.DataPoint[int64]{point(attribute.NewSet(attribute.String("s", "x"), attribute.Int64("i", -4),
			attribute.Float64("f", 0.5), attribute.Bool("b", true)), time.Time{}, t0, 9)},
		histPoint(t0, t0, []uint64{1, 2, 0}, 0.6, 0.05, 0.5))
	in.scopes[0].Metrics = append(in.scopes[0].Metrics,
		metricdata.Metrics{Name: "age", Unit: "s", Description: "how old", Data: metricdata.Gauge[float64]{
			DataPoints: []metricdata.DataPoint[float64]{{Attributes: projA, Time: t0, Value: 1.25}}}},
		metricdata.Metrics{Name: "batch", Data: metricdata.Histogram[int64]{Temporality: metricdata.CumulativeTemporality,
			DataPoints: []metricdata.HistogramDataPoint[int64]{{Attributes: projA, Time: t0, Count: 1, Bounds: []float64{1},
				BucketCounts: []uint64{0, 1}, Sum: 5}}}})
	snap, skipped := encodeMetrics(in.scopes)
	if len(skipped) > 0 {
		t.Fatalf("skipped %v", skipped)
	}
	line, err := json.Marshal(report{Metrics: snap})
	if err != nil {
		t.Fatal(err)
	}
	var back report
	if err := json.Unmarshal(line, &back); err != nil {
		t.Fatal(err)
	}
	got, err := back.Metrics.decode()
	if err != nil {
		t.Fatal(err)
	}
	metricdatatest.AssertEqual(t, in.scopes[0], got[0])
}
