package main

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"slices"
	"sync"
	"time"
)

// Sample is one timed run of a workload: how many operations completed in how
// long, with the duration of each operation when the workload records them.
type Sample struct {
	// Ops counts what the workload's unit counts: commands, transactions, rows.
	Ops int
	// Elapsed is the wall-clock time of the timed part only (setup excluded).
	Elapsed time.Duration
	// Latencies holds one duration per operation (nil for bulk workloads).
	Latencies []time.Duration
	// Retries counts failed attempts that the caller had to retry (for example
	// "database is locked" from a peer's store); they are not in Ops.
	Retries int
	// Conflicts counts wrong-expected-revision conflicts that idem's handler met
	// and retried internally (command.Stats.ConflictsRetried), for contended loads.
	Conflicts int
	// PeakRSS is the peak resident set size in bytes, for memory workloads.
	PeakRSS int64
	// Side holds figures measured in the same timed part under keys of their own
	// (for example the subscribers' lag beside the writers' latencies).
	Side map[string]SideFigure
}

// SideFigure is a figure a workload measured beside its own.
type SideFigure struct {
	Unit, Note string
	Sample     Sample
}

// Rate is the sample's throughput in operations per second.
func (s Sample) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Ops) / s.Elapsed.Seconds()
}

// Result is the summary of a workload over repeated runs.
type Result struct {
	Key  string
	Unit string
	// Median, Min and Max are the throughput over the runs (or bytes for memory
	// workloads, where PeakRSS is the measure).
	Median, Min, Max float64
	// Rates are the runs' figures in round order, for ratios paired by round.
	Rates []float64
	Runs  int
	// P50, P95, P99 and P999 are latency percentiles over every operation of
	// every run.
	P50, P95, P99, P999 time.Duration
	// RetriesPerOp is the median number of retried failures per completed op.
	RetriesPerOp float64
	// ConflictsPerOp is the median number of conflicts idem retried per op.
	ConflictsPerOp float64
	// Note says anything a reader must know to read the figure (scale, caveats).
	Note string
	// Skipped is set, with the reason, when the workload could not be measured.
	Skipped string
}

// Spread is the relative spread of the runs, (max-min)/median.
func (r Result) Spread() float64 {
	if r.Median == 0 {
		return 0
	}
	return (r.Max - r.Min) / r.Median
}

// Measured reports whether r holds a figure.
func (r Result) Measured() bool { return r.Skipped == "" && r.Runs > 0 }

// errSkip marks an error that means "not measured" rather than a harness failure.
type errSkip struct{ reason string }

func (e errSkip) Error() string { return e.reason }

// skip returns an error that makes the workload reported as "not measured: why".
func skip(format string, args ...any) error { return errSkip{fmt.Sprintf(format, args...)} }

