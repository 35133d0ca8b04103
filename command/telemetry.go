package command

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/idemkit/idem"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/internal/telemetry"
	"github.com/idemkit/idem/reservation"
)

// scope is the OpenTelemetry instrumentation scope of this package.
const scope = "github.com/idemkit/idem/command"

// Outcomes of Handle, as the idem.outcome attribute of idem.command.handled and
// idem.command.duration (G12).
const (
	OutcomeApplied          = "applied"
	OutcomeDuplicate        = "duplicate"
	OutcomeDuplicateByKey   = "duplicate_key"
	OutcomeKeyReused        = "key_reused"
	OutcomeKeyClaimed       = "key_claimed"
	OutcomeRejected         = "rejected"
	OutcomeNoOp             = "noop"
	OutcomeInvalid          = "invalid"
	OutcomeRetriesExhausted = "retries_exhausted"
	OutcomePanicked         = "panicked"
	OutcomeFailed           = "failed"
)

// instruments are a handler's metrics and tracer (see docs/observability.md).
type instruments struct {
	tracer         trace.Tracer
	category       attribute.KeyValue
	handled        metric.Int64Counter
	duration       metric.Float64Histogram
	conflicts      metric.Int64Counter
	appendDuration metric.Float64Histogram
	appendEvents   metric.Int64Histogram
	loadDuration   metric.Float64Histogram
	loadEvents     metric.Int64Histogram
	cache          metric.Int64Counter
	processed      metric.Int64Histogram
	lookups        metric.Int64Counter

	// The attribute sets of the measurements, built once per handler so that a
	// command does not build (and allocate) them again: by category alone, by
	// category and outcome, by category and cache result.
	byCategory metric.MeasurementOption
	byOutcome  map[string]metric.MeasurementOption
	cacheHit   metric.MeasurementOption
	cacheMiss  metric.MeasurementOption
}

// outcomes are the values of idem.outcome.
var outcomes = []string{OutcomeApplied, OutcomeDuplicate, OutcomeDuplicateByKey, OutcomeKeyReused, OutcomeKeyClaimed, OutcomeRejected,
	OutcomeNoOp, OutcomeInvalid, OutcomeRetriesExhausted, OutcomePanicked, OutcomeFailed}

// prebuildAttributes builds the attribute sets every measurement uses.
func (in *instruments) prebuildAttributes() *instruments {
	set := func(kvs ...attribute.KeyValue) metric.MeasurementOption {
		return metric.WithAttributeSet(attribute.NewSet(kvs...))
	}
	in.byCategory = set(in.category)
	in.byOutcome = make(map[string]metric.MeasurementOption, len(outcomes))
	for _, o := range outcomes {
		in.byOutcome[o] = set(in.category, telemetry.Outcome.String(o))
	}
	in.cacheHit = set(in.category, telemetry.Result.String("hit"))
	in.cacheMiss = set(in.category, telemetry.Result.String("miss"))
	return in
}

func newInstruments(p telemetry.Providers, category string) *instruments {
	m := p.MeterFor(scope)
	secs := []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}
	in := &instruments{
		tracer:   p.TracerFor(scope),
		category: telemetry.Category.String(category),
		handled: telemetry.Must(m.Int64Counter("idem.command.handled", metric.WithUnit("{command}"),
			metric.WithDescription("Commands handled, by outcome."))),
		duration: telemetry.Must(m.Float64Histogram("idem.command.duration", metric.WithUnit("s"),
			metric.WithDescription("Time to handle a command, by outcome."), metric.WithExplicitBucketBoundaries(secs...))),
		conflicts: telemetry.Must(m.Int64Counter("idem.command.conflicts", metric.WithUnit("{append}"),
			metric.WithDescription("Appends that met a conflict (or an unknown outcome) and were retried."))),
		appendDuration: telemetry.Must(m.Float64Histogram("idem.command.append.duration", metric.WithUnit("s"),
			metric.WithDescription("Time of an append to the event store, as the handler waits for it."), metric.WithExplicitBucketBoundaries(secs...))),
		appendEvents: telemetry.Must(m.Int64Histogram("idem.command.append.events", metric.WithUnit("{event}"),
			metric.WithDescription("Events per append (a batch of queued commands writes several commands' events)."),
			metric.WithExplicitBucketBoundaries(1, 2, 4, 8, 16, 32, 64, 128))),
		loadDuration: telemetry.Must(m.Float64Histogram("idem.aggregate.load.duration", metric.WithUnit("s"),
			metric.WithDescription("Time to load an aggregate from the store (snapshot and events)."), metric.WithExplicitBucketBoundaries(secs...))),
		loadEvents: telemetry.Must(m.Int64Histogram("idem.aggregate.load.events", metric.WithUnit("{event}"),
			metric.WithDescription("Events read per load or catch-up."), metric.WithExplicitBucketBoundaries(0, 1, 10, 100, 1000, 10000))),
		cache: telemetry.Must(m.Int64Counter("idem.aggregate.cache.requests", metric.WithUnit("{request}"),
			metric.WithDescription("Aggregate cache lookups, by idem.result (hit, miss)."))),
		processed: telemetry.Must(m.Int64Histogram("idem.aggregate.processed_commands", metric.WithUnit("{command}"),
			metric.WithDescription("Processed commands an aggregate's dedupe record holds when loaded: the dedupe store's growth."),
			metric.WithExplicitBucketBoundaries(0, 10, 100, 1000, 10000, 100000))),
		lookups: telemetry.Must(m.Int64Counter("idem.command.lookups", metric.WithUnit("{lookup}"),
			metric.WithDescription("Commands looked up by id in the store instead of in memory."))),
	}
	return in.prebuildAttributes()
}

