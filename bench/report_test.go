package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func comparisonNamed(t *testing.T, prefix string) comparison {
	t.Helper()
	for _, c := range comparisons() {
		if strings.HasPrefix(c.Workload, prefix) {
			return c
		}
	}
	t.Fatalf("no comparison %q", prefix)
	return comparison{}
}

func TestComparisonRowShowsRatioAndVerdict(t *testing.T) {
	r := Report{Results: map[string]Result{
		"idem/P1/FULL":      {Unit: "cmd/s", Median: 950, Min: 900, Max: 1000, Runs: 3},
		"raw/revcheck/FULL": {Unit: "tx/s", Median: 1000, Min: 1000, Max: 1000, Runs: 3},
	}}
	row := r.comparisonRow(comparisonNamed(t, "P1 one command"))
	if !strings.Contains(row, "0.95x") || !strings.Contains(row, "| yes |") {
		t.Fatalf("row %q: want ratio 0.95x and target met", row)
	}
	r.Results["idem/P1/FULL"] = Result{Unit: "cmd/s", Median: 500, Runs: 3}
	if row := r.comparisonRow(comparisonNamed(t, "P1 one command")); !strings.Contains(row, "**no**") {
		t.Fatalf("row %q: want target missed", row)
	}
}

func TestDuplicateCostIsTheInverseRatio(t *testing.T) {
	r := Report{Results: map[string]Result{
		"idem/P3/duplicate": {Unit: "cmd/s", Median: 20000, Runs: 1},
		"idem/P1/FULL":      {Unit: "cmd/s", Median: 1000, Runs: 1},
	}}
	row := r.comparisonRow(comparisonNamed(t, "P3 duplicate command,"))
	if !strings.Contains(row, "0.05x") || !strings.Contains(row, "| yes |") {
		t.Fatalf("row %q: a duplicate 20x faster costs 0.05x, which meets <= 0.1x", row)
	}
}

func TestPeerTargetNeedsLowerP99(t *testing.T) {
	c := comparisonNamed(t, "P2 vs hallgren at 64 callers, _txlock")
	r := Report{Results: map[string]Result{
		"idem/P2/distinct/c64":      {Unit: "cmd/s", Median: 3000, Runs: 1, P99: 50 * time.Millisecond},
		"hallgren/P2/immediate/c64": {Unit: "cmd/s", Median: 1000, Runs: 1, P99: 10 * time.Millisecond},
	}}
	if row := r.comparisonRow(c); !strings.Contains(row, "**no**") {
		t.Fatalf("row %q: 3x the throughput with a higher p99 must miss the target", row)
	}
}

func TestMissingFigureIsNotMeasuredNeverMadeUp(t *testing.T) {
	r := Report{Results: map[string]Result{
		"idem/P4/count": {Key: "idem/P4/count", Skipped: "projection package does not build"},
		"raw/scan":      {Unit: "rows/s", Median: 1000, Runs: 1},
	}}
	row := r.comparisonRow(comparisonNamed(t, "P4 projection rebuild, counting"))
	if !strings.Contains(row, "not measured: projection package does not build") || !strings.Contains(row, "| — |") {
		t.Fatalf("row %q: want the reason and no ratio", row)
	}
}

func TestChartDrawsEveryMeasuredSeries(t *testing.T) {
	r := Report{Config: Config{Concurrency: []int{1, 4}}, Results: map[string]Result{
		"raw/grouped/c1":      {Unit: "tx/s", Median: 1000, Runs: 1},
		"raw/grouped/c4":      {Unit: "tx/s", Median: 3000, Runs: 1},
		"idem/P2/distinct/c1": {Unit: "cmd/s", Median: 900, Runs: 1},
		"idem/P2/distinct/c4": {Key: "idem/P2/distinct/c4", Skipped: "not ready"},
	}}
	path := filepath.Join(t.TempDir(), "chart.svg")
	if err := writeChart(path, r); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	svg := string(b)
	for _, want := range []string{"<svg", "raw go-sqlite3, grouped commits", "idem, distinct aggregates"} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %q", want)
		}
	}
	if strings.Contains(svg, "hallgren") {
		t.Error("chart has a legend entry for a series with no figure")
	}
}

// A round that slowed both figures must not move the ratio.
func TestRatioIsPairedByRound(t *testing.T) {
	idem := Result{Median: 500, Rates: []float64{100, 500, 900}, Runs: 3}
	base := Result{Median: 1000, Rates: []float64{200, 1000, 1800}, Runs: 3}
	if got := pairedRatio(idem, base, nil); got != 0.5 {
		t.Fatalf("paired ratio = %v, want 0.5", got)
	}
	base.Rates = []float64{1800, 1000, 200} // unpaired, the rounds disagree
	if got := pairedRatio(idem, base, nil); got != 0.5 {
		t.Fatalf("paired ratio = %v, want the median of 1/18, 1/2, 9/2 = 0.5", got)
	}
	if got := pairedRatio(Result{Median: 3}, Result{Median: 4, Rates: []float64{4}}, costRatio); got != 4.0/3 {
		t.Fatalf("unequal runs: ratio = %v, want the ratio of medians", got)
	}
}

// The docs page links the chart from docs/, one level up from bench/.
func TestChartLinkFromDocsPage(t *testing.T) {
	got, err := relativePath("../docs", "results/throughput.svg")
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if want := "../" + filepath.Base(wd) + "/results/throughput.svg"; got != want {
		t.Fatalf("link = %q, want %q", got, want)
	}
}
