package faults_test

import (
	"testing"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/memory"
	"github.com/idemkit/idem/eventstore/storetest"
	"github.com/idemkit/idem/testkit/faults"
)

// A wrapper whose rules never fire must be invisible: it passes the same
// conformance suite as the store it wraps.
func TestWrapperWithoutFaultsConforms(t *testing.T) {
	storetest.Run(t, func(t *testing.T) eventstore.Store {
		s := faults.Wrap(memory.New(), faults.LostAck(faults.Never()), faults.FailReadAfter(0, faults.Never()))
		t.Cleanup(func() { _ = s.Close() })
		return s
	}, storetest.Concurrency(8, 2), storetest.SubscriptionLoad(2, 5))
}
