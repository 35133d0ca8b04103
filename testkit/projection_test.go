package testkit_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/sqlitetarget"
	"github.com/idemkit/idem/testkit"
)

func invoiceTotals(handle func(ctx context.Context, tx *sqlitetarget.Tx, e projection.Event) error) projection.Projection[*sqlitetarget.Tx] {
	return projection.Projection[*sqlitetarget.Tx]{
		Name: "invoice_totals", Version: 1, Tables: []string{"invoice_totals"},
		Setup: func(ctx context.Context, tx *sqlitetarget.Tx) error {
			_, err := tx.Exec(ctx, `CREATE TABLE {invoice_totals} (invoice TEXT PRIMARY KEY, lines INTEGER NOT NULL, total INTEGER NOT NULL)`)
			return err
		},
		Handle: handle,
	}
}

func addLine(ctx context.Context, tx *sqlitetarget.Tx, e projection.Event) error {
	var amount int
	if _, err := fmt.Sscanf(string(e.Data), "%d", &amount); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO {invoice_totals} (invoice, lines, total) VALUES (?, 1, ?)
		ON CONFLICT (invoice) DO UPDATE SET lines = lines + 1, total = total + excluded.total`, e.Stream, amount)
	return err
}

func line(amount int) eventstore.EventData {
	return eventstore.EventData{Type: "LineAdded", Data: fmt.Appendf(nil, "%d", amount)}
}

func TestProjectionScenario(t *testing.T) {
	testkit.Projection(t, invoiceTotals(addLine)).
		Given("invoice-1", line(100), line(50)).
		Given("invoice-2", line(7)).
		Given("invoice-1", line(1)).
		ThenQuery(`SELECT invoice, lines, total FROM invoice_totals ORDER BY invoice`,
			[]any{"invoice-1", 3, 151}, []any{"invoice-2", 1, 7}).
		Then(func(t testkit.T, db *sql.DB) {
			var n int
			if err := db.QueryRow(`SELECT count(*) FROM invoice_totals`).Scan(&n); err != nil || n != 2 {
				t.Errorf("count = %d, %v", n, err)
			}
		})
}

// fakeT records failures instead of failing the test.
type fakeT struct {
	*testing.T
	errors []string
}

func (f *fakeT) Errorf(format string, args ...any) {
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

func (f *fakeT) expect(t *testing.T, substr string) {
	t.Helper()
	for _, e := range f.errors {
		if strings.Contains(e, substr) {
			return
		}
	}
	t.Fatalf("want a failure containing %q, got %q", substr, f.errors)
}

func TestProjectionScenarioReportsWrongAssertion(t *testing.T) {
	f := &fakeT{T: t}
	testkit.Projection(f, invoiceTotals(addLine)).
		Given("invoice-1", line(100)).
		ThenQuery(`SELECT invoice, total FROM invoice_totals`, []any{"invoice-1", 99})
	f.expect(t, "want: (invoice-1, 99)")
}

// A handler that behaves differently in a rebuild breaks G9: the scenario says so.
func TestProjectionScenarioCatchesRebuildDifference(t *testing.T) {
	f := &fakeT{T: t}
	sloppy := func(ctx context.Context, tx *sqlitetarget.Tx, e projection.Event) error {
		if e.Mode == projection.Rebuild {
			return nil // forgets the event
		}
		return addLine(ctx, tx, e)
	}
	testkit.Projection(f, invoiceTotals(sloppy)).
		Given("invoice-1", line(100)).
		Then(func(testkit.T, *sql.DB) {})
	f.expect(t, "blue/green rebuild gave a different read model")
}

// A handler that depends on something other than the events (here a counter of
// calls) gives a different read model from scratch: the scenario says so.
func TestProjectionScenarioCatchesNondeterminism(t *testing.T) {
	f := &fakeT{T: t}
	var calls atomic.Int64
	impure := func(ctx context.Context, tx *sqlitetarget.Tx, e projection.Event) error {
		_, err := tx.Exec(ctx, `INSERT INTO {invoice_totals} (invoice, lines, total) VALUES (?, 1, ?)
			ON CONFLICT (invoice) DO UPDATE SET lines = lines + 1`, e.Stream, calls.Add(1))
		return err
	}
	testkit.Projection(f, invoiceTotals(impure)).
		Given("invoice-1", line(100)).
		Then(func(testkit.T, *sql.DB) {})
	f.expect(t, "different read model")
}
