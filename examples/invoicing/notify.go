package invoicing

import (
	"context"
	"fmt"

	"github.com/idemkit/idem/projection"
)

// Notifier returns the reactor that mails the customer once per issued invoice
// (G10). It passes the event id, the reactor event's IdempotencyKey, to the
// mailer: if the process dies after the mail went out and before the reactor's
// checkpoint moved, the restarted reactor asks again with the same key and the
// provider sends nothing more. A rebuild never runs it.
func Notifier(m Mailer) projection.Reactor {
	return projection.Reactor{
		Name:           "invoice_notifications",
		EventTypes:     []string{TypeInvoiceIssued},
		StreamPrefixes: []string{Category + "-"},
		Handle: func(ctx context.Context, e projection.ReactorEvent) error {
			inv, err := decodeIssued(e.Data)
			if err != nil {
				return err
			}
			return m.Send(ctx, Mail{
				IdempotencyKey: e.IdempotencyKey,
				To:             inv.Customer + "@example.com",
				Subject:        fmt.Sprintf("Invoice %s: %d %s", inv.Number, inv.Amount, inv.Currency),
				Invoice:        inv.Number,
			})
		},
	}
}
