package payments_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore/sqlite"
	"github.com/idemkit/idem/examples/payments"
)

// A command on SQLite, delivered twice, then once more under the same id with
// another payload: applied once, answered from the stream the second time, and
// refused loudly the third.
func Example_redelivery() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "idem-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	store, err := sqlite.Open(ctx, filepath.Join(dir, "payments.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	codec, err := payments.NewCodec()
	if err != nil {
		fmt.Println(err)
		return
	}
	h, err := command.NewHandler(store, payments.Decider, codec)
	if err != nil {
		fmt.Println(err)
		return
	}

	authorize := command.Command[payments.Command]{
		ID:          "msg-7f3a", // the idempotency key: the message's id, the same on every delivery
		AggregateID: "pay-42",
		Payload:     payments.Authorize{Customer: "c-1", Amount: 10_000, Currency: "EUR"},
	}
	first, err := h.Handle(ctx, authorize)
	if err != nil {
		fmt.Println(err)
		return
	}
	again, err := h.Handle(ctx, authorize) // the broker delivered it again
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(first.Stream, first.Revision, first.Duplicate)
	fmt.Println(again.Stream, again.Revision, again.Duplicate, again.DuplicateBy)

	authorize.Payload = payments.Authorize{Customer: "c-1", Amount: 99_999, Currency: "EUR"}
	_, err = h.Handle(ctx, authorize) // the same id with another payload: loud
	fmt.Println(errors.Is(err, command.ErrIdempotencyKeyReused))
	// Output:
	// payment-pay-42 0 false
	// payment-pay-42 0 true command id
	// true
}
