package storetest

import (
	"testing"
	"time"

	"github.com/idemkit/idem/eventstore"
)

// Factory returns a new, empty store for one test. It registers the store's cleanup
// itself (t.Cleanup), which must tolerate a store the test has already closed.
type Factory func(t *testing.T) eventstore.Store

// Option adjusts the suite to the backend under test.
type Option func(*config)

type config struct {
	maxAppendSize  int
	goroutines     int
	rounds         int
	writers        int
	appendsEach    int
	timeout        time.Duration
	clockTolerance time.Duration
	// unknownOutcomes: the backend reports eventstore.OutcomeUnknown for every
	// append (it cannot tell a write from a recognised retry).
	unknownOutcomes bool
}

func defaultConfig() config {
	return config{
		maxAppendSize:  eventstore.DefaultMaxAppendSize,
		goroutines:     32,
		rounds:         5,
		writers:        8,
		appendsEach:    15,
		timeout:        10 * time.Second,
		clockTolerance: time.Minute,
	}
}

// MaxAppendSize tells the suite the limit the store was configured with, so the size
// tests probe just under and just over it. The default is
// eventstore.DefaultMaxAppendSize.
func MaxAppendSize(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxAppendSize = n
		}
	}
}

// Concurrency sets how many goroutines race in the concurrency tests (default 32) and
// how many rounds the Exact race runs (default 5). Remote backends may lower them;
// each round writes one event.
func Concurrency(goroutines, rounds int) Option {
	return func(c *config) {
		if goroutines >= 2 {
			c.goroutines = goroutines
		}
		if rounds >= 1 {
			c.rounds = rounds
		}
	}
}

// SubscriptionLoad sets how many writers append concurrently while a subscription
// catches up (default 8) and how many appends each makes (default 15). Each append
// is a separate commit, so on a durable store each costs a sync.
func SubscriptionLoad(writers, appendsEach int) Option {
	return func(c *config) {
		if writers >= 1 {
			c.writers = writers
		}
		if appendsEach >= 1 {
			c.appendsEach = appendsEach
		}
	}
}

// Timeout bounds every wait of the suite for a subscription (default 10s). Raise it
// for slow remote backends.
func Timeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// ClockTolerance is how far an event's RecordedAt may be from the test's clock
// (default one minute): raise it for a remote server whose clock drifts.
func ClockTolerance(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.clockTolerance = d
		}
	}
}

// UnknownOutcomes tells the suite that the backend cannot tell a write from a
// recognised retry and reports eventstore.OutcomeUnknown for every append, as
// EventStoreDB's protocol forces. Every other backend must report Written and
// Replayed exactly, and the suite checks it.
func UnknownOutcomes() Option { return func(c *config) { c.unknownOutcomes = true } }

// Run runs the conformance suite against the stores factory makes, one fresh store
// per subtest. Subtests are grouped (Append, Idempotency, Concurrency, ReadStream,
// ReadAll, Subscribe, Context, Input, RoundTrip, Close, and for stores that
// implement them FindEvent, Snapshots and Streams), so one group can be run with -run, e.g.
// go test -run 'TestStore/Idempotency'.
func Run(t *testing.T, factory func(t *testing.T) eventstore.Store, opts ...Option) {
	t.Helper()
	cfg := defaultConfig()
	for _, opt := range opts {
		if opt != nil {
			opt(&cfg)
		}
	}
	groups := []struct {
		name  string
		cases []testCase
	}{
		{"Append", appendCases},
		{"Idempotency", idempotencyCases},
		{"Concurrency", concurrencyCases},
		{"ReadStream", readStreamCases},
		{"ReadAll", readAllCases},
		{"Subscribe", subscribeCases},
		{"Context", contextCases},
		{"Input", inputCases},
		{"RoundTrip", roundTripCases},
		{"Close", closeCases},
		{"FindEvent", finderCases},
		{"Snapshots", snapshotCases},
		{"Streams", streamsCases},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					c.run(newEnv(t, factory, cfg))
				})
			}
		})
	}
}

// testCase is one conformance test, run against a fresh store.
type testCase struct {
	name string
	run  func(e *env)
}
