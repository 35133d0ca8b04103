package invoicing_test

import (
	"context"
	"fmt"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore/memory"
	"github.com/idemkit/idem/examples/invoicing"
)

// One shipment reported by the warehouse (twice) and by the carrier: one invoice.
func Example() {
	ctx := context.Background()
	codec, err := invoicing.NewCodec()
	if err != nil {
		fmt.Println(err)
		return
	}
	h, err := command.NewHandler(memory.New(), invoicing.Decider, codec)
	if err != nil {
		fmt.Println(err)
		return
	}

	warehouse := invoicing.ShipmentCompleted{MessageID: "warehouse-77", ShipmentRef: "FSR-2026-000077",
		Customer: "acme", Amount: 12_500, Currency: "EUR"}
	carrier := warehouse
	carrier.MessageID = "carrier-9f3"

	for _, m := range []invoicing.ShipmentCompleted{warehouse, warehouse, carrier} {
		res, err := h.Handle(ctx, command.Command[invoicing.IssueInvoice]{
			ID:          m.CommandID(0),
			AggregateID: invoicing.InvoiceID(m.ShipmentRef), // keyed identity: one stream per shipment
			Payload:     m.Command(0),
		})
		switch {
		case err != nil:
			fmt.Println(m.MessageID, "error:", err)
		case res.Duplicate:
			fmt.Printf("%-12s duplicate by %s\n", m.MessageID, res.DuplicateBy)
		default:
			fmt.Printf("%-12s invoice issued\n", m.MessageID)
		}
	}
	invoice, _ := h.Load(ctx, invoicing.InvoiceID(warehouse.ShipmentRef))
	fmt.Println(invoice.State.ShipmentRef, invoice.State.Customer, invoice.State.Amount, invoice.State.Currency)
	// Output:
	// warehouse-77 invoice issued
	// warehouse-77 duplicate by command id
	// carrier-9f3  duplicate by business key
	// FSR-2026-000077 acme 12500 EUR
}
