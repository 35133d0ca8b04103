package invoicing

import (
	"errors"
	"fmt"

	"github.com/idemkit/idem/aggregate"
)

// Domain errors; match with errors.Is.
var (
	// ErrInvalidInvoice: a field of IssueInvoice is missing or the amount is not
	// positive.
	ErrInvalidInvoice = errors.New("invoicing: invalid invoice")
)

// Decide issues the invoice once. A second IssueInvoice for an issued invoice,
// whatever its number candidate, is the same business fact and returns
// aggregate.AlreadyDone (a duplicate by business key, G5). The aggregate has one
// command and one event, so the decider uses the types themselves.
func Decide(s State, c IssueInvoice) ([]InvoiceIssued, error) {
	if s.Issued {
		return nil, aggregate.AlreadyDone("shipment " + s.ShipmentRef)
	}
	switch {
	case c.ShipmentRef == "":
		return nil, fmt.Errorf("issue invoice: %w: no shipment reference", ErrInvalidInvoice)
	case c.Customer == "":
		return nil, fmt.Errorf("issue invoice for %s: %w: no customer", c.ShipmentRef, ErrInvalidInvoice)
	case c.Number == "":
		return nil, fmt.Errorf("issue invoice for %s: %w: no number", c.ShipmentRef, ErrInvalidInvoice)
	case c.Amount <= 0:
		return nil, fmt.Errorf("issue invoice for %s of %d: %w: amount must be positive", c.ShipmentRef, c.Amount, ErrInvalidInvoice)
	}
	return []InvoiceIssued{InvoiceIssued(c)}, nil
}

// Evolve applies one event. It is pure.
func Evolve(s State, e InvoiceIssued) State {
	s.Issued, s.InvoiceIssued = true, e
	return s
}
