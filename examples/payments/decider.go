package payments

import (
	"fmt"

	"github.com/idemkit/idem/aggregate"
)

// Category is the stream category of payments: a payment's stream is
// "payment-" + its id.
const Category = "payment"

// Decider is the payment aggregate for the command handler and the testkit.
var Decider = aggregate.Decider[State, Command, Event]{
	Category: Category,
	Initial:  Initial,
	Evolve:   Evolve,
	Decide:   Decide,
}

// Event and command type names, as stored. They are part of the stored format:
// never rename one without an upcaster.
const (
	TypeAuthorized = "payments.Authorized"
	TypeCaptured   = "payments.Captured"
	TypeRefunded   = "payments.Refunded"
	TypeVoided     = "payments.Voided"

	TypeAuthorize = "payments.Authorize"
	TypeCapture   = "payments.Capture"
	TypeRefund    = "payments.Refund"
	TypeVoid      = "payments.Void"
)

// NewCodec returns the payments codec: every event and command type under its
// stored name.
func NewCodec() (*aggregate.Codec[Command, Event], error) {
	c, err := aggregate.NewCodec[Command, Event](
		aggregate.Event[Authorized](TypeAuthorized),
		aggregate.Event[Captured](TypeCaptured),
		aggregate.Event[Refunded](TypeRefunded),
		aggregate.Event[Voided](TypeVoided),
		aggregate.Command[Authorize](TypeAuthorize),
		aggregate.Command[Capture](TypeCapture),
		aggregate.Command[Refund](TypeRefund),
		aggregate.Command[Void](TypeVoid),
	)
	if err != nil {
		return nil, fmt.Errorf("payments codec: %w", err)
	}
	return c, nil
}
