package main

import (
	"slices"
	"testing"
)

func TestEveryWorkloadKeyIsUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, w := range allWorkloads(defaultConfig()) {
		if seen[w.Key] {
			t.Errorf("workload %s registered twice", w.Key)
		}
		seen[w.Key] = true
	}
}

// A figure and its baseline run next to each other in a round, so a busy moment
// on a shared machine slows both.
func TestPairsRunNextToEachOther(t *testing.T) {
	cfg := defaultConfig()
	var keys []string
	for _, w := range allWorkloads(cfg) {
		keys = append(keys, w.Key)
	}
	for _, pair := range [][2]string{
		{"raw/revcheck/FULL", "idem/P1/FULL"},
		{"raw/revcheck/NORMAL", "idem/P1/NORMAL"},
		{"raw/grouped/c16", "idem/P2/distinct/c16"},
		{"raw/scan", "idem/P4/count"},
		{"raw/stream1000", "idem/P5/load"},
	} {
		i, j := slices.Index(keys, pair[0]), slices.Index(keys, pair[1])
		if i < 0 || j != i+1 {
			t.Errorf("%s at %d, %s at %d: want adjacent", pair[0], i, pair[1], j)
		}
	}
}

func TestEveryComparisonNamesRegisteredWorkloads(t *testing.T) {
	keys := map[string]bool{}
	for _, w := range allWorkloads(defaultConfig()) {
		keys[w.Key] = true
		for _, k := range w.Side {
			keys[k] = true
		}
	}
	for _, c := range comparisons() {
		for _, k := range append([]string{c.Idem, c.Base}, c.Peers...) {
			if k != "" && !keys[k] {
				t.Errorf("comparison %q names %s, which no workload measures", c.Workload, k)
			}
		}
	}
}
