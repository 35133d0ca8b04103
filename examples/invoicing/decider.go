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
var Decider = aggregate.Decider[State, IssueInvoice, InvoiceIssued]{
	Category: Category,
	Initial:  Initial,
	Evolve:   Evolve,
	Decide:   Decide,
	Keys:     Keys,
}

// NumberKey returns the reservation key of an invoice number.
func NumberKey(number string) string { return "invoice-number/" + number }

// Keys lists the uniqueness keys an IssueInvoice claims: its number.
func Keys(c IssueInvoice) []string { return []string{NumberKey(c.Number)} }

// NewCodec returns the invoicing codec: its event and command under their stored
// names.
func NewCodec() (*aggregate.Codec[IssueInvoice, InvoiceIssued], error) {
	c, err := aggregate.NewCodec[IssueInvoice, InvoiceIssued](
		aggregate.Event[InvoiceIssued](TypeInvoiceIssued),
		aggregate.Command[IssueInvoice](TypeIssueInvoice),
	)
	if err != nil {
		return nil, fmt.Errorf("invoicing codec: %w", err)
	}
	return c, nil
}
