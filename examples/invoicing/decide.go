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
	// ErrUnknownCommand: the payload is not an invoicing command.
	ErrUnknownCommand = errors.New("invoicing: unknown command")
)

// Decide issues the invoice once. A second IssueInvoice for an issued invoice,
// whatever its number candidate, is the same business fact and returns
// aggregate.AlreadyDone (a duplicate by business key, G5).
func Decide(s State, cmd any) ([]any, error) {
	var c IssueInvoice
	switch v := cmd.(type) {
	case IssueInvoice:
		c = v
	case *IssueInvoice:
		c = *v
	default:
		return nil, fmt.Errorf("%w: %T", ErrUnknownCommand, cmd)
	}
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
	return []any{InvoiceIssued(c)}, nil
}

// Evolve applies one event. It is pure.
func Evolve(s State, event any) State {
	if e, ok := event.(InvoiceIssued); ok {
		s.Issued, s.InvoiceIssued = true, e
	}
	return s
}
