package ops

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/idemkit/idem/internal/telemetry"
	"github.com/idemkit/idem/projection"
)

// scope is the OpenTelemetry instrumentation scope of this package.
const scope = "github.com/idemkit/idem/ops"

// kindKey is the attribute of the kind of a mismatch: missing, extra, different.
const kindKey = attribute.Key("idem.kind")

// recordMismatches adds a reconciliation's mismatches, by kind, to the counter
// idem.projection.reconcile.mismatches (G12), with idem.projection and idem.kind;
// a clean reconciliation adds zeros, so the series exist.
func recordMismatches(ctx context.Context, mp metric.MeterProvider, rep projection.ReconcileReport) {
	counter := telemetry.Must(mp.Meter(scope).Int64Counter("idem.projection.reconcile.mismatches",
		metric.WithUnit("{row}"),
		metric.WithDescription("Rows of a live read model that differ from a rebuild from history, by idem.projection and idem.kind (missing, extra, different).")))
	var missing, extra, different int64
	for _, t := range rep.Tables {
		missing, extra, different = missing+int64(t.Missing), extra+int64(t.Extra), different+int64(t.Different)
	}
	for kind, n := range map[projection.DiffKind]int64{projection.Missing: missing, projection.Extra: extra, projection.Different: different} {
		counter.Add(ctx, n, metric.WithAttributes(telemetry.Projection.String(rep.Projection), kindKey.String(string(kind))))
	}
}
