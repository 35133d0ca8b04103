package postgres_test

import (
	"testing"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/postgres"
	"github.com/idemkit/idem/eventstore/postgres/pgtest"
	"github.com/idemkit/idem/eventstore/storetest"
)

// The suite's optional groups, FindEvent and Snapshots, skip for a store that
// lacks the interface: these make sure they run here.
var (
	_ eventstore.EventFinder   = (*postgres.Store)(nil)
	_ eventstore.SnapshotStore = (*postgres.Store)(nil)
)

// TestStore runs the whole conformance suite, with exact outcomes (Written and
// Replayed, never OutcomeUnknown), against a fresh schema per subtest on a real
// server.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) eventstore.Store { return pgtest.Open(t) })
}
