package invoicing

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/idemkit/idem/aggregate"
)

// ShipmentCompleted is the integration message that starts the flow. MessageID is
// the transport's id: the same shipment may arrive from two paths (the warehouse
// and the carrier) with different message ids. ShipmentRef is the fiscal shipment
// reference, the business key of the invoice.
type ShipmentCompleted struct {
	MessageID   string `json:"message_id"`
	ShipmentRef string `json:"shipment_ref"`
	Customer    string `json:"customer"`
	Amount      int64  `json:"amount"`
	Currency    string `json:"currency"`
}

// IssueInvoice is the command that bills one shipment with the proposed Number.
type IssueInvoice struct {
	ShipmentRef string `json:"shipment_ref"`
	Customer    string `json:"customer"`
	Amount      int64  `json:"amount"`
	Currency    string `json:"currency"`
	Number      string `json:"number"`
}

// InvoiceIssued records an issued invoice. Its fields are IssueInvoice's.
type InvoiceIssued struct {
	ShipmentRef string `json:"shipment_ref"`
	Customer    string `json:"customer"`
	Amount      int64  `json:"amount"`
	Currency    string `json:"currency"`
	Number      string `json:"number"`
}

// State is an invoice folded from its events; the zero State has not been issued.
type State struct {
	Issued bool
	InvoiceIssued
}

// Initial returns the state of an invoice with no events.
func Initial() State { return State{} }

// NumberSeriesSize is the size of the invoice number series: numbers run from
// INV-00000 to INV-99999. It is small on purpose, so that two shipments proposing
// the same number happens and the reservation has work to do.
const NumberSeriesSize = 100_000

// NumberCandidate returns the attempt-th invoice number proposed for a shipment
// (attempt 0 first). It depends only on its arguments, so every delivery of the
// same shipment proposes the same numbers in the same order: a retry after a crash
// between claiming a number and writing the invoice finds its own claim (G5).
func NumberCandidate(shipmentRef string, attempt int) string {
	// SHA-256 rather than FNV: FNV's low digits spread sequential references
	// poorly, so short demo runs would never see two shipments propose one number.
	sum := sha256.Sum256([]byte(shipmentRef))
	n := (binary.BigEndian.Uint64(sum[:8]) + uint64(attempt)) % NumberSeriesSize
	return fmt.Sprintf("INV-%05d", n)
}

// InvoiceID returns the aggregate id of the invoice of a shipment: a keyed
// identity over the fiscal shipment reference (see the package doc).
func InvoiceID(shipmentRef string) string { return aggregate.KeyedID(Category, shipmentRef) }

// Command returns the IssueInvoice a message asks for, with the attempt-th
// number candidate.
func (m ShipmentCompleted) Command(attempt int) IssueInvoice {
	return IssueInvoice{
		ShipmentRef: m.ShipmentRef,
		Customer:    m.Customer,
		Amount:      m.Amount,
		Currency:    m.Currency,
		Number:      NumberCandidate(m.ShipmentRef, attempt),
	}
}

// CommandID returns the command id of the attempt-th IssueInvoice for a message:
// the message id, with the attempt appended after the first. Every delivery of a
// message gives the same ids; two paths give two ids (and meet in the invoice's
// stream by business key instead).
func (m ShipmentCompleted) CommandID(attempt int) string {
	if attempt == 0 {
		return m.MessageID
	}
	return m.MessageID + "#" + strconv.Itoa(attempt)
}
