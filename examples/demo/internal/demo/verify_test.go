package demo

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/memory"
	"github.com/idemkit/idem/examples/invoicing"
)

// TestVerifyNamesAShipmentInvoicedTwice proves the checker is not vacuous: a
// second invoice for one shipment, under another number, in another stream (what
// a toolkit without keyed identity would write), is reported.
func TestVerifyNamesAShipmentInvoicedTwice(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	wl := Generate(3, 20, 0, 0)
	var ref string
	var ship invoicing.ShipmentCompleted
	for r, s := range wl.Expected.Shipments {
		ref, ship = r, s
		break
	}
	appendInvoice := func(stream, cmdID, number string) {
		inv := invoicing.InvoiceIssued{ShipmentRef: ref, Customer: ship.Customer, Amount: ship.Amount, Currency: ship.Currency, Number: number}
		data, _ := json.Marshal(inv)
		meta, _ := command.Metadata{CommandID: cmdID, Fingerprint: "x", Count: 1}.Encode()
		_, err := store.Append(ctx, stream, eventstore.NoStream, eventstore.EventData{
			ID: command.EventID(stream, cmdID, 0), Type: invoicing.TypeInvoiceIssued, Data: data, Metadata: meta})
		if err != nil {
			t.Fatal(err)
		}
	}
	appendInvoice(invoicing.Category+"-"+invoicing.InvoiceID(ref), "warehouse", "INV-00001")
	appendInvoice(invoicing.Category+"-other", "carrier", "INV-00002")

	rep := &Report{}
	rep.Broker.outcomes = map[int]map[string]int{}
	if err := verify(ctx, DefaultConfig(), store, wl, wl.Messages, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"one invoice per shipment", "keyed identity", "every shipment invoiced", "number reservations", "one notification per invoice"} {
		if !rep.broken(want) {
			t.Errorf("violation %q not reported; got %v", want, rep.Violations)
		}
	}
}
