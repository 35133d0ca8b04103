package invoicing

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/sqlitetarget"
)

// Read-model tables, as readers name them (views kept by the projection runner).
const (
	// CustomerInvoicesTable: customer, invoices, amount (per customer, all currencies).
	CustomerInvoicesTable = "customer_invoices"
	// RevenueTable: currency, invoices, invoiced.
	RevenueTable = "revenue"
)

// InvoicesPerCustomer is the read model of invoices per customer: how many
// invoices each customer has and their total amount. Each InvoiceIssued is applied
// once, in the transaction that moves the checkpoint (G8).
func InvoicesPerCustomer() projection.Projection[*sqlitetarget.Tx] {
	return projection.Projection[*sqlitetarget.Tx]{
		Name:           "invoices_per_customer",
		Version:        1,
		Tables:         []string{CustomerInvoicesTable},
		EventTypes:     []string{TypeInvoiceIssued},
		StreamPrefixes: []string{Category + "-"},
		Setup: func(ctx context.Context, tx *sqlitetarget.Tx) error {
			_, err := tx.Exec(ctx, `CREATE TABLE {customer_invoices} (
				customer TEXT PRIMARY KEY, invoices INTEGER NOT NULL, amount INTEGER NOT NULL)`)
			return err
		},
		Handle: func(ctx context.Context, tx *sqlitetarget.Tx, e projection.Event) error {
			inv, err := decodeIssued(e.Data)
			if err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `INSERT INTO {customer_invoices} (customer, invoices, amount) VALUES (?, 1, ?)
				ON CONFLICT (customer) DO UPDATE SET invoices = invoices + 1, amount = amount + excluded.amount`,
				inv.Customer, inv.Amount)
			return err
		},
	}
}

// RevenueTotals is the read model of invoiced revenue per currency.
func RevenueTotals() projection.Projection[*sqlitetarget.Tx] {
	return projection.Projection[*sqlitetarget.Tx]{
		Name:           "revenue_totals",
		Version:        1,
		Tables:         []string{RevenueTable},
		EventTypes:     []string{TypeInvoiceIssued},
		StreamPrefixes: []string{Category + "-"},
		Setup: func(ctx context.Context, tx *sqlitetarget.Tx) error {
			_, err := tx.Exec(ctx, `CREATE TABLE {revenue} (
				currency TEXT PRIMARY KEY, invoices INTEGER NOT NULL, invoiced INTEGER NOT NULL)`)
			return err
		},
		Handle: func(ctx context.Context, tx *sqlitetarget.Tx, e projection.Event) error {
			inv, err := decodeIssued(e.Data)
			if err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `INSERT INTO {revenue} (currency, invoices, invoiced) VALUES (?, 1, ?)
				ON CONFLICT (currency) DO UPDATE SET invoices = invoices + 1, invoiced = invoiced + excluded.invoiced`,
				inv.Currency, inv.Amount)
			return err
		},
	}
}

// decodeIssued decodes an InvoiceIssued event's data. Projections read the JSON
// directly: the type filter already said what it is.
func decodeIssued(data []byte) (InvoiceIssued, error) {
	var inv InvoiceIssued
	if err := json.Unmarshal(data, &inv); err != nil {
		return inv, fmt.Errorf("decode %s: %w", TypeInvoiceIssued, err)
	}
	return inv, nil
}
