package invoicing_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore/memory"
	"github.com/idemkit/idem/examples/invoicing"
	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/sqlitetarget"
)

// Two invoices, then the revenue read model built from the log in SQLite.
func Example_readModel() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "idem-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	store := memory.New()
	codec, err := invoicing.NewCodec()
	if err != nil {
		fmt.Println(err)
		return
	}
	h, err := command.NewHandler(store, invoicing.Decider, codec)
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, amount := range []int64{12_500, 500} {
		m := invoicing.ShipmentCompleted{MessageID: fmt.Sprint("m-", i), ShipmentRef: fmt.Sprint("FSR-", i),
			Customer: "acme", Amount: amount, Currency: "EUR"}
		if _, err := h.Handle(ctx, command.Command[invoicing.IssueInvoice]{ID: m.CommandID(0),
			AggregateID: invoicing.InvoiceID(m.ShipmentRef), Payload: m.Command(0)}); err != nil {
			fmt.Println(err)
			return
		}
	}

	target, err := sqlitetarget.Open(ctx, filepath.Join(dir, "read.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer target.Close()
	runner, err := projection.NewRunner(store, target)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := runner.Add(invoicing.RevenueTotals()); err != nil {
		fmt.Println(err)
		return
	}
	if err := runner.CatchUp(ctx); err != nil { // a service calls Run: catch up, then live until ctx ends
		fmt.Println(err)
		return
	}

	var invoices, invoiced int64
	err = target.DB().QueryRowContext(ctx, `SELECT invoices, invoiced FROM revenue WHERE currency = 'EUR'`).Scan(&invoices, &invoiced)
	fmt.Println(invoices, invoiced, err)
	// Output: 2 13000 <nil>
}
