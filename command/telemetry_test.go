package command_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore/memory"
)

// counts reads the sum of an Int64 counter by one attribute's values.
func counts(t *testing.T, reader *sdkmetric.ManualReader, name string, key attribute.Key) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			sum, ok := m.Data.(metricdata.Sum[int64])
			require.True(t, ok, "%s is an int64 sum", name)
			for _, dp := range sum.DataPoints {
				v, _ := dp.Attributes.Value(key)
				out[v.AsString()] += dp.Value
			}
		}
	}
	return out
}

// TestMetricsAgreeWithStats: every outcome a handler counts in Stats is emitted as
// idem.command.handled with its idem.outcome, and a span per command carries the
// outcome, with children for load, decide and append (G12).
func TestMetricsAgreeWithStats(t *testing.T) {
	ctx := t.Context()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	h := newHandler(t, memory.New(), command.WithMeterProvider(mp), command.WithTracerProvider(tp), command.WithCache(0))

	send := func(id string, p AccountCommand) { _, _ = h.Handle(ctx, cmd{ID: id, AggregateID: "a", Payload: p}) }
	send("open", Open{Owner: "o"})
	send("open", Open{Owner: "o"})         // duplicate by command id
	send("open-2", Open{Owner: "o"})       // duplicate by business key
	send("open", Open{Owner: "x"})         // key reused
	send("dep", Deposit{Amount: 5})        // applied
	send("bad", Deposit{Amount: -1})       // rejected
	send("touch", Touch{})                 // no-op
	send("", Deposit{Amount: 1})           // invalid
	send("big", Withdraw{Amount: 1 << 20}) // rejected

	s := h.Stats()
	got := counts(t, reader, "idem.command.handled", "idem.outcome")
	require.Equal(t, map[string]int64{
		command.OutcomeApplied: int64(s.Applied), command.OutcomeDuplicate: int64(s.DuplicatesByID),
		command.OutcomeDuplicateByKey: int64(s.DuplicatesByKey), command.OutcomeKeyReused: int64(s.KeyReused),
		command.OutcomeRejected: int64(s.Rejected), command.OutcomeNoOp: int64(s.NoOps), command.OutcomeInvalid: int64(s.Invalid),
	}, got)
	require.Equal(t, map[string]int64{"applied": 2, "duplicate": 1, "duplicate_key": 1, "key_reused": 1, "rejected": 2, "noop": 1, "invalid": 1}, got)

	names := map[string]int{}
	for _, sp := range spans.Ended() {
		names[sp.Name()]++
	}
	require.Equal(t, 9, names["idem.command.handle"], "a span per command")
	require.Positive(t, names["idem.aggregate.load"])
	require.Positive(t, names["idem.command.decide"])
	require.Equal(t, 2, names["idem.store.append"], "the two applied commands appended")
}

// TestTraceContextIsRecorded: the first event of a command carries its span's W3C
// trace context, so that a projection can link back to it.
func TestTraceContextIsRecorded(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	h := newHandler(t, memory.New(), command.WithTracerProvider(tp))
	res, err := h.Handle(t.Context(), cmd{ID: "dep", AggregateID: "a", Payload: Deposit{Amount: 1}})
	require.NoError(t, err)
	m, err := command.DecodeMetadata(res.Events[0].Metadata)
	require.NoError(t, err)
	require.Regexp(t, `^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$`, m.Trace["traceparent"])

	plain := newHandler(t, memory.New())
	res, err = plain.Handle(t.Context(), cmd{ID: "dep", AggregateID: "a", Payload: Deposit{Amount: 1}})
	require.NoError(t, err)
	m, err = command.DecodeMetadata(res.Events[0].Metadata)
	require.NoError(t, err)
	require.Empty(t, m.Trace, fmt.Sprint("no tracer: nothing recorded, ", m.Trace))
}