// outcomeOf names what Handle answered.
func outcomeOf(res Result, err error) string {
	switch {
	case err == nil && res.Duplicate && res.DuplicateBy == ByBusinessKey:
		return OutcomeDuplicateByKey
	case err == nil && res.Duplicate:
		return OutcomeDuplicate
	case err == nil && res.NoOp:
		return OutcomeNoOp
	case err == nil:
		return OutcomeApplied
	case errors.Is(err, ErrIdempotencyKeyReused):
		return OutcomeKeyReused
	case errors.Is(err, ErrRejected):
		return OutcomeRejected
	case errors.Is(err, reservation.ErrClaimed):
		return OutcomeKeyClaimed
	case errors.Is(err, ErrInvalidCommand):
		return OutcomeInvalid
	case errors.Is(err, ErrRetriesExhausted):
		return OutcomeRetriesExhausted
	case errors.Is(err, idem.ErrPanicked):
		return OutcomePanicked
	}
	return OutcomeFailed
}

// handleSpan starts the span of one Handle call.
func (in *instruments) handleSpan(ctx context.Context, c string, aggregateID string) (context.Context, trace.Span) {
	return in.tracer.Start(ctx, "idem.command.handle", trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(in.category, telemetry.CommandID.String(c), attribute.String("idem.aggregate.id", aggregateID)))
}

// endHandle records a Handle call's outcome on its span and in the metrics.
func (in *instruments) endHandle(ctx context.Context, span trace.Span, start time.Time, outcome string, res Result, err error, attempts int) {
	attrs, ok := in.byOutcome[outcome]
	if !ok {
		attrs = metric.WithAttributes(in.category, telemetry.Outcome.String(outcome))
	}
	in.handled.Add(ctx, 1, attrs)
	in.duration.Record(ctx, time.Since(start).Seconds(), attrs)
	if !span.IsRecording() {
		span.End()
		return
	}
	span.SetAttributes(telemetry.Outcome.String(outcome), telemetry.Attempts.Int(attempts))
	if res.Stream != "" {
		span.SetAttributes(telemetry.Stream.String(res.Stream), telemetry.Revision.Int64(int64(res.Revision)))
	}
	if err != nil && outcome != OutcomeRejected && outcome != OutcomeKeyReused && outcome != OutcomeKeyClaimed {
		span.RecordError(err)
		span.SetStatus(codes.Error, outcome)
	}
	span.End()
}

// appendEvents appends data to stream, with a span and the append metrics.
func (h *Handler[S, C, E]) appendEvents(ctx context.Context, stream string, expected eventstore.ExpectedRevision,
	data []eventstore.EventData) (eventstore.AppendResult, error) {
	ctx, span := h.tel.tracer.Start(ctx, "idem.store.append",
		trace.WithAttributes(telemetry.Stream.String(stream), telemetry.Events.Int(len(data))))
	start := time.Now()
	res, err := h.store.Append(ctx, stream, expected, data...)
	attrs := h.tel.byCategory
	h.tel.appendDuration.Record(ctx, time.Since(start).Seconds(), attrs)
	h.tel.appendEvents.Record(ctx, int64(len(data)), attrs)
	switch {
	case !span.IsRecording():
	case err != nil:
		span.RecordError(err)
		span.SetStatus(codes.Error, "append failed")
	default:
		span.SetAttributes(telemetry.Revision.Int64(int64(res.Revision)), telemetry.Result.String(res.Outcome.String()))
	}
	span.End()
	return res, err
}

// loadSpan starts the span of a load or a catch-up.
func (h *Handler[S, C, E]) loadSpan(ctx context.Context, name, stream string) (context.Context, trace.Span) {
	return h.tel.tracer.Start(ctx, name, trace.WithAttributes(telemetry.Stream.String(stream)))
}

// endLoad records a load's events, duration and processed set on its span and in
// the metrics.
func (h *Handler[S, C, E]) endLoad(ctx context.Context, span trace.Span, start time.Time, events int, processed int, err error) {
	attrs := h.tel.byCategory
	h.tel.loadDuration.Record(ctx, time.Since(start).Seconds(), attrs)
	h.tel.loadEvents.Record(ctx, int64(events), attrs)
	h.tel.processed.Record(ctx, int64(processed), attrs)
	span.SetAttributes(telemetry.Events.Int(events))
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "load failed")
	}
	span.End()
}

// cacheResult counts a cache lookup.
func (h *Handler[S, C, E]) cacheResult(ctx context.Context, hit bool) {
	attrs := h.tel.cacheMiss
	if hit {
		attrs = h.tel.cacheHit
	}
	h.tel.cache.Add(ctx, 1, attrs)
}

// decideSpan starts the span of a decision.
func (h *Handler[S, C, E]) decideSpan(ctx context.Context) (context.Context, trace.Span) {
	return h.tel.tracer.Start(ctx, "idem.command.decide")
}
