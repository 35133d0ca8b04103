package projection

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/internal/telemetry"
)

// scope is the OpenTelemetry instrumentation scope of this package.
const scope = "github.com/idemkit/idem/projection"

// Values of the idem.outcome attribute of idem.projection.events (G12).
const (
	OutcomeApplied = "applied" // handled (a projection's or a reactor's Handle succeeded)
	OutcomeSkipped = "skipped" // skipped by the per-stream guard: applied before
	OutcomeParked  = "parked"  // recorded as parked after its retries
)

// Values of the idem.mode attribute: the Mode an event was applied in, plus the
// two ways an operator re-runs events.
const (
	ModeCatchUp = "catch_up"
	ModeLive    = "live"
	ModeRebuild = "rebuild"
	ModeReplay  = "replay"  // ReplayStream, ReplayRange
	ModeRedrive = "redrive" // RetryParked
)

// Values of the idem.cause attribute of idem.projection.retries.
const (
	CauseHandler = "handler" // Handle failed (for a reactor: the downstream system)
	CauseTarget  = "target"  // the target's write failed
)

// outcomes and modes index the bound attribute sets of a worker's meters.
var (
	outcomes = [...]string{OutcomeApplied, OutcomeSkipped, OutcomeParked}
	modes    = [...]string{ModeCatchUp, ModeLive, ModeRebuild, ModeReplay, ModeRedrive}
	causes   = [...]string{CauseHandler, CauseTarget}
)

// instruments are a runner's metrics and tracer (see docs/observability.md).
type instruments struct {
	tracer   trace.Tracer
	events   metric.Int64Counter
	retries  metric.Int64Counter
	batch    metric.Float64Histogram
	lag      metric.Int64Gauge
	lagAge   metric.Float64Gauge
	progress metric.Float64Gauge
}

func newInstruments(p telemetry.Providers) *instruments {
	m := p.MeterFor(scope)
	return &instruments{
		tracer: p.TracerFor(scope),
		events: telemetry.Must(m.Int64Counter("idem.projection.events", metric.WithUnit("{event}"),
			metric.WithDescription("Events a projection or reactor applied, skipped by its per-stream guard, or parked, by mode."))),
		retries: telemetry.Must(m.Int64Counter("idem.projection.retries", metric.WithUnit("{retry}"),
			metric.WithDescription("Retries of a failed handler (for a reactor: its downstream system) or of a failed target write."))),
		batch: telemetry.Must(m.Float64Histogram("idem.projection.batch.duration", metric.WithUnit("s"),
			metric.WithDescription("Time to apply and commit one batch of events with its checkpoint."),
			metric.WithExplicitBucketBoundaries(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))),
		lag: telemetry.Must(m.Int64Gauge("idem.projection.lag", metric.WithUnit("{event}"),
			metric.WithDescription("Events of interest after the checkpoint, counted up to the lag limit."))),
		lagAge: telemetry.Must(m.Float64Gauge("idem.projection.lag.age", metric.WithUnit("s"),
			metric.WithDescription("Age of the oldest event not yet applied; 0 when caught up."))),
		progress: telemetry.Must(m.Float64Gauge("idem.projection.rebuild.progress", metric.WithUnit("1"),
			metric.WithDescription("Fraction of the log a catch-up or rebuild has read (1 once caught up)."))),
	}
}

// meters are one projection's or reactor's instruments with its attributes bound
// once, so that counting an event allocates nothing.
type meters struct {
	inst    *instruments
	name    attribute.KeyValue // idem.projection or idem.reactor
	events  [len(outcomes)][len(modes)]metric.AddOption
	retries [len(causes)]metric.AddOption
	only    metric.MeasurementOption
}

func newMeters(inst *instruments, name string, reactor bool) *meters {
	kv := telemetry.Projection.String(name)
	if reactor {
		kv = telemetry.Reactor.String(name)
	}
	m := &meters{inst: inst, name: kv, only: metric.WithAttributeSet(attribute.NewSet(kv))}
	for i, o := range outcomes {
		for j, md := range modes {
			m.events[i][j] = metric.WithAttributeSet(attribute.NewSet(kv, telemetry.Outcome.String(o), telemetry.Mode.String(md)))
		}
	}
	for i, c := range causes {
		m.retries[i] = metric.WithAttributeSet(attribute.NewSet(kv, telemetry.Cause.String(c)))
	}
	return m
}

// index returns the position of v in list (list holds it).
func index[T comparable](list []T, v T) int {
	for i, x := range list {
		if x == v {
			return i
		}
	}
	return 0
}

// modeName is the idem.mode value of events applied in m; replay says they are
// re-applied by ReplayStream or ReplayRange.
func modeName(m Mode, replay bool) string {
	switch {
	case replay:
		return ModeReplay
	case m == Live:
		return ModeLive
	case m == Rebuild:
		return ModeRebuild
	default:
		return ModeCatchUp
	}
}

func (m *meters) countEvents(ctx context.Context, outcome, mode string, n uint64) {
	if n > 0 {
		m.inst.events.Add(ctx, int64(n), m.events[index(outcomes[:], outcome)][index(modes[:], mode)])
	}
}

func (m *meters) countRetry(ctx context.Context, cause string) {
	m.inst.retries.Add(ctx, 1, m.retries[index(causes[:], cause)])
}

func (m *meters) recordBatch(ctx context.Context, mode string, d time.Duration) {
	m.inst.batch.Record(ctx, d.Seconds(), metric.WithAttributes(m.name, telemetry.Mode.String(mode)))
}

func (m *meters) recordLag(ctx context.Context, l lag) {
	m.inst.lag.Record(ctx, int64(l.events), m.only)
	m.inst.lagAge.Record(ctx, l.age.Seconds(), m.only)
}

func (m *meters) recordProgress(ctx context.Context, p Progress) {
	frac := 1.0
	if !p.CaughtUp {
		if p.Total == 0 {
			return // unknown: the store cannot tell its head
		}
		frac = min(float64(p.Done)/float64(p.Total), 1)
	}
	m.inst.progress.Record(ctx, frac, metric.WithAttributes(m.name, telemetry.Mode.String(modeName(p.Mode, false))))
}

// maxLinks bounds the links of one span to the commands that caused its events;
// the OpenTelemetry SDK keeps 128 by default.
const maxLinks = 128

// startSpan starts span name with attrs and, when it records, links it to the
// trace context recorded in events' metadata (the commands that wrote them).
func (m *meters) startSpan(ctx context.Context, name string, events []eventstore.RecordedEvent, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	ctx, span := m.inst.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(append(attrs, m.name)...))
	if !span.IsRecording() {
		return ctx, span
	}
	seen := make(map[trace.SpanID]bool)
	for _, e := range events {
		if len(seen) == maxLinks {
			break
		}
		if l, ok := telemetry.LinkFromMetadata(e.Metadata); ok && !seen[l.SpanContext.SpanID()] {
			seen[l.SpanContext.SpanID()] = true
			span.AddLink(l)
		}
	}
	return ctx, span
}

// endSpan ends span, recording err.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
