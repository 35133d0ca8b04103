package projection_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/projection"
)

// metricPoints collects every data point of reader as name -> attribute set -> value
// (sums and gauges), and the number of recordings of each histogram.
func metricPoints(t *testing.T, reader *sdkmetric.ManualReader) map[string]map[attribute.Distinct]float64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	out := map[string]map[attribute.Distinct]float64{}
	add := func(name string, attrs attribute.Set, v float64) {
		for _, kv := range attrs.ToSlice() { // low cardinality only: never a stream, an event or a command
			require.Contains(t, []attribute.Key{"idem.projection", "idem.reactor", "idem.outcome", "idem.mode", "idem.cause"}, kv.Key, name)
		}
		if out[name] == nil {
			out[name] = map[attribute.Distinct]float64{}
		}
		out[name][attrs.Equivalent()] += v
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					add(m.Name, p.Attributes, float64(p.Value))
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					add(m.Name, p.Attributes, float64(p.Value))
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					add(m.Name, p.Attributes, p.Value)
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					add(m.Name, p.Attributes, float64(p.Count))
				}
			}
		}
	}
	return out
}

func set(kvs ...attribute.KeyValue) attribute.Distinct {
	s := attribute.NewSet(kvs...)
	return s.Equivalent()
}

// traced appends events whose metadata carries the trace context of a span, as
// the command handler records it, and returns that span's context.
func traced(t *testing.T, ctx context.Context, store eventstore.Store, stream string, amounts ...int64) trace.SpanContext {
	t.Helper()
	id := uuid.New()
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID(id), SpanID: trace.SpanID(id[8:]), TraceFlags: trace.FlagsSampled})
	md := fmt.Appendf(nil, `{"trace":{"traceparent":"00-%s-%s-01"}}`, sc.TraceID(), sc.SpanID())
	evs := make([]eventstore.EventData, len(amounts))
	for i, a := range amounts {
		evs[i] = amountEvent(uuid.New(), a)
		evs[i].Metadata = md
	}
	_, err := store.Append(ctx, stream, eventstore.Any(), evs...)
	require.NoError(t, err)
	return sc
}

// TestMetricsAgreeWithStats: every event a projection or reactor applies, skips or
// parks, and every retry, is emitted as a metric with low-cardinality attributes
// and agrees with Stats; lag and rebuild progress are gauges; spans of batches and
// of reactor events link to the commands that wrote the events (G12).
func TestMetricsAgreeWithStats(t *testing.T) {
	ctx := t.Context()
	store, tg := newStore(t), openTarget(t, "read.db")
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))

	cmdA := traced(t, ctx, store, "acct-a", 5, 7)
	cmdB := traced(t, ctx, store, "acct-b", 11)
	poison := traced(t, ctx, store, "acct-c", 13)
	var calls atomic.Int64
	mailer := projection.Reactor{Name: "mailer", Poison: projection.PoisonPark,
		Handle: func(ctx context.Context, e projection.ReactorEvent) error {
			if calls.Add(1) == 1 {
				return errors.New("smtp: try again") // one retry
			}
			if e.Stream == "acct-c" {
				return errors.New("smtp: mailbox unknown") // parked after its retries
			}
			return nil
		}}
	r := newRunner(t, store, tg, opts(projection.WithRetries(2), projection.WithMeterProvider(mp), projection.WithTracerProvider(tp)), ledger(1))
	require.NoError(t, r.AddReactor(mailer))
	require.NoError(t, r.CatchUp(ctx))
	res, err := r.ReplayStream(ctx, "ledger", "acct-a") // both skipped by the guard
	require.NoError(t, err)
	require.EqualValues(t, 2, res.Skipped)

	got := metricPoints(t, reader)
	ledgerKV, mailerKV := attribute.String("idem.projection", "ledger"), attribute.String("idem.reactor", "mailer")
	events := func(kv attribute.KeyValue, outcome, mode string) float64 {
		return got["idem.projection.events"][set(kv, attribute.String("idem.outcome", outcome), attribute.String("idem.mode", mode))]
	}
	st := map[string]projection.Stats{}
	for _, s := range r.Stats() {
		st[s.Name] = s
	}
	require.EqualValues(t, 4, st["ledger"].Applied)
	require.EqualValues(t, st["ledger"].Applied, events(ledgerKV, projection.OutcomeApplied, projection.ModeCatchUp))
	require.EqualValues(t, st["ledger"].Skipped, events(ledgerKV, projection.OutcomeSkipped, projection.ModeReplay))
	require.EqualValues(t, 3, st["mailer"].Applied)
	require.EqualValues(t, 1, st["mailer"].Parked)
	require.EqualValues(t, st["mailer"].Applied, events(mailerKV, projection.OutcomeApplied, projection.ModeCatchUp))
	require.EqualValues(t, st["mailer"].Parked, events(mailerKV, projection.OutcomeParked, projection.ModeCatchUp))
	require.EqualValues(t, 3, st["mailer"].Retries) // one for the first event, two for the poison one
	require.EqualValues(t, st["mailer"].Retries, got["idem.projection.retries"][set(mailerKV, attribute.String("idem.cause", projection.CauseHandler))])

	require.Contains(t, got["idem.projection.lag"], set(ledgerKV))
	require.Zero(t, got["idem.projection.lag"][set(ledgerKV)], "caught up")
	require.Contains(t, got["idem.projection.lag.age"], set(mailerKV))
	require.Equal(t, 1.0, got["idem.projection.rebuild.progress"][set(ledgerKV, attribute.String("idem.mode", projection.ModeCatchUp))])
	require.Positive(t, got["idem.projection.batch.duration"][set(ledgerKV, attribute.String("idem.mode", projection.ModeCatchUp))])

	links := map[string]map[trace.SpanID]bool{}
	for _, sp := range spans.Ended() {
		if links[sp.Name()] == nil {
			links[sp.Name()] = map[trace.SpanID]bool{}
		}
		for _, l := range sp.Links() {
			links[sp.Name()][l.SpanContext.SpanID()] = true
		}
	}
	for _, sc := range []trace.SpanContext{cmdA, cmdB, poison} {
		require.True(t, links["idem.projection.batch"][sc.SpanID()], "a batch span links to command span %s", sc.SpanID())
		require.True(t, links["idem.reactor.event"][sc.SpanID()], "a reactor span links to command span %s", sc.SpanID())
	}
}

// TestTelemetryOptionsRefuseNil: a nil provider is an invalid option, not a
// panic at the first event.
func TestTelemetryOptionsRefuseNil(t *testing.T) {
	store, tg := newStore(t), openTarget(t, "read.db")
	for _, o := range []projection.Option{projection.WithMeterProvider(nil), projection.WithTracerProvider(nil)} {
		_, err := projection.NewRunner(store, tg, o)
		require.ErrorIs(t, err, projection.ErrInvalidOption)
	}
}