// summarize folds the samples of repeated runs into a Result.
func summarize(key, unit string, samples []Sample) Result {
	r := Result{Key: key, Unit: unit, Runs: len(samples)}
	if len(samples) == 0 {
		return r
	}
	rates := make([]float64, 0, len(samples))
	retries := make([]float64, 0, len(samples))
	conflicts := make([]float64, 0, len(samples))
	var lat []time.Duration
	for _, s := range samples {
		v := s.Rate()
		if s.PeakRSS > 0 {
			v = float64(s.PeakRSS)
		}
		rates = append(rates, v)
		if s.Ops > 0 {
			retries = append(retries, float64(s.Retries)/float64(s.Ops))
			conflicts = append(conflicts, float64(s.Conflicts)/float64(s.Ops))
		} else if s.Retries > 0 {
			retries = append(retries, math.Inf(1))
		}
		lat = append(lat, s.Latencies...)
	}
	r.Rates = rates
	r.Median, r.Min, r.Max = median(rates), slices.Min(rates), slices.Max(rates)
	if len(retries) > 0 {
		r.RetriesPerOp = median(retries)
	}
	if len(conflicts) > 0 {
		r.ConflictsPerOp = median(conflicts)
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		r.P50, r.P95, r.P99 = percentile(lat, 0.50), percentile(lat, 0.95), percentile(lat, 0.99)
		r.P999 = percentile(lat, 0.999)
	}
	return r
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// percentile reads the q-quantile of an ascending sample (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// Op is one operation of a timed loop. It returns how many units it completed
// (1 for a command, 100 for a 100-row batch) and how many failed attempts it
// had to retry on the way.
type Op func(worker, i int) (units, retries int, err error)

// runFor calls op from workers goroutines until d has elapsed, each worker
// calling it sequentially, and records the latency of every call. It stops at the
// first error.
func runFor(workers int, d time.Duration, op Op) (Sample, error) {
	return profiled(func() (Sample, error) { return runLoop(workers, d, op) })
}

func runLoop(workers int, d time.Duration, op Op) (Sample, error) {
	type part struct {
		units, retries int
		lat            []time.Duration
		err            error
	}
	parts := make([]part, workers)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	var stop sync.Once
	stopped := make(chan struct{})
	for w := range workers {
		wg.Go(func() {
			p := &parts[w]
			for i := 0; ; i++ {
				select {
				case <-stopped:
					return
				default:
				}
				t0 := time.Now()
				if t0.After(deadline) {
					return
				}
				u, r, err := op(w, i)
				p.lat = append(p.lat, time.Since(t0))
				p.units += u
				p.retries += r
				if err != nil {
					p.err = err
					stop.Do(func() { close(stopped) })
					return
				}
			}
		})
	}
	wg.Wait()
	s := Sample{Elapsed: time.Since(start)}
	var errs []error
	for _, p := range parts {
		s.Ops += p.units
		s.Retries += p.retries
		s.Latencies = append(s.Latencies, p.lat...)
		errs = append(errs, p.err)
	}
	return s, errors.Join(errs...)
}

// timeOnce times a single bulk operation (a scan, a rebuild) that reports how
// many units it processed.
func timeOnce(fn func() (int, error)) (Sample, error) {
	return profiled(func() (Sample, error) {
		start := time.Now()
		n, err := fn()
		return Sample{Ops: n, Elapsed: time.Since(start)}, err
	})
}

// profilePath, when not empty, is where the next timed part writes its CPU
// profile (set by the harness for workloads named by -cpuprofile), so that a
// profile holds the timed operations and not the setup.
var profilePath string

func profiled(timed func() (Sample, error)) (Sample, error) {
	if profilePath == "" {
		return timed()
	}
	f, err := os.Create(profilePath)
	if err != nil {
		return Sample{}, fmt.Errorf("create profile: %w", err)
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return Sample{}, fmt.Errorf("start profile: %w", err)
	}
	defer pprof.StopCPUProfile()
	return timed()
}

// Picker chooses the aggregate (an index below Config.Aggregates) that a caller's
// next command goes to.
type Picker func(worker, i int) int

// newPicker returns a Picker by name: "distinct" (each caller cycles through
// aggregates of its own, so no two callers ever touch the same one; with one
// caller, round robin over all), "uniform" (every aggregate equally likely) or
// "zipf" (s=1.1: the 10 hottest of 1000 take about half the commands). Each caller has its
// own generator, seeded by its index, so runs repeat.
func newPicker(kind string, callers, aggregates int) Picker {
	if kind == "distinct" {
		own := max(1, aggregates/callers)
		return func(worker, i int) int { return worker + callers*(i%own) }
	}
	next := make([]func() int, callers)
	for w := range next {
		r := rand.New(rand.NewPCG(uint64(w)+1, 42))
		if kind == "uniform" {
			next[w] = func() int { return r.IntN(aggregates) }
		} else {
			z := rand.NewZipf(r, 1.1, 1, uint64(aggregates-1))
			next[w] = func() int { return int(z.Uint64()) }
		}
	}
	return func(worker, _ int) int { return next[worker]() }
}

// runCommands runs one command per call of handle, from callers goroutines for
// env.Duration, each command on the aggregate pick chooses. handle returns the
// failed attempts it retried.
func runCommands(env *Env, callers int, pick Picker, handle func(worker, aggregate, i int) (retries int, err error)) (Sample, error) {
	return runFor(callers, env.Duration, func(w, i int) (int, int, error) {
		r, err := handle(w, pick(w, i), i)
		if err != nil {
			return 0, r, err
		}
		return 1, r, nil
	})
}

// parallel calls fn(0) .. fn(n-1) in n goroutines and joins their errors.
func parallel(n int, fn func(w int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for w := range n {
		wg.Go(func() { errs[w] = fn(w) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
