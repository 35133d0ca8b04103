// Command bench measures idem against raw go-sqlite3 and against other Go
// event-sourcing libraries, in one run, and writes the results as a markdown
// table and an SVG chart.
//
// Run it from bench/:
//
//	go run .            # default suite, about ten minutes
//	go run . -quick     # quick mode, under a minute (CI runs this)
//	go run . -docs ../docs/benchmarks.md   # also rewrite the docs page
//
// Every idem figure is reported as a ratio to a raw go-sqlite3 baseline measured
// in the same run, with the same pragmas, so the ratios hold across machines even
// when the absolute figures do not.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Config is what a run measures and how long it spends on each figure.
type Config struct {
	Quick bool
	// Runs is how many rounds the run has; each round runs every workload once,
	// and the report shows the median over rounds.
	Runs int
	// Duration is how long each timed loop runs.
	Duration time.Duration
	// ScanEvents is the size of the log scanned and rebuilt (baseline and P4).
	ScanEvents int
	// StreamEvents is the length of the stream read and loaded (P5).
	StreamEvents int
	// Aggregates is the number of existing aggregates commands pick from.
	Aggregates int
	// P7Events is the size of the log the memory probe rebuilds.
	P7Events int
	// Concurrency lists the caller counts of the throughput curve.
	Concurrency []int
}

func quickConfig() Config {
	return Config{Quick: true, Runs: 1, Duration: 150 * time.Millisecond, ScanEvents: 20_000,
		StreamEvents: 1000, Aggregates: 256, P7Events: 100_000, Concurrency: []int{1, 4, 16, 64, 256}}
}

func defaultConfig() Config {
	return Config{Runs: 5, Duration: 1500 * time.Millisecond, ScanEvents: 100_000,
		StreamEvents: 1000, Aggregates: 1000, P7Events: 1_000_000, Concurrency: []int{1, 4, 16, 64, 256}}
}

// Env is what a workload runs in: the configuration and a scratch directory on
// the same file system a user's database would live on.
type Env struct {
	Config
	Dir string
	// fixtures maps a fixture's name to the database built for it (see fixture).
	fixtures map[string]string
}

// Workload is one measured figure. Run sets up what it needs (outside the timed
// part) and returns one Sample; the harness calls it once per round.
type Workload struct {
	// Key names the figure in the results: "raw/revcheck/FULL", "idem/P1/FULL".
	Key  string
	Unit string
	// Note is shown beside the figure (scale, caveats).
	Note string
	// Runs, when not 0, is how many rounds sample a workload too slow to repeat
	// in every round (at most Config.Runs).
	Runs int
	// Side lists the keys of the figures its samples carry beside their own
	// (Sample.Side).
	Side []string
	Run  func(ctx context.Context, env *Env) (Sample, error)
}

// allWorkloads lists every workload of the suite in the order a round runs them:
// each idem figure right after the baseline and peers it is compared with, so
// that the two runs of a pair see the same state of a shared machine.
func allWorkloads(cfg Config) []Workload {
	var ws []Workload
	ws = append(ws, baselineWorkloads(cfg)...)
	ws = append(ws, idemWorkloads(cfg)...)
	ws = append(ws, hallgrenWorkloads(cfg)...)
	ws = append(ws, memoryPeerWorkloads(cfg)...)
	ws = append(ws, postgresWorkloads()...)
	order := runOrder(cfg)
	rank := func(key string) int {
		for i, group := range order {
			if slices.ContainsFunc(group, func(k string) bool { return k == key || strings.HasSuffix(k, "/") && strings.HasPrefix(key, k) }) {
				return i
			}
		}
		return len(order)
	}
	slices.SortStableFunc(ws, func(a, b Workload) int { return rank(a.Key) - rank(b.Key) })
	return ws
}

