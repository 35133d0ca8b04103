package payments_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore/memory"
	"github.com/idemkit/idem/examples/payments"
)

// A capture delivered twice, then repeated by the provider's webhook under
// another id, then misused with another amount: the money moves once, and the
// misuse is loud.
func Example() {
	ctx := context.Background()
	codec, err := payments.NewCodec()
	if err != nil {
		fmt.Println(err)
		return
	}
	h, err := command.NewHandler(memory.New(), payments.Decider, codec)
	if err != nil {
		fmt.Println(err)
		return
	}

	send := func(id string, payload payments.Command) {
		res, err := h.Handle(ctx, command.Command[payments.Command]{ID: id, AggregateID: "pay-1", Payload: payload})
		switch {
		case errors.Is(err, payments.ErrReferenceReused):
			fmt.Printf("%-14s refused: reference reused with another amount\n", id)
		case err != nil:
			fmt.Printf("%-14s error: %v\n", id, err)
		case res.Duplicate:
			fmt.Printf("%-14s duplicate by %s, nothing written\n", id, res.DuplicateBy)
		default:
			fmt.Printf("%-14s applied, stream at revision %d\n", id, res.Revision)
		}
	}
	send("authorize", payments.Authorize{Customer: "c-1", Amount: 10_000, Currency: "EUR"})
	send("capture-1", payments.Capture{Reference: "cap-1", Amount: 4_000})
	send("capture-1", payments.Capture{Reference: "cap-1", Amount: 4_000})
	send("webhook/cap-1", payments.Capture{Reference: "cap-1", Amount: 4_000})
	send("capture-1b", payments.Capture{Reference: "cap-1", Amount: 5_000})

	payment, _ := h.Load(ctx, "pay-1")
	fmt.Printf("captured %d of %d\n", payment.State.Captured, payment.State.Authorized)
	// Output:
	// authorize      applied, stream at revision 0
	// capture-1      applied, stream at revision 1
	// capture-1      duplicate by command id, nothing written
	// webhook/cap-1  duplicate by business key, nothing written
	// capture-1b     refused: reference reused with another amount
	// captured 4000 of 10000
}
