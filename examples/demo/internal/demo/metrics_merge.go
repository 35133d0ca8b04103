package demo

import (
	"fmt"
	"slices"
	"time"

	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// instanceMetrics is the last snapshot of one process instance's metrics, and
// when it was taken.
type instanceMetrics struct {
	at     time.Time
	scopes []metricdata.ScopeMetrics
}

// mergeMetrics merges the cumulative metrics of several process instances into
// the figures of the whole run: sums and histograms are added up across
// instances (each counted what it did itself, dead or alive), and a gauge keeps,
// for each attribute set, the value of the instance that reported last (a
// restarted projector's lag replaces the lag its killed predecessor last saw).
// Scopes, metrics and points come out in the order they first appear; the
// inputs are not modified. A metric whose kind or histogram bounds differ from
// the same metric in an earlier instance is left out of that instance's share and
// reported in the error, which does not stop the merge.
func mergeMetrics(instances []instanceMetrics) ([]metricdata.ScopeMetrics, error) {
	ordered := slices.Clone(instances)
	slices.SortStableFunc(ordered, func(a, b instanceMetrics) int { return a.at.Compare(b.at) })
	var out []metricdata.ScopeMetrics
	scopeAt := map[instrumentation.Scope]int{}
	metricAt := map[instrumentation.Scope]map[string]int{}
	var errs []error
	for _, in := range ordered {
		for _, sm := range in.scopes {
			key := instrumentation.Scope{Name: sm.Scope.Name, Version: sm.Scope.Version, SchemaURL: sm.Scope.SchemaURL}
			si, ok := scopeAt[key]
			if !ok {
				si = len(out)
				scopeAt[key], metricAt[key] = si, map[string]int{}
				out = append(out, metricdata.ScopeMetrics{Scope: key})
			}
			for _, m := range sm.Metrics {
				mi, ok := metricAt[key][m.Name]
				if !ok {
					metricAt[key][m.Name] = len(out[si].Metrics)
					out[si].Metrics = append(out[si].Metrics, metricdata.Metrics{Name: m.Name, Description: m.Description,
						Unit: m.Unit, Data: emptyLike(m.Data)})
					mi = len(out[si].Metrics) - 1
				}
				merged, err := mergeData(out[si].Metrics[mi].Data, m.Data)
				if err != nil {
					errs = append(errs, fmt.Errorf("merge %s: %w", m.Name, err))
					continue
				}
				out[si].Metrics[mi].Data = merged
			}
		}
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("demo: merge metrics: %v", errs)
	}
	return out, nil
}

// emptyLike returns an aggregation of d's kind with no points.
func emptyLike(d metricdata.Aggregation) metricdata.Aggregation {
	switch d := d.(type) {
	case metricdata.Sum[int64]:
		return metricdata.Sum[int64]{Temporality: d.Temporality, IsMonotonic: d.IsMonotonic}
	case metricdata.Sum[float64]:
		return metricdata.Sum[float64]{Temporality: d.Temporality, IsMonotonic: d.IsMonotonic}
	case metricdata.Gauge[int64]:
		return metricdata.Gauge[int64]{}
	case metricdata.Gauge[float64]:
		return metricdata.Gauge[float64]{}
	case metricdata.Histogram[int64]:
		return metricdata.Histogram[int64]{Temporality: d.Temporality}
	case metricdata.Histogram[float64]:
		return metricdata.Histogram[float64]{Temporality: d.Temporality}
	}
	return d
}

// mergeData adds one instance's data d to the run's acc, of the same kind.
func mergeData(acc, d metricdata.Aggregation) (metricdata.Aggregation, error) {
	switch a := acc.(type) {
	case metricdata.Sum[int64]:
		if d, ok := d.(metricdata.Sum[int64]); ok {
			a.DataPoints = mergePoints(a.DataPoints, d.DataPoints, addValues[int64])
			return a, nil
		}
	case metricdata.Sum[float64]:
		if d, ok := d.(metricdata.Sum[float64]); ok {
			a.DataPoints = mergePoints(a.DataPoints, d.DataPoints, addValues[float64])
			return a, nil
		}
	case metricdata.Gauge[int64]:
		if d, ok := d.(metricdata.Gauge[int64]); ok {
			a.DataPoints = mergePoints(a.DataPoints, d.DataPoints, lastValue[int64])
			return a, nil
		}
	case metricdata.Gauge[float64]:
		if d, ok := d.(metricdata.Gauge[float64]); ok {
			a.DataPoints = mergePoints(a.DataPoints, d.DataPoints, lastValue[float64])
			return a, nil
		}
	case metricdata.Histogram[int64]:
		if d, ok := d.(metricdata.Histogram[int64]); ok {
			var err error
			a.DataPoints, err = mergeHistograms(a.DataPoints, d.DataPoints)
			return a, err
		}
	case metricdata.Histogram[float64]:
		if d, ok := d.(metricdata.Histogram[float64]); ok {
			var err error
			a.DataPoints, err = mergeHistograms(a.DataPoints, d.DataPoints)
			return a, err
		}
	default:
		return acc, fmt.Errorf("unsupported kind %T", acc)
	}
	return acc, fmt.Errorf("kind %T, earlier %T", d, acc)
}

// mergePoints merges the points of one instance into acc, matching them by
// attribute set with combine; points of new attribute sets are appended.
func mergePoints[N int64 | float64](acc, points []metricdata.DataPoint[N],
	combine func(acc, p metricdata.DataPoint[N]) metricdata.DataPoint[N]) []metricdata.DataPoint[N] {
	for _, p := range points {
		p.Exemplars = nil // they name spans of one process: not a run's
		if i := slices.IndexFunc(acc, func(a metricdata.DataPoint[N]) bool { return a.Attributes.Equals(&p.Attributes) }); i >= 0 {
			acc[i] = combine(acc[i], p)
		} else {
			acc = append(acc, p)
		}
	}
	return acc
}

// addValues adds up two instances' cumulative points: the sum counts since the
// earliest start.
func addValues[N int64 | float64](acc, p metricdata.DataPoint[N]) metricdata.DataPoint[N] {
	acc.Value += p.Value
	acc.StartTime = earliest(acc.StartTime, p.StartTime)
	acc.Time = latest(acc.Time, p.Time)
	return acc
}

// lastValue keeps the later instance's gauge point (instances come oldest first).
func lastValue[N int64 | float64](_, p metricdata.DataPoint[N]) metricdata.DataPoint[N] { return p }

// mergeHistograms adds one instance's histogram points into acc, bucket by
// bucket; the bounds must be the same.
func mergeHistograms[N int64 | float64](acc, points []metricdata.HistogramDataPoint[N]) ([]metricdata.HistogramDataPoint[N], error) {
	for _, p := range points {
		i := slices.IndexFunc(acc, func(a metricdata.HistogramDataPoint[N]) bool { return a.Attributes.Equals(&p.Attributes) })
		if i < 0 {
			p.Bounds, p.BucketCounts, p.Exemplars = slices.Clone(p.Bounds), slices.Clone(p.BucketCounts), nil
			acc = append(acc, p)
			continue
		}
		a := &acc[i]
		if !slices.Equal(a.Bounds, p.Bounds) || len(a.BucketCounts) != len(p.BucketCounts) {
			return acc, fmt.Errorf("bucket bounds %v, earlier %v", p.Bounds, a.Bounds)
		}
		for b, n := range p.BucketCounts {
			a.BucketCounts[b] += n
		}
		a.Count += p.Count
		a.Sum += p.Sum
		a.Min = extremum(a.Min, p.Min, func(x, y N) bool { return x < y })
		a.Max = extremum(a.Max, p.Max, func(x, y N) bool { return x > y })
		a.StartTime = earliest(a.StartTime, p.StartTime)
		a.Time = latest(a.Time, p.Time)
	}
	return acc, nil
}

// extremum returns the one of a and b that wins by better, or the defined one.
func extremum[N int64 | float64](a, b metricdata.Extrema[N], better func(x, y N) bool) metricdata.Extrema[N] {
	av, aok := a.Value()
	bv, bok := b.Value()
	if !aok || (bok && better(bv, av)) {
		return b
	}
	return a
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
