package demo

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"maps"
)

// ReadModels is the content of the two read models, as readers see them.
type ReadModels struct {
	Customers map[string]CustomerRow
	Revenue   map[string]RevenueRow
}

// Equal reports whether two read models hold the same rows.
func (r ReadModels) Equal(o ReadModels) bool {
	return maps.Equal(r.Customers, o.Customers) && maps.Equal(r.Revenue, o.Revenue)
}

// readModels reads the read models through their views.
func readModels(ctx context.Context, db *sql.DB) (ReadModels, error) {
	rm := ReadModels{Customers: map[string]CustomerRow{}, Revenue: map[string]RevenueRow{}}
	rows, err := db.QueryContext(ctx, `SELECT customer, invoices, amount FROM customer_invoices`)
	if err != nil {
		return rm, fmt.Errorf("demo: read invoices per customer: %w", err)
	}
	for rows.Next() {
		var c CustomerRow
		if err := rows.Scan(&c.Customer, &c.Invoices, &c.Amount); err != nil {
			rows.Close()
			return rm, fmt.Errorf("demo: read invoices per customer: %w", err)
		}
		rm.Customers[c.Customer] = c
	}
	rows.Close()
	rows, err = db.QueryContext(ctx, `SELECT currency, invoices, invoiced FROM revenue`)
	if err != nil {
		return rm, fmt.Errorf("demo: read revenue totals: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r RevenueRow
		if err := rows.Scan(&r.Currency, &r.Invoices, &r.Invoiced); err != nil {
			return rm, fmt.Errorf("demo: read revenue totals: %w", err)
		}
		rm.Revenue[r.Currency] = r
	}
	return rm, rows.Err()
}

// mailKeys returns the sent mails' idempotency keys, each with its invoice.
func mailKeys(ctx context.Context, db *sql.DB) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT idempotency_key, invoice FROM mail_sent`)
	if err != nil {
		return nil, fmt.Errorf("demo: read sent mail: %w", err)
	}
	defer rows.Close()
	keys := map[string]string{}
	for rows.Next() {
		var k, inv string
		if err := rows.Scan(&k, &inv); err != nil {
			return nil, fmt.Errorf("demo: read sent mail: %w", err)
		}
		keys[k] = inv
	}
	return keys, rows.Err()
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
