package demo

import (
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// A child process sends its collected metrics to the parent as JSON, on the same
// line as the counters they agree with (protocol.go). metricdata has no JSON form
// that reads back (attribute sets and extrema do not unmarshal), so the line
// carries this compact one: sums, gauges and explicit-bucket histograms, of int64
// or float64, which is every kind idem's instruments make.

// metricsSnapshot is what a process's metric reader collected, as sent.
type metricsSnapshot struct {
	Scopes []wireScope `json:"s"`
}

type wireScope struct {
	Name    string       `json:"n"`
	Version string       `json:"v,omitempty"`
	Schema  string       `json:"u,omitempty"`
	Metrics []wireMetric `json:"m"`
}

// Kinds of wireMetric.
const (
	wireSum       = "sum"
	wireGauge     = "gauge"
	wireHistogram = "histogram"
)

// wireMetric is one instrument's data: Int or Float holds its points.
type wireMetric struct {
	Name        string `json:"n"`
	Description string `json:"d,omitempty"`
	Unit        string `json:"u,omitempty"`
	Kind        string `json:"k"`
	// Monotonic and Delta describe a sum; Delta a histogram too.
	Monotonic bool                 `json:"mono,omitempty"`
	Delta     bool                 `json:"delta,omitempty"`
	Int       []wirePoint[int64]   `json:"i,omitempty"`
	Float     []wirePoint[float64] `json:"f,omitempty"`
}

// wirePoint is a data point: Value for a sum or a gauge, the rest for a
// histogram. Times are Unix nanoseconds.
type wirePoint[N int64 | float64] struct {
	Attrs  []wireAttr `json:"a,omitempty"`
	Start  int64      `json:"s,omitempty"`
	Time   int64      `json:"t"`
	Value  N          `json:"v,omitempty"`
	Count  uint64     `json:"c,omitempty"`
	Sum    N          `json:"sum,omitempty"`
	Min    *N         `json:"min,omitempty"`
	Max    *N         `json:"max,omitempty"`
	Bounds []float64  `json:"b,omitempty"`
	Counts []uint64   `json:"bc,omitempty"`
}

// wireAttr is an attribute: exactly one of its values is set. Slices travel as
// their string form.
type wireAttr struct {
	Key    string   `json:"k"`
	String *string  `json:"s,omitempty"`
	Int    *int64   `json:"i,omitempty"`
	Float  *float64 `json:"f,omitempty"`
	Bool   *bool    `json:"b,omitempty"`
}

// encodeMetrics turns collected scopes into their wire form. Kinds idem does not
// make (exponential histograms, summaries) are left out and named in skipped.
func encodeMetrics(scopes []metricdata.ScopeMetrics) (snap *metricsSnapshot, skipped []string) {
	snap = &metricsSnapshot{}
	for _, sm := range scopes {
		ws := wireScope{Name: sm.Scope.Name, Version: sm.Scope.Version, Schema: sm.Scope.SchemaURL}
		for _, m := range sm.Metrics {
			wm := wireMetric{Name: m.Name, Description: m.Description, Unit: m.Unit}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				wm.Kind, wm.Monotonic, wm.Delta, wm.Int = wireSum, d.IsMonotonic, d.Temporality == metricdata.DeltaTemporality, encodePoints(d.DataPoints)
			case metricdata.Sum[float64]:
				wm.Kind, wm.Monotonic, wm.Delta, wm.Float = wireSum, d.IsMonotonic, d.Temporality == metricdata.DeltaTemporality, encodePoints(d.DataPoints)
			case metricdata.Gauge[int64]:
				wm.Kind, wm.Int = wireGauge, encodePoints(d.DataPoints)
			case metricdata.Gauge[float64]:
				wm.Kind, wm.Float = wireGauge, encodePoints(d.DataPoints)
			case metricdata.Histogram[int64]:
				wm.Kind, wm.Delta, wm.Int = wireHistogram, d.Temporality == metricdata.DeltaTemporality, encodeHistogram(d.DataPoints)
			case metricdata.Histogram[float64]:
				wm.Kind, wm.Delta, wm.Float = wireHistogram, d.Temporality == metricdata.DeltaTemporality, encodeHistogram(d.DataPoints)
			default:
				skipped = append(skipped, m.Name)
				continue
			}
			ws.Metrics = append(ws.Metrics, wm)
		}
		snap.Scopes = append(snap.Scopes, ws)
	}
	return snap, skipped
}

func encodePoints[N int64 | float64](dps []metricdata.DataPoint[N]) []wirePoint[N] {
	out := make([]wirePoint[N], len(dps))
	for i, dp := range dps {
		out[i] = wirePoint[N]{Attrs: encodeAttrs(dp.Attributes), Start: unixNano(dp.StartTime), Time: unixNano(dp.Time), Value: dp.Value}
	}
	return out
}

func encodeHistogram[N int64 | float64](dps []metricdata.HistogramDataPoint[N]) []wirePoint[N] {
	out := make([]wirePoint[N], len(dps))
	for i, dp := range dps {
		p := wirePoint[N]{Attrs: encodeAttrs(dp.Attributes), Start: unixNano(dp.StartTime), Time: unixNano(dp.Time),
			Count: dp.Count, Sum: dp.Sum, Bounds: dp.Bounds, Counts: dp.BucketCounts}
		if v, ok := dp.Min.Value(); ok {
			p.Min = &v
		}
		if v, ok := dp.Max.Value(); ok {
			p.Max = &v
		}
		out[i] = p
	}
	return out
}

