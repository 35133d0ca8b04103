// Package invoicing is an example of idem's business-key guarantees (G5,
// G10): a shipment-completed message leads to exactly one invoice per fiscal
// shipment reference, however often and by however many paths it arrives; every
// invoice number belongs to one invoice; and the customer is notified once per
// invoice.
//
//   - Keyed identity. The invoice's aggregate id is aggregate.KeyedID over the
//     shipment reference, so every message about one shipment meets in one stream,
//     whatever its message id. The first IssueInvoice appends with NoStream; any
//     later one finds the invoice issued and is answered as a duplicate by business
//     key (aggregate.AlreadyDone), with no events.
//   - Reservations. Invoice numbers come from a short series and are proposed from
//     the shipment reference (NumberCandidate), so every delivery of one shipment
//     proposes the same numbers in the same order. The decider's Keys claim the
//     number in a reservation stream before the invoice is written: a number taken
//     by another invoice fails the claim, and the caller proposes the next candidate.
//   - Notifications. Notifier is a projection reactor: for each InvoiceIssued it
//     calls a Mailer with the event id as the idempotency key. MailService is a
//     simulated mail provider that records every request and sends once per key.
//   - Read models. Projections keep invoices per customer and revenue totals in SQL.
package invoicing
