package main

import (
	"errors"
	"sync"
	"testing"
	"time"
)

func TestPercentileIsNearestRank(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 100; i++ {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	for q, want := range map[float64]time.Duration{0.5: 50 * time.Millisecond, 0.95: 95 * time.Millisecond, 0.99: 99 * time.Millisecond} {
		if got := percentile(lat, q); got != want {
			t.Errorf("percentile(%v) = %v, want %v", q, got, want)
		}
	}
}

func TestSummarizeTakesMedianAndSpreadOverRuns(t *testing.T) {
	samples := []Sample{
		{Ops: 100, Elapsed: time.Second, Retries: 50},
		{Ops: 300, Elapsed: time.Second},
		{Ops: 200, Elapsed: time.Second, Retries: 200},
	}
	r := summarize("k", "cmd/s", samples)
	if r.Median != 200 || r.Min != 100 || r.Max != 300 {
		t.Fatalf("median/min/max = %v/%v/%v, want 200/100/300", r.Median, r.Min, r.Max)
	}
	if got := r.Spread(); got != 1 {
		t.Errorf("spread = %v, want 1 ((300-100)/200)", got)
	}
	if r.RetriesPerOp != 0.5 {
		t.Errorf("retries per op = %v, want the median 0.5", r.RetriesPerOp)
	}
}

func TestSummarizeReportsPeakRSSForMemoryWorkloads(t *testing.T) {
	r := summarize("k", "bytes", []Sample{{Ops: 10, Elapsed: time.Second, PeakRSS: 5 << 20}})
	if r.Median != 5<<20 {
		t.Fatalf("median = %v, want the peak RSS %v", r.Median, 5<<20)
	}
}

// Distinct callers must never share an aggregate: P2's "distinct aggregates" and
// the revision bookkeeping of the raw baselines rely on it.
func TestDistinctPickerGivesEachCallerItsOwnAggregates(t *testing.T) {
	for _, callers := range []int{1, 4, 64, 256} {
		pick := newPicker("distinct", callers, 1000)
		owner := map[int]int{}
		for w := range callers {
			for i := range 50 {
				a := pick(w, i)
				if a < 0 || a >= 1000 {
					t.Fatalf("callers=%d: aggregate %d out of range", callers, a)
				}
				if o, ok := owner[a]; ok && o != w {
					t.Fatalf("callers=%d: aggregate %d picked by callers %d and %d", callers, a, o, w)
				}
				owner[a] = w
			}
		}
		if callers == 1 && len(owner) != 50 {
			t.Errorf("one caller visited %d aggregates in 50 commands, want round robin over 50", len(owner))
		}
	}
}

func TestZipfPickerConcentratesOnHotAggregates(t *testing.T) {
	pick := newPicker("zipf", 1, 1000)
	hot := 0
	for i := range 10_000 {
		if pick(0, i) < 10 {
			hot++
		}
	}
	if hot < 4000 {
		t.Errorf("the 10 hottest of 1000 aggregates took %d of 10000 commands, want about half", hot)
	}
}

func TestRunForCountsUnitsAndStopsOnError(t *testing.T) {
	s, err := runFor(2, 20*time.Millisecond, func(_, _ int) (int, int, error) { return 3, 1, nil })
	if err != nil {
		t.Fatal(err)
	}
	if s.Ops != 3*len(s.Latencies) || s.Retries != len(s.Latencies) || s.Ops == 0 {
		t.Fatalf("ops %d, retries %d for %d calls", s.Ops, s.Retries, len(s.Latencies))
	}
	boom := errors.New("boom")
	var mu sync.Mutex
	calls := 0
	_, err = runFor(1, time.Minute, func(_, _ int) (int, int, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return 0, 0, boom
	})
	if !errors.Is(err, boom) || calls != 1 {
		t.Fatalf("err %v after %d calls, want boom after 1", err, calls)
	}
}
