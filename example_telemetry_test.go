package idem_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore/sqlite"
	"github.com/idemkit/idem/examples/invoicing"
	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/sqlitetarget"
)

// Wiring OpenTelemetry: give each component the application's providers (or
// install them as the OTel globals, which idem uses by default). Here a manual
// reader stands in for an exporter, and the metric names are printed.
func Example_telemetry() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "idem-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	reader := sdkmetric.NewManualReader() // in production: a Prometheus or OTLP exporter
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	tp := sdktrace.NewTracerProvider() // in production: with a batch span processor and exporter
	defer mp.Shutdown(ctx)
	defer tp.Shutdown(ctx)

	store, err := sqlite.Open(ctx, filepath.Join(dir, "events.db"), sqlite.WithMeterProvider(mp))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	codec, err := invoicing.NewCodec()
	if err != nil {
		fmt.Println(err)
		return
	}
	h, err := command.NewHandler(store, invoicing.Decider, codec,
		command.WithMeterProvider(mp), command.WithTracerProvider(tp))
	if err != nil {
		fmt.Println(err)
		return
	}
	target, err := sqlitetarget.Open(ctx, filepath.Join(dir, "read.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer target.Close()
	runner, err := projection.NewRunner(store, target,
		projection.WithMeterProvider(mp), projection.WithTracerProvider(tp))
	if err != nil {
		fmt.Println(err)
		return
	}

	m := invoicing.ShipmentCompleted{MessageID: "m-1", ShipmentRef: "FSR-1", Customer: "acme", Amount: 500, Currency: "EUR"}
	cmd := command.Command[invoicing.IssueInvoice]{ID: m.CommandID(0), AggregateID: invoicing.InvoiceID(m.ShipmentRef), Payload: m.Command(0)}
	for range 2 { // applied, then a duplicate
		if _, err := h.Handle(ctx, cmd); err != nil {
			fmt.Println(err)
			return
		}
	}
	if err := runner.Add(invoicing.RevenueTotals()); err != nil {
		fmt.Println(err)
		return
	}
	if err := runner.CatchUp(ctx); err != nil {
		fmt.Println(err)
		return
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		fmt.Println(err)
		return
	}
	var names []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			names = append(names, m.Name)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Println(n)
	}
	// Output:
	// idem.aggregate.cache.requests
	// idem.aggregate.load.duration
	// idem.aggregate.load.events
	// idem.aggregate.processed_commands
	// idem.command.append.duration
	// idem.command.append.events
	// idem.command.duration
	// idem.command.handled
	// idem.command.lookups
	// idem.projection.batch.duration
	// idem.projection.events
	// idem.projection.lag
	// idem.projection.lag.age
	// idem.projection.rebuild.progress
	// idem.reservation.operations
	// idem.store.commit.appends
	// idem.store.commit.duration
}
