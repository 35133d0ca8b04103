package storetest_test

import (
	"testing"
	"time"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/memory"
	"github.com/idemkit/idem/eventstore/storetest"
)

// conformance is what a backend's test calls: here for the memory store with a small
// size limit, and for a remote backend with a lighter concurrent load and longer
// waits. In a backend's own package it is a func TestConformance(t *testing.T).
func conformance(t *testing.T) {
	const limit = 64 << 10
	storetest.Run(t, func(t *testing.T) eventstore.Store {
		s, err := memory.Open(memory.WithMaxAppendSize(limit))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	},
		storetest.MaxAppendSize(limit),      // the limit the store was built with
		storetest.Concurrency(8, 3),         // 8 goroutines race, for 3 rounds
		storetest.SubscriptionLoad(4, 10),   // 4 writers, 10 appends each
		storetest.Timeout(30*time.Second),   // waits for a remote server
		storetest.ClockTolerance(time.Hour), // a server clock that drifts
	)
}

// ExampleRun shows how a backend runs the conformance suite (see conformance above).
func ExampleRun() {
	_ = conformance
}
