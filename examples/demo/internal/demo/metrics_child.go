package demo

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/idemkit/idem/projection"
)

// childMetrics is what a worker or the projector records idem's metrics to when
// the run serves them (role.Metrics): a MeterProvider given to every idem
// component the process builds, read by a ManualReader whenever the process
// reports its counters. The parent keeps each process instance's last snapshot
// (metrics_hub.go), so a process killed with SIGKILL still counts for what it
// reported.
type childMetrics struct {
	reader   *sdkmetric.ManualReader
	provider *sdkmetric.MeterProvider
	// quiet is held for reading around each delivery a worker handles, and for
	// writing while the worker takes a snapshot, so that the snapshot of the
	// handlers' Stats and of the metrics cover the same Handle calls: Handle counts
	// Stats as it goes and records the metrics as it returns.
	quiet sync.RWMutex
}

func newChildMetrics() *childMetrics {
	reader := sdkmetric.NewManualReader()
	return &childMetrics{reader: reader, provider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))}
}

// meterProvider returns the provider idem's components record to; nil when m is
// nil (metrics off: they then use the OTel global, a no-op).
func (m *childMetrics) meterProvider() metric.MeterProvider {
	if m == nil {
		return nil
	}
	return m.provider
}

// collect reads what the process's components recorded so far; a process that
// is stopping (ctx done) still reports its last figures.
func (m *childMetrics) collect(ctx context.Context) ([]metricdata.ScopeMetrics, error) {
	var rm metricdata.ResourceMetrics
	if err := m.reader.Collect(context.WithoutCancel(ctx), &rm); err != nil {
		return nil, fmt.Errorf("collect metrics: %w", err)
	}
	return rm.ScopeMetrics, nil
}

// encodeForParent puts collected scopes in their wire form, saying on standard error
// which metrics it could not carry.
func encodeForParent(scopes []metricdata.ScopeMetrics) *metricsSnapshot {
	snap, skipped := encodeMetrics(scopes)
	if len(skipped) > 0 {
		stderrLogger().Warn("demo: metrics of an unsupported kind left out", "metrics", skipped)
	}
	return snap
}

// begin marks the start of a delivery's handling; the returned function its end.
func (m *childMetrics) begin() func() {
	if m == nil {
		return func() {}
	}
	m.quiet.RLock()
	return m.quiet.RUnlock
}

// workerCounters is a worker's counter report: its handlers' Stats and, when
// metrics are on, its metrics, taken while no delivery is being handled.
func workerCounters(ctx context.Context, h *handlers) report {
	m := h.metrics
	if m == nil {
		s := h.stats()
		return report{Stats: &s}
	}
	m.quiet.Lock()
	s := h.stats()
	scopes, err := m.collect(ctx)
	m.quiet.Unlock()
	if err != nil {
		stderrLogger().Warn("demo worker: metrics not reported", "err", err)
		return report{Stats: &s}
	}
	return report{Stats: &s, Metrics: encodeForParent(scopes)}
}

// projectorReport is the projector's progress report and, when metrics are on,
// its metrics. A runner counts an event in its Stats just before it counts it in
// idem.projection.events, so the two are taken again until they agree for every
// projection and reactor (each applies its events one batch at a time, so they
// agree once no count is half done): a killed projector's last report must be
// consistent, it is the one that stays.
func projectorReport(ctx context.Context, runner runner, m *childMetrics) report {
	if m == nil {
		return report{Proj: projectorStateOf(runner.Stats())}
	}
	deadline := time.Now().Add(250 * time.Millisecond)
	for {
		stats := runner.Stats()
		scopes, err := m.collect(ctx)
		if err != nil {
			stderrLogger().Warn("demo projector: metrics not reported", "err", err)
			return report{Proj: projectorStateOf(stats)}
		}
		agree := appliedAgree(stats, scopes)
		if agree || time.Now().After(deadline) {
			if !agree {
				stderrLogger().Warn("demo projector: projection stats and metrics disagree; reported as they are")
			}
			return report{Proj: projectorStateOf(stats), Metrics: encodeForParent(scopes)}
		}
		time.Sleep(time.Millisecond)
	}
}

// appliedAgree reports whether each projection's and reactor's Stats.Applied
// equals the events idem.projection.events counts as applied to it.
func appliedAgree(stats []projection.Stats, scopes []metricdata.ScopeMetrics) bool {
	type worker struct {
		name    string
		reactor bool
	}
	counted := map[worker]uint64{}
	for _, sm := range scopes {
		for _, mt := range sm.Metrics {
			sum, ok := mt.Data.(metricdata.Sum[int64])
			if mt.Name != "idem.projection.events" || !ok {
				continue
			}
			for _, dp := range sum.DataPoints {
				if v, _ := dp.Attributes.Value("idem.outcome"); v.AsString() != projection.OutcomeApplied {
					continue
				}
				p, _ := dp.Attributes.Value("idem.projection")
				r, reactor := dp.Attributes.Value("idem.reactor")
				counted[worker{p.AsString() + r.AsString(), reactor}] += uint64(dp.Value)
			}
		}
	}
	for _, s := range stats {
		if counted[worker{s.Name, s.Reactor}] != s.Applied {
			return false
		}
	}
	return true
}
