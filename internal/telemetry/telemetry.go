// Package telemetry holds what idem's packages share to emit OpenTelemetry metrics
// and traces: the attribute keys, the providers' defaults (the OTel globals, no-ops
// until the application installs an SDK), and the trace context idem records in
// event metadata so that a projection's span links back to the command that caused
// the event.
package telemetry

import (
	"context"
	"encoding/json"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Attribute keys. Metrics carry only low-cardinality ones (category, outcome,
// projection, backend); spans may carry a command id or a stream.
const (
	Category   = attribute.Key("idem.category")
	Outcome    = attribute.Key("idem.outcome")
	Projection = attribute.Key("idem.projection")
	Reactor    = attribute.Key("idem.reactor")
	Backend    = attribute.Key("idem.backend")
	Result     = attribute.Key("idem.result")
	Mode       = attribute.Key("idem.mode")
	CommandID  = attribute.Key("idem.command.id")
	Stream     = attribute.Key("idem.stream")
	Revision   = attribute.Key("idem.revision")
	Attempts   = attribute.Key("idem.attempts")
	Events     = attribute.Key("idem.events")
	Cause      = attribute.Key("idem.cause")
	Generation = attribute.Key("idem.generation")
	Position   = attribute.Key("idem.position")
)

// Providers are the meter and tracer providers a component uses: the ones its
// options gave, else the OTel globals at construction.
type Providers struct {
	Meter  metric.MeterProvider
	Tracer trace.TracerProvider
}

// MeterFor returns the meter of scope (the instrumenting package's import path).
func (p Providers) MeterFor(scope string) metric.Meter {
	mp := p.Meter
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	return mp.Meter(scope)
}

// TracerFor returns the tracer of scope.
func (p Providers) TracerFor(scope string) trace.Tracer {
	tp := p.Tracer
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(scope)
}

// Must returns v, or a no-op instrument's equivalent when the SDK refused to make
// the instrument (a name it considers invalid): instrumentation never stops idem.
func Must[T any](v T, err error) T {
	_ = err // the SDK reports instrument errors through otel.Handle
	return v
}

// traceContext is the W3C trace context, the propagation idem records.
var traceContext = propagation.TraceContext{}

// Inject returns the trace context of ctx's span as W3C headers (traceparent,
// tracestate), or nil when ctx has no valid span.
func Inject(ctx context.Context) map[string]string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	carrier := propagation.MapCarrier{}
	traceContext.Inject(ctx, carrier)
	return carrier
}

// LinkFromMetadata returns a span link to the trace context recorded in an event's
// metadata ({"trace": {"traceparent": ...}}), and whether there was one.
func LinkFromMetadata(metadata []byte) (trace.Link, bool) {
	if len(metadata) == 0 {
		return trace.Link{}, false
	}
	var m struct {
		Trace map[string]string `json:"trace"`
	}
	if err := json.Unmarshal(metadata, &m); err != nil || m.Trace["traceparent"] == "" {
		return trace.Link{}, false
	}
	sc := trace.SpanContextFromContext(traceContext.Extract(context.Background(), propagation.MapCarrier(m.Trace)))
	if !sc.IsValid() {
		return trace.Link{}, false
	}
	return trace.Link{SpanContext: sc}, true
}

// BackendSet is the attribute set of a store's metrics: its idem.backend.
func BackendSet(name string) attribute.Set { return attribute.NewSet(Backend.String(name)) }