// runOrder groups the keys that are compared with each other; an entry ending
// in "/" stands for every key it prefixes.
func runOrder(cfg Config) [][]string {
	groups := [][]string{
		{"raw/loadcheck/FULL"},
		{"raw/revcheck/FULL", "idem/P1/FULL", "idem/P1otel/FULL", "hallgren/P1/", "idem/P1nocache/", "idem/P3/"},
		{"raw/revcheck/NORMAL", "idem/P1/NORMAL"},
		{"raw/batch100/", "idem/P2/distinct/c64", "hallgren/P2/begin/c64", "hallgren/P2/immediate/c64",
			"hallgren/P2/singlewriter/c64", "idem/P2nocache/"},
	}
	for _, c := range cfg.Concurrency {
		suffix := fmt.Sprintf("/c%d", c)
		var g []string
		for _, s := range curveSeries {
			g = append(g, s.Prefix+suffix)
		}
		groups = append(groups, g)
	}
	return append(groups,
		[]string{"raw/scan", "idem/P4/"},
		[]string{"raw/stream1000", "idem/P5/"},
		[]string{"idem/P7/"},
		[]string{"idem/P9/warm/"},
		[]string{"idem/P9/fresh/"},
		[]string{"idem/ESBS/"},
		[]string{"mem/"},
		[]string{"raw/pg/revcheck/c1", "idem/pg/append/c1", "idem/pg/append1/c1", "idem/pg/command/c1"},
		[]string{"raw/pg/revcheck/c64", "idem/pg/append/c64", "idem/pg/append1/c64", "idem/pg/command/c64"})
}

