package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
)

// MetricsServer serves a run's metrics over HTTP at /metrics, in the Prometheus
// text format, through OpenTelemetry's Prometheus exporter: idem's own
// instruments (command handling, the store's commits, reservations,
// projections), as the worker processes, the projector and the run itself
// recorded them. Each process instance counts what it did; a killed one counts
// for its last report. Give it to a run as Config.Metrics. It serves the last
// run's figures until Close, so a finished run can still be scraped.
type MetricsServer struct {
	hub      *metricsHub
	exporter *sdkmetric.MeterProvider
	ln       net.Listener
	srv      *http.Server
	served   chan error
	close    sync.Once
	closeErr error
}

// ServeMetrics listens on addr (host:port; port 0 picks a free one, see Addr) and
// serves /metrics until Close.
func ServeMetrics(addr string) (*MetricsServer, error) {
	hub := newMetricsHub()
	reg := promclient.NewRegistry()
	// The exporter's own provider has no instruments: everything comes from the
	// hub, which merges the parent's figures with the children's. (Had the
	// parent's components recorded to this provider, the scopes they share with
	// the children would be exported twice, and the scrape would fail.)
	exp, err := prometheus.New(prometheus.WithRegisterer(reg), prometheus.WithProducer(hub))
	if err != nil {
		return nil, fmt.Errorf("demo: metrics exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attribute.String("service.name", "idem-demo")))
	if err != nil {
		return nil, fmt.Errorf("demo: metrics resource: %w", err)
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp), sdkmetric.WithResource(res))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		_ = provider.Shutdown(context.Background())
		return nil, fmt.Errorf("demo: serve metrics: %w", err)
	}
	log := slog.Default().With("component", "demo metrics")
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slogPrintln{log}}))
	s := &MetricsServer{hub: hub, exporter: provider, ln: ln, served: make(chan error, 1),
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	go func() { s.served <- s.srv.Serve(ln) }()
	return s, nil
}

// Addr returns the address the server listens on, with the port it picked.
func (s *MetricsServer) Addr() string { return s.ln.Addr().String() }

// URL returns the address of the metrics: http://Addr()/metrics.
func (s *MetricsServer) URL() string { return "http://" + s.Addr() + "/metrics" }

// Close stops serving, letting scrapes under way finish for up to five seconds.
// Later calls return what the first returned.
func (s *MetricsServer) Close() error {
	s.close.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := s.srv.Shutdown(ctx)
		if serr := <-s.served; !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
		if err = errors.Join(err, s.exporter.Shutdown(ctx)); err != nil {
			s.closeErr = fmt.Errorf("demo: close metrics server: %w", err)
		}
	})
	return s.closeErr
}

// collector returns where a run's metrics go; nil when s is nil (metrics off).
func (s *MetricsServer) collector() *metricsHub {
	if s == nil {
		return nil
	}
	return s.hub
}

// slogPrintln lets promhttp report scrape errors through slog.
type slogPrintln struct{ log *slog.Logger }

func (l slogPrintln) Println(v ...any) { l.log.Error(fmt.Sprint(v...)) }