func encodeAttrs(set attribute.Set) []wireAttr {
	out := make([]wireAttr, 0, set.Len())
	for _, kv := range set.ToSlice() {
		a := wireAttr{Key: string(kv.Key)}
		switch kv.Value.Type() {
		case attribute.BOOL:
			v := kv.Value.AsBool()
			a.Bool = &v
		case attribute.INT64:
			v := kv.Value.AsInt64()
			a.Int = &v
		case attribute.FLOAT64:
			v := kv.Value.AsFloat64()
			a.Float = &v
		default:
			v := kv.Value.Emit()
			a.String = &v
		}
		out = append(out, a)
	}
	return out
}

// decode turns a snapshot back into metricdata, as the SDK's reader gives it.
func (s *metricsSnapshot) decode() ([]metricdata.ScopeMetrics, error) {
	out := make([]metricdata.ScopeMetrics, 0, len(s.Scopes))
	for _, ws := range s.Scopes {
		sm := metricdata.ScopeMetrics{Scope: instrumentation.Scope{Name: ws.Name, Version: ws.Version, SchemaURL: ws.Schema}}
		for _, wm := range ws.Metrics {
			data, err := wm.decode()
			if err != nil {
				return nil, fmt.Errorf("metric %s of %s: %w", wm.Name, ws.Name, err)
			}
			sm.Metrics = append(sm.Metrics, metricdata.Metrics{Name: wm.Name, Description: wm.Description, Unit: wm.Unit, Data: data})
		}
		out = append(out, sm)
	}
	return out, nil
}

func (wm wireMetric) decode() (metricdata.Aggregation, error) {
	if len(wm.Int) > 0 && len(wm.Float) > 0 {
		return nil, fmt.Errorf("both int64 and float64 points")
	}
	temporality := metricdata.CumulativeTemporality
	if wm.Delta {
		temporality = metricdata.DeltaTemporality
	}
	isFloat := len(wm.Float) > 0
	switch {
	case wm.Kind == wireSum && isFloat:
		return metricdata.Sum[float64]{DataPoints: decodePoints(wm.Float), Temporality: temporality, IsMonotonic: wm.Monotonic}, nil
	case wm.Kind == wireSum:
		return metricdata.Sum[int64]{DataPoints: decodePoints(wm.Int), Temporality: temporality, IsMonotonic: wm.Monotonic}, nil
	case wm.Kind == wireGauge && isFloat:
		return metricdata.Gauge[float64]{DataPoints: decodePoints(wm.Float)}, nil
	case wm.Kind == wireGauge:
		return metricdata.Gauge[int64]{DataPoints: decodePoints(wm.Int)}, nil
	case wm.Kind == wireHistogram && isFloat:
		return decodeHistogram(wm.Float, temporality)
	case wm.Kind == wireHistogram:
		return decodeHistogram(wm.Int, temporality)
	}
	return nil, fmt.Errorf("unknown kind %q", wm.Kind)
}

func decodePoints[N int64 | float64](ps []wirePoint[N]) []metricdata.DataPoint[N] {
	out := make([]metricdata.DataPoint[N], len(ps))
	for i, p := range ps {
		out[i] = metricdata.DataPoint[N]{Attributes: decodeAttrs(p.Attrs), StartTime: fromUnixNano(p.Start), Time: fromUnixNano(p.Time), Value: p.Value}
	}
	return out
}

func decodeHistogram[N int64 | float64](ps []wirePoint[N], temporality metricdata.Temporality) (metricdata.Aggregation, error) {
	out := make([]metricdata.HistogramDataPoint[N], len(ps))
	for i, p := range ps {
		if len(p.Counts) != len(p.Bounds)+1 {
			return nil, fmt.Errorf("%d bucket counts for %d bounds", len(p.Counts), len(p.Bounds))
		}
		dp := metricdata.HistogramDataPoint[N]{Attributes: decodeAttrs(p.Attrs), StartTime: fromUnixNano(p.Start), Time: fromUnixNano(p.Time),
			Count: p.Count, Sum: p.Sum, Bounds: p.Bounds, BucketCounts: p.Counts}
		if p.Min != nil {
			dp.Min = metricdata.NewExtrema(*p.Min)
		}
		if p.Max != nil {
			dp.Max = metricdata.NewExtrema(*p.Max)
		}
		out[i] = dp
	}
	return metricdata.Histogram[N]{DataPoints: out, Temporality: temporality}, nil
}

func decodeAttrs(as []wireAttr) attribute.Set {
	kvs := make([]attribute.KeyValue, 0, len(as))
	for _, a := range as {
		k := attribute.Key(a.Key)
		switch {
		case a.Bool != nil:
			kvs = append(kvs, k.Bool(*a.Bool))
		case a.Int != nil:
			kvs = append(kvs, k.Int64(*a.Int))
		case a.Float != nil:
			kvs = append(kvs, k.Float64(*a.Float))
		case a.String != nil:
			kvs = append(kvs, k.String(*a.String))
		}
	}
	return attribute.NewSet(kvs...)
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}
