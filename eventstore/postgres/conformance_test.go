package postgres_test

import (
	"testing"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/postgres/pgtest"
	"github.com/idemkit/idem/eventstore/storetest"
)

// TestStore runs the whole conformance suite, with exact outcomes (Written and
// Replayed, never OutcomeUnknown), against a fresh schema per subtest on a real
// server.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) eventstore.Store { return pgtest.Open(t) })
}
