package demo

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/memory"
	"github.com/idemkit/idem/examples/invoicing"
	"github.com/idemkit/idem/reservation"
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
		meta := command.Metadata{CommandID: cmdID, Fingerprint: "x", Count: 1}.Encode()
		_, err := store.Append(ctx, stream, eventstore.NoStream(), eventstore.EventData{
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

// TestVerifyChecksTheNumberReservationOfEachInvoice proves the "number
// reservations" check accepts a claim joined by the invoice's writer (its
// CommandID then names the other path's command) and reports a number freed under
// its invoice: the symptom of a losing command withdrawing the claim the winner
// wrote, whether the number was then left free, taken by another invoice, or
// claimed again by another command of the same invoice.
func TestVerifyChecksTheNumberReservationOfEachInvoice(t *testing.T) {
	const number = "INV-00042"
	for _, tc := range []struct {
		name    string
		claims  func(ctx context.Context, r *reservation.Reservations, owner string) error
		violate bool
	}{
		{"claimed by the writer", func(ctx context.Context, r *reservation.Reservations, owner string) error {
			_, err := r.Claim(ctx, invoicing.Category, invoicing.NumberKey(number), reservation.Claimant{Owner: owner, CommandID: "warehouse"})
			return err
		}, false},
		{"claimed by the other path, joined by the writer", func(ctx context.Context, r *reservation.Reservations, owner string) error {
			_, err1 := r.Claim(ctx, invoicing.Category, invoicing.NumberKey(number), reservation.Claimant{Owner: owner, CommandID: "carrier"})
			_, err2 := r.Claim(ctx, invoicing.Category, invoicing.NumberKey(number), reservation.Claimant{Owner: owner, CommandID: "warehouse"})
			return errors.Join(err1, err2)
		}, false},
		{"never claimed", func(context.Context, *reservation.Reservations, string) error { return nil }, true},
		{"freed after the write", func(ctx context.Context, r *reservation.Reservations, owner string) error {
			_, err1 := r.Claim(ctx, invoicing.Category, invoicing.NumberKey(number), reservation.Claimant{Owner: owner, CommandID: "warehouse"})
			err2 := r.Release(ctx, invoicing.Category, invoicing.NumberKey(number), owner)
			return errors.Join(err1, err2)
		}, true},
		{"freed, then taken by another invoice", func(ctx context.Context, r *reservation.Reservations, owner string) error {
			_, err1 := r.Claim(ctx, invoicing.Category, invoicing.NumberKey(number), reservation.Claimant{Owner: owner, CommandID: "warehouse"})
			err2 := r.Release(ctx, invoicing.Category, invoicing.NumberKey(number), owner)
			_, err3 := r.Claim(ctx, invoicing.Category, invoicing.NumberKey(number), reservation.Claimant{Owner: invoicing.Category + "-other", CommandID: "other"})
			return errors.Join(err1, err2, err3)
		}, true},
		{"freed, then claimed again by another command of the invoice", func(ctx context.Context, r *reservation.Reservations, owner string) error {
			_, err1 := r.Claim(ctx, invoicing.Category, invoicing.NumberKey(number), reservation.Claimant{Owner: owner, CommandID: "warehouse"})
			err2 := r.Release(ctx, invoicing.Category, invoicing.NumberKey(number), owner)
			_, err3 := r.Claim(ctx, invoicing.Category, invoicing.NumberKey(number), reservation.Claimant{Owner: owner, CommandID: "carrier"})
			return errors.Join(err1, err2, err3)
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			store := memory.New()
			wl := Generate(3, 20, 0, 0)
			ref := sortedKeys(wl.Expected.Shipments)[0]
			ship := wl.Expected.Shipments[ref]
			stream := invoicing.Category + "-" + invoicing.InvoiceID(ref)
			r, err := reservation.New(store)
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.claims(ctx, r, stream); err != nil {
				t.Fatal(err)
			}
			inv := invoicing.InvoiceIssued{ShipmentRef: ref, Customer: ship.Customer, Amount: ship.Amount, Currency: ship.Currency, Number: number}
			data, _ := json.Marshal(inv)
			meta := command.Metadata{CommandID: "warehouse", Fingerprint: "x", Count: 1}.Encode()
			if _, err := store.Append(ctx, stream, eventstore.NoStream(), eventstore.EventData{
				ID: command.EventID(stream, "warehouse", 0), Type: invoicing.TypeInvoiceIssued, Data: data, Metadata: meta}); err != nil {
				t.Fatal(err)
			}

			rep := &Report{}
			rep.Broker.outcomes = map[int]map[string]int{}
			if err := verify(ctx, DefaultConfig(), store, wl, wl.Messages, rep); err != nil {
				t.Fatal(err)
			}
			if got := rep.broken("number reservations"); got != tc.violate {
				t.Errorf("number reservations reported: %v, want %v; violations %v", got, tc.violate, rep.Violations)
			}
			if rep.broken("unique invoice numbers", "keyed identity", "invoice content") {
				t.Errorf("unexpected violations: %v", rep.Violations)
			}
		})
	}
}
