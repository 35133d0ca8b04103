package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/idemkit/idem/command"
)

// otelWorkloads is P1 with the handler's telemetry recorded into the OTel SDK,
// compared with P1 on the no-op providers.
func otelWorkloads() []Workload {
	return []Workload{{Key: "idem/P1otel/FULL", Unit: "cmd/s",
		Note: "as idem/P1/FULL with an SDK MeterProvider (ManualReader) and an SDK TracerProvider (AlwaysSample, batch processor, an exporter that counts spans)",
		Run:  idemCommandsOTel}}
}

// countingExporter receives every span the batch processor exports and counts
// them, as an exporter that sends them away would receive them.
type countingExporter struct{ spans atomic.Int64 }

func (e *countingExporter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.spans.Add(int64(len(spans)))
	return nil
}

func (e *countingExporter) Shutdown(context.Context) error { return nil }

// idemCommandsOTel runs P1 with real providers and checks afterwards that they
// recorded the commands.
func idemCommandsOTel(ctx context.Context, env *Env) (Sample, error) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(ctx)
	exp := &countingExporter{}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithBatcher(exp))
	defer tp.Shutdown(ctx)
	s, err := idemCommands(ctx, env, SyncFull, "distinct", 1, command.WithMeterProvider(mp), command.WithTracerProvider(tp))
	if err != nil {
		return s, err
	}
	if err := tp.ForceFlush(ctx); err != nil {
		return s, fmt.Errorf("flush spans: %w", err)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		return s, fmt.Errorf("collect metrics: %w", err)
	}
	if len(rm.ScopeMetrics) == 0 || exp.spans.Load() < int64(s.Ops) {
		return s, errors.New("the SDK providers recorded no metrics or fewer spans than commands")
	}
	return s, nil
}