func main() {
	quick := flag.Bool("quick", false, "quick mode: one short run of each workload, smaller data (under a minute)")
	runs := flag.Int("runs", 0, "rounds, each running every workload once (default 5, quick 1)")
	dur := flag.Duration("duration", 0, "length of each timed loop (default 1.5s, quick 150ms)")
	only := flag.String("only", "", "run only workloads whose key matches this regular expression")
	out := flag.String("out", "results", "directory for results.json, results.md and the SVG chart")
	docs := flag.String("docs", "", "also write the docs page (for example ../docs/benchmarks.md)")
	profile := flag.String("cpuprofile", "", "write CPU profiles of the timed part of workloads whose key matches this regular expression to OUT/profiles/KEY-runN.pprof")
	dir := flag.String("dir", "", "scratch directory for databases (default: a new temporary directory)")
	render := flag.String("render", "", "measure nothing: render the report (and -docs) again from this results.json")
	p7child := flag.String("p7-child", "", "internal: rebuild a projection over the database at this path and exit")
	flag.Parse()

	ctx := context.Background()
	if *p7child != "" {
		if err := runP7Child(ctx, *p7child); err != nil {
			fmt.Fprintln(os.Stderr, "p7 child:", err)
			os.Exit(1)
		}
		return
	}

	if *render != "" {
		if err := rerender(*render, *out, *docs); err != nil {
			slog.Error("render failed", "err", err)
			os.Exit(1)
		}
		return
	}

	cfg := defaultConfig()
	if *quick {
		cfg = quickConfig()
	}
	if *runs > 0 {
		cfg.Runs = *runs
	}
	if *dur > 0 {
		cfg.Duration = *dur
	}
	if err := run(ctx, cfg, *dir, *only, *out, *docs, *profile); err != nil {
		slog.Error("bench failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg Config, dir, only, out, docs, profile string) error {
	filter, err := regexp.Compile(only)
	if err != nil {
		return fmt.Errorf("parse -only: %w", err)
	}
	var profFilter *regexp.Regexp
	if profile != "" {
		if profFilter, err = regexp.Compile(profile); err != nil {
			return fmt.Errorf("parse -cpuprofile: %w", err)
		}
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "idem-bench-"); err != nil {
			return fmt.Errorf("create scratch directory: %w", err)
		}
		defer os.RemoveAll(dir)
	}
	env := &Env{Config: cfg, Dir: dir}

	var selected []*trial
	for _, w := range allWorkloads(cfg) {
		if !filter.MatchString(w.Key) {
			continue
		}
		t := &trial{Workload: w, runs: cfg.Runs}
		if w.Runs > 0 {
			t.runs = w.Runs
		}
		if profFilter != nil && profFilter.MatchString(w.Key) {
			if t.profile, err = profileStem(out, w.Key); err != nil {
				return err
			}
		}
		selected = append(selected, t)
	}

	started := time.Now()
	machine := describeMachine(ctx)
	// Rounds: every workload runs once per round, so the runs of a figure and of
	// its baseline are spread over the whole run and interleaved in time. On a
	// shared machine a busy minute then slows both, not one of them.
	side := map[string]*trial{}
	for round := range cfg.Runs {
		for _, t := range selected {
			t.runOnce(ctx, env, round, side)
		}
		slog.Info("round done", "round", round+1, "of", cfg.Runs, "elapsed", time.Since(started).Round(time.Second))
	}
	results := map[string]Result{}
	for _, t := range side {
		selected = append(selected, t)
	}
	for _, t := range selected {
		r := t.result()
		results[r.Key] = r
		logResult(r)
	}

	rep := Report{Machine: machine, Config: cfg, Results: results,
		Started: started, Took: time.Since(started), Command: commandLine(), LoadAverageEnd: loadAverage()}
	return rep.WriteAll(out, docs)
}

// rerender writes the report of a saved results.json again, for example after
// bench/NOTES.md changed.
func rerender(path, out, docs string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read results: %w", err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	return rep.WriteAll(out, docs)
}

// trial is a workload being measured: its samples so far, or why it stopped.
type trial struct {
	Workload
	runs    int    // how many samples to take
	profile string // profile path stem, "" for none
	samples []Sample
	skipped string
}

// runOnce takes the round-th sample of t, unless t has all its samples or was
// skipped. An error that is a skip, or any failure, makes t "not measured" with
// the reason. The sample's side figures go to trials of their own in side.
func (t *trial) runOnce(ctx context.Context, env *Env, round int, side map[string]*trial) {
	if t.skipped != "" || round >= t.runs {
		return
	}
	if t.profile != "" {
		profilePath = fmt.Sprintf("%s-run%d.pprof", t.profile, round+1)
	}
	s, err := t.Run(ctx, env)
	profilePath = ""
	var sk errSkip
	switch {
	case errors.As(err, &sk):
		t.skipped = sk.reason
	case err != nil:
		t.skipped = "failed: " + err.Error()
	default:
		t.samples = append(t.samples, s)
	}
	for key, f := range s.Side {
		st := side[key]
		if st == nil {
			st = &trial{Workload: Workload{Key: key, Unit: f.Unit, Note: f.Note}, runs: t.runs}
			side[key] = st
		}
		st.samples = append(st.samples, f.Sample)
	}
}

// result summarizes t's samples.
func (t *trial) result() Result {
	r := summarize(t.Key, t.Unit, t.samples)
	if t.skipped != "" {
		r = Result{Key: t.Key, Unit: t.Unit, Skipped: t.skipped}
	}
	r.Note = t.Note
	return r
}

// profileStem returns the path, without its run suffix, of the CPU profiles of
// the workload key: OUT/profiles/<key>.
func profileStem(out, key string) (string, error) {
	dir := filepath.Join(out, "profiles")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	return filepath.Join(dir, regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(key, "_")), nil
}

func logResult(r Result) {
	if !r.Measured() {
		slog.Warn("not measured", "workload", r.Key, "why", r.Skipped)
		return
	}
	slog.Info("measured", "workload", r.Key, "median", fmt.Sprintf("%.0f %s", r.Median, r.Unit),
		"spread", fmt.Sprintf("%.0f%%", 100*r.Spread()), "p99", r.P99, "retries/op", r.RetriesPerOp)
}

func commandLine() string {
	s := "cd bench && go run ."
	for _, a := range os.Args[1:] {
		s += " " + a
	}
	return s
}

// writeJSON writes v as indented JSON to path.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return os.WriteFile(path, b, 0o644)
}
