package invoicing

import (
	"fmt"

	"github.com/idemkit/idem/aggregate"
)

// Category is the stream category of invoices: an invoice's stream is
// "invoice-" + InvoiceID(shipment reference).
const Category = "invoice"

// Type names as stored; part of the stored format.
const (
	TypeInvoiceIssued = "invoicing.InvoiceIssued"
	TypeIssueInvoice  = "invoicing.IssueInvoice"
)

// Decider is the invoice aggregate. Its Keys claim the invoice number (G5).
var Decider = aggregate.Decider[State]{
	Category: Category,
	Initial:  Initial,
	Evolve:   Evolve,
	Decide:   Decide,
	Keys:     Keys,
}

// NumberKey returns the reservation key of an invoice number.
func NumberKey(number string) string { return "invoice-number/" + number }

// Keys lists the uniqueness keys an IssueInvoice claims: its number.
func Keys(cmd any) []string {
	switch c := cmd.(type) {
	case IssueInvoice:
		return []string{NumberKey(c.Number)}
	case *IssueInvoice:
		return []string{NumberKey(c.Number)}
	}
	return nil
}

// NewCodec returns a codec with the invoicing event and command registered.
func NewCodec() (*aggregate.Codec, error) {
	c := aggregate.NewCodec()
	if err := Register(c); err != nil {
		return nil, err
	}
	return c, nil
}

// Register registers the invoicing event and command in c.
func Register(c *aggregate.Codec) error {
	if err := aggregate.Register[InvoiceIssued](c, TypeInvoiceIssued); err != nil {
		return fmt.Errorf("register invoicing types: %w", err)
	}
	if err := aggregate.Register[IssueInvoice](c, TypeIssueInvoice); err != nil {
		return fmt.Errorf("register invoicing types: %w", err)
	}
	return nil
}
