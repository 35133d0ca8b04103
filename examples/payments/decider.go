package payments

import (
	"fmt"

	"github.com/idemkit/idem/aggregate"
)

// Category is the stream category of payments: a payment's stream is
// "payment-" + its id.
const Category = "payment"

// Decider is the payment aggregate for the command handler and the testkit.
var Decider = aggregate.Decider[State]{
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

// NewCodec returns a codec with every payments event and command registered.
func NewCodec() (*aggregate.Codec, error) {
	c := aggregate.NewCodec()
	if err := Register(c); err != nil {
		return nil, err
	}
	return c, nil
}

// Register registers the payments events and commands in c, so that one codec can
// serve several domains.
func Register(c *aggregate.Codec) error {
	for _, err := range []error{
		aggregate.Register[Authorized](c, TypeAuthorized),
		aggregate.Register[Captured](c, TypeCaptured),
		aggregate.Register[Refunded](c, TypeRefunded),
		aggregate.Register[Voided](c, TypeVoided),
		aggregate.Register[Authorize](c, TypeAuthorize),
		aggregate.Register[Capture](c, TypeCapture),
		aggregate.Register[Refund](c, TypeRefund),
		aggregate.Register[Void](c, TypeVoid),
	} {
		if err != nil {
			return fmt.Errorf("register payments types: %w", err)
		}
	}
	return nil
}
