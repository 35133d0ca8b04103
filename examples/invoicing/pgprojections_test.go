package invoicing_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore/memory"
	"github.com/idemkit/idem/eventstore/postgres/pgtest"
	"github.com/idemkit/idem/examples/invoicing"
	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/pgtarget"
)

// TestReadModelsOnPostgreSQL: the PostgreSQL twins of the read models hold the
// same rows as the SQLite ones (TestReadModelsAndNotifications), on a real server.
func TestReadModelsOnPostgreSQL(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	store := memory.New()
	h := newHandler(t, store)
	for _, m := range []invoicing.ShipmentCompleted{
		shipment,
		{MessageID: "carrier-1", ShipmentRef: "FSR-1", Customer: "c-1", Amount: 12_500, Currency: "EUR"},
		{MessageID: "warehouse-2", ShipmentRef: "FSR-2", Customer: "c-1", Amount: 500, Currency: "EUR"},
		{MessageID: "warehouse-3", ShipmentRef: "FSR-3", Customer: "c-2", Amount: 700, Currency: "USD"},
	} {
		if _, err := h.Handle(ctx, command.Command[invoicing.IssueInvoice]{ID: m.CommandID(0), AggregateID: invoicing.InvoiceID(m.ShipmentRef), Payload: m.Command(0)}); err != nil {
			t.Fatal(err)
		}
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	schema := pgtest.Schema(t)
	target, err := pgtarget.New(pool, pgtarget.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	r, err := projection.NewRunner(store, target)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{r.Add(invoicing.InvoicesPerCustomerPostgres()), r.Add(invoicing.RevenueTotalsPostgres())} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	var invoices, amount, eur int64
	if err := pool.QueryRow(ctx, `SELECT invoices, amount FROM `+pgx.Identifier{schema, invoicing.CustomerInvoicesTable}.Sanitize()+
		` WHERE customer = 'c-1'`).Scan(&invoices, &amount); err != nil {
		t.Fatal(err)
	}
	if invoices != 2 || amount != 13_000 {
		t.Errorf("customer c-1: %d invoices, %d, want 2 and 13000", invoices, amount)
	}
	if err := pool.QueryRow(ctx, `SELECT invoiced FROM `+pgx.Identifier{schema, invoicing.RevenueTable}.Sanitize()+
		` WHERE currency = 'EUR'`).Scan(&eur); err != nil {
		t.Fatal(err)
	}
	if eur != 13_000 {
		t.Errorf("EUR revenue %d, want 13000", eur)
	}
}
