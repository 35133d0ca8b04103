package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/sqlite"
	"github.com/idemkit/idem/eventstore/storetest"
)

// TestStore runs the conformance suite against a fresh file per subtest, with the
// default synchronous=FULL.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) eventstore.Store {
		return openTemp(t)
	})
}

// openTemp opens a store in a new file of t's temporary directory and closes it when
// the test ends.
func openTemp(t testing.TB, opts ...sqlite.Option) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), opts...)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
