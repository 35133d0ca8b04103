package demo

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestMetricsScrapeMatchesReport runs a short demo with its metrics served,
// scrapes them over HTTP after the run and checks them against the run's own
// report: the handlers' outcomes summed over every worker process (killed ones
// included) equal their command.Stats, the projection events equal what the
// projector, the final catch-up and the rebuild applied, the lag ends at 0, and
// no series carries a high-cardinality label.
func TestMetricsScrapeMatchesReport(t *testing.T) {
	srv, err := ServeMetrics("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	cfg := shortConfig(t)
	cfg.Seed, cfg.Messages, cfg.CrashRate = 3, 400, 0.02
	cfg.Metrics = srv
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rep.Print(&out)
	if !rep.OK() {
		t.Fatalf("invariants violated: %s\n%s", rep.Summary(), out.String())
	}
	if rep.Broker.Kills == 0 || rep.Broker.Duplicates == 0 {
		t.Fatalf("the run killed %d workers and delivered %d duplicates: it must do both\n%s",
			rep.Broker.Kills, rep.Broker.Duplicates, out.String())
	}
	s := scrapeMetrics(t, srv.URL())

	s.checkHandlers(t, rep)
	s.checkProjections(t, rep)
	s.checkFamilies(t)
	s.checkLabels(t)
	if t.Failed() {
		t.Logf("report:\n%s", out.String())
	}
}

// checkHandlers checks the command metrics against the workers' command.Stats,
// summed over every worker process.
func (s scrape) checkHandlers(t *testing.T, rep *Report) {
	t.Helper()
	h := rep.Broker.Handler
	for outcome, want := range map[string]uint64{
		"applied": h.Applied, "duplicate": h.DuplicatesByID, "duplicate_key": h.DuplicatesByKey,
		"key_reused": h.KeyReused, "rejected": h.Rejected, "noop": h.NoOps,
		"invalid": h.Invalid, "retries_exhausted": h.RetriesExhausted,
	} {
		s.expect(t, fmt.Sprintf("commands handled, outcome %s", outcome), want, "idem_command_handled_total", "idem_outcome", outcome)
	}
	handled := s.sum("idem_command_handled_total") - s.sum("idem_command_handled_total", "idem_outcome", "invalid")
	if uint64(handled) != h.Handled {
		t.Errorf("commands handled (not invalid): scraped %v, report %d", handled, h.Handled)
	}
	s.expect(t, "conflicts retried", h.ConflictsRetried, "idem_command_conflicts_total")
	s.expect(t, "aggregate cache hits", h.CacheHits, "idem_aggregate_cache_requests_total", "idem_result", "hit")
	s.expect(t, "lookups by id", h.Lookups, "idem_command_lookups_total")
}

// checkProjections checks the projection metrics against what the projector
// processes, the final catch-up and the rebuild applied, and the lag at the end.
func (s scrape) checkProjections(t *testing.T, rep *Report) {
	t.Helper()
	live := s.sum("idem_projection_events_total", "idem_outcome", "applied") -
		s.sum("idem_projection_events_total", "idem_outcome", "applied", "idem_mode", "rebuild")
	if uint64(live) != rep.ProjectorApplied+rep.FinalCatchUp {
		t.Errorf("projection events applied live and caught up: scraped %v, report %d by the projector + %d by the final catch-up",
			live, rep.ProjectorApplied, rep.FinalCatchUp)
	}
	s.expect(t, "projection events applied by the rebuild", rep.RebuildApplied,
		"idem_projection_events_total", "idem_outcome", "applied", "idem_mode", "rebuild")
	for _, p := range []string{"invoices_per_customer", "revenue_totals"} {
		s.expect(t, "rebuild of "+p, uint64(rep.InvoicesIssued), "idem_projection_events_total",
			"idem_projection", p, "idem_mode", "rebuild", "idem_outcome", "applied")
	}
	lags := s.series("idem_projection_lag")
	if len(lags) < 3 {
		t.Errorf("%d lag series, want one per projection and reactor (3)", len(lags))
	}
	for _, m := range lags {
		if v := m.GetGauge().GetValue(); v != 0 {
			t.Errorf("lag at the end: %v for %s", v, labelsOf(m))
		}
	}
}

// scrape is a parsed scrape of /metrics.
type scrape map[string]*dto.MetricFamily

// scrapeMetrics gets url and parses the Prometheus text format.
func scrapeMetrics(t *testing.T, url string) scrape {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse the scrape of %s: %v", url, err)
	}
	return families
}

// series returns the series of family name whose labels include labels (name,
// value pairs).
func (s scrape) series(name string, labels ...string) []*dto.Metric {
	var out []*dto.Metric
	for _, m := range s[name].GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			match = match && have[labels[i]] == labels[i+1]
		}
		if match {
			out = append(out, m)
		}
	}
	return out
}

// sum adds up the values of the counter or gauge series that series selects.
func (s scrape) sum(name string, labels ...string) float64 {
	total := 0.0
	for _, m := range s.series(name, labels...) {
		total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return total
}

func (s scrape) expect(t *testing.T, what string, want uint64, name string, labels ...string) {
	t.Helper()
	if got := s.sum(name, labels...); got != float64(want) {
		t.Errorf("%s: scraped %v (%s%v), report %d", what, got, name, labels, want)
	}
}

// checkFamilies checks that every instrument the run exercises is scraped.
func (s scrape) checkFamilies(t *testing.T) {
	t.Helper()
	for _, name := range []string{
		"idem_command_handled_total", "idem_command_duration_seconds", "idem_command_conflicts_total",
		"idem_command_append_duration_seconds", "idem_command_append_events", "idem_aggregate_load_duration_seconds",
		"idem_aggregate_load_events", "idem_aggregate_cache_requests_total", "idem_aggregate_processed_commands",
		"idem_command_lookups_total", "idem_store_commit_duration_seconds", "idem_store_commit_appends",
		"idem_reservation_operations_total", "idem_projection_events_total", "idem_projection_batch_duration_seconds",
		"idem_projection_lag", "idem_projection_lag_age_seconds", "idem_projection_rebuild_progress_ratio",
	} {
		if len(s[name].GetMetric()) == 0 {
			t.Errorf("no %s in the scrape", name)
		}
	}
}

// lowCardinality are the labels a series may carry: idem's low-cardinality
// attributes, the exporter's scope labels and the histogram buckets'.
var lowCardinality = []string{"idem_category", "idem_outcome", "idem_projection", "idem_reactor", "idem_mode",
	"idem_result", "idem_backend", "idem_cause", "idem_operation",
	"otel_scope_name", "otel_scope_version", "otel_scope_schema_url", "le"}

// checkLabels checks that no series carries a label outside lowCardinality (a
// command id, a stream, an event id...), and that no label takes more than a
// handful of values.
func (s scrape) checkLabels(t *testing.T) {
	t.Helper()
	values := map[string]map[string]bool{}
	for name, f := range s {
		if name == "target_info" { // the resource: one series
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if !slices.Contains(lowCardinality, l.GetName()) {
					t.Errorf("%s has label %s=%q", name, l.GetName(), l.GetValue())
				}
				if values[l.GetName()] == nil {
					values[l.GetName()] = map[string]bool{}
				}
				values[l.GetName()][l.GetValue()] = true
			}
		}
	}
	for name, vs := range values {
		if name != "le" && len(vs) > 16 {
			t.Errorf("label %s takes %d values", name, len(vs))
		}
	}
}

func labelsOf(m *dto.Metric) string {
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	return strings.Join(parts, ",")
}
