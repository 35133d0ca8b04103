package faults

import "math"

// Schedule decides whether a rule fires on its call number n (1-based: the first
// call the rule applies to is 1). A Schedule must be a pure function of n so that
// runs are repeatable; every constructor in this package returns one.
type Schedule func(n uint64) bool

// Always fires on every call.
func Always() Schedule { return func(uint64) bool { return true } }

// Never fires on no call; a rule with it only counts calls.
func Never() Schedule { return func(uint64) bool { return false } }

// Once fires on the first call only.
func Once() Schedule { return OnCalls(1) }

// EveryNth fires on calls n, 2n, 3n, ...; n <= 0 never fires.
func EveryNth(n int) Schedule {
	if n <= 0 {
		return Never()
	}
	return func(call uint64) bool { return call%uint64(n) == 0 }
}

// After fires on every call after the first n (on call n+1 and later).
func After(n int) Schedule {
	return func(call uint64) bool { return n < 0 || call > uint64(n) }
}

// FirstN fires on the first n calls, then never again.
func FirstN(n int) Schedule {
	return func(call uint64) bool { return n > 0 && call <= uint64(n) }
}

// OnCalls fires on exactly the listed call numbers (1-based).
func OnCalls(calls ...int) Schedule {
	set := make(map[uint64]struct{}, len(calls))
	for _, c := range calls {
		if c > 0 {
			set[uint64(c)] = struct{}{}
		}
	}
	return func(call uint64) bool {
		_, ok := set[call]
		return ok
	}
}

// Probability fires on each call with probability p (clamped to [0, 1]). Whether
// call n fires depends only on seed and n, so the same seed faults the same call
// numbers in every run, whatever the goroutines' interleaving.
func Probability(p float64, seed uint64) Schedule {
	switch {
	case math.IsNaN(p) || p <= 0:
		return Never()
	case p >= 1:
		return Always()
	}
	return func(call uint64) bool { return unitFloat(seed, call) < p }
}

// unitFloat maps (seed, n) to a float in [0, 1) with splitmix64.
func unitFloat(seed, n uint64) float64 {
	z := seed + (n+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11) / (1 << 53)
}
