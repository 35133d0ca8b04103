package projection_test

import (
	"context"
	"fmt"

	"github.com/idemkit/idem/projection"
)

// Reconcile builds a shadow copy of a projection from history and compares it
// with the live tables: here a row an operator "fixed" by hand.
func ExampleRunner_Reconcile() {
	ctx := context.Background()
	store, target, cleanup := exampleSetup(ctx)
	defer cleanup()
	r, _ := projection.NewRunner(store, target, quiet)
	r.Add(invoiceTotals(1))
	r.CatchUp(ctx)
	target.DB().Exec(`UPDATE invoice_totals_g1 SET total = 999`) // behind the runner's back

	rep, err := r.Reconcile(ctx, "invoice_totals")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range rep.Tables {
		fmt.Println(t.Table, "missing", t.Missing, "extra", t.Extra, "different", t.Different)
		for _, row := range t.Rows {
			fmt.Println(row.Kind, "live", row.Live, "rebuilt", row.Rebuilt)
		}
	}
	fmt.Println("mismatches:", rep.Mismatches())
	// Output:
	// invoice_totals missing 0 extra 0 different 1
	// different live [invoice-1 999] rebuilt [invoice-1 150]
	// mismatches: 1
}
