package demo

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// metricsHub is the parent's side of a run's metrics: the last snapshot each
// child process instance sent (kept after the instance dies, as its last
// command.Stats are for the report), and the MeterProvider of the parent's own
// idem components (the final catch-up and the rebuild). Its Produce merges them
// (mergeMetrics) for the Prometheus exporter (metrics_serve.go).
type metricsHub struct {
	mu        sync.Mutex
	reader    *sdkmetric.ManualReader
	provider  *sdkmetric.MeterProvider
	instances []*hubInstance
}

// hubInstance is one child process instance: a worker or the projector, from its
// start to its exit or kill.
type hubInstance struct {
	hub  *metricsHub
	name string
	last instanceMetrics // guarded by hub.mu
}

func newMetricsHub() *metricsHub {
	h := &metricsHub{}
	h.startRun()
	return h
}

// startRun forgets an earlier run's figures and returns the MeterProvider of the
// parent's own components for this run; nil when h is nil (metrics off).
func (h *metricsHub) startRun() metric.MeterProvider {
	if h == nil {
		return nil
	}
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reader, h.provider, h.instances = reader, provider, nil
	return provider
}

// instance registers a child process instance that was just started; nil when h
// is nil.
func (h *metricsHub) instance(name string) *hubInstance {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	i := &hubInstance{hub: h, name: name}
	h.instances = append(h.instances, i)
	return i
}

// record keeps s as the instance's last snapshot. A snapshot that does not
// decode is reported and the previous one kept.
func (i *hubInstance) record(s *metricsSnapshot) {
	if i == nil || s == nil {
		return
	}
	scopes, err := s.decode()
	if err != nil {
		stderrLogger().Warn("demo: metrics snapshot ignored", "process", i.name, "err", err)
		return
	}
	i.hub.mu.Lock()
	defer i.hub.mu.Unlock()
	i.last = instanceMetrics{at: time.Now(), scopes: scopes}
}

// Produce returns the run's metrics: every child instance's last snapshot and
// the parent's own figures, merged. It implements sdkmetric.Producer.
func (h *metricsHub) Produce(ctx context.Context) ([]metricdata.ScopeMetrics, error) {
	h.mu.Lock()
	reader := h.reader
	all := make([]instanceMetrics, 0, len(h.instances)+1)
	for _, i := range h.instances {
		if i.last.scopes != nil {
			all = append(all, i.last)
		}
	}
	h.mu.Unlock()
	var own metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &own); err != nil {
		return nil, fmt.Errorf("demo: collect the run's own metrics: %w", err)
	}
	// The parent's components run last (after the children stopped): their gauges
	// are the newest.
	all = append(all, instanceMetrics{at: time.Now(), scopes: own.ScopeMetrics})
	return mergeMetrics(all)
}
