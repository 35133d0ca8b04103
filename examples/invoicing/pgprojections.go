package invoicing

import (
	"context"

	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/pgtarget"
)

// InvoicesPerCustomerPostgres is InvoicesPerCustomer for read models in
// PostgreSQL (projection/pgtarget): the same name, tables, filters and rows, in
// PostgreSQL's SQL.
func InvoicesPerCustomerPostgres() projection.Projection[*pgtarget.Tx] {
	return projection.Projection[*pgtarget.Tx]{
		Name:           "invoices_per_customer",
		Version:        1,
		Tables:         []string{CustomerInvoicesTable},
		EventTypes:     []string{TypeInvoiceIssued},
		StreamPrefixes: []string{Category + "-"},
		Setup: func(ctx context.Context, tx *pgtarget.Tx) error {
			_, err := tx.Exec(ctx, `CREATE TABLE {customer_invoices} (
				customer text PRIMARY KEY, invoices bigint NOT NULL, amount bigint NOT NULL)`)
			return err
		},
		Handle: func(ctx context.Context, tx *pgtarget.Tx, e projection.Event) error {
			inv, err := decodeIssued(e.Data)
			if err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `INSERT INTO {customer_invoices} AS c (customer, invoices, amount) VALUES ($1, 1, $2)
				ON CONFLICT (customer) DO UPDATE SET invoices = c.invoices + 1, amount = c.amount + excluded.amount`,
				inv.Customer, inv.Amount)
			return err
		},
	}
}

// RevenueTotalsPostgres is RevenueTotals for read models in PostgreSQL.
func RevenueTotalsPostgres() projection.Projection[*pgtarget.Tx] {
	return projection.Projection[*pgtarget.Tx]{
		Name:           "revenue_totals",
		Version:        1,
		Tables:         []string{RevenueTable},
		EventTypes:     []string{TypeInvoiceIssued},
		StreamPrefixes: []string{Category + "-"},
		Setup: func(ctx context.Context, tx *pgtarget.Tx) error {
			_, err := tx.Exec(ctx, `CREATE TABLE {revenue} (
				currency text PRIMARY KEY, invoices bigint NOT NULL, invoiced bigint NOT NULL)`)
			return err
		},
		Handle: func(ctx context.Context, tx *pgtarget.Tx, e projection.Event) error {
			inv, err := decodeIssued(e.Data)
			if err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `INSERT INTO {revenue} AS r (currency, invoices, invoiced) VALUES ($1, 1, $2)
				ON CONFLICT (currency) DO UPDATE SET invoices = r.invoices + 1, invoiced = r.invoiced + excluded.invoiced`,
				inv.Currency, inv.Amount)
			return err
		},
	}
}
