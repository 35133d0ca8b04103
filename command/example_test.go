package command_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/idemkit/idem/aggregate"
	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore/memory"
)

// A command delivered twice changes the aggregate once; the same id with another
// payload fails loudly.
func Example() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()

	codec, err := aggregate.NewCodec[AccountCommand, AccountEvent](
		aggregate.Command[Deposit]("account.Deposit"),
		aggregate.Event[Deposited]("account.Deposited"),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	h, err := command.NewHandler(store, accountDecider(), codec, command.WithCache(1024))
	if err != nil {
		fmt.Println(err)
		return
	}

	c := cmd{ID: "msg-1", AggregateID: "acc-1", Payload: Deposit{Amount: 10}}
	first, _ := h.Handle(ctx, c)
	again, _ := h.Handle(ctx, c) // redelivered
	fmt.Println(first.Revision, first.Duplicate, again.Revision, again.Duplicate, again.Events[0].ID == first.Events[0].ID)

	_, err = h.Handle(ctx, cmd{ID: "msg-1", AggregateID: "acc-1", Payload: Deposit{Amount: 99}})
	fmt.Println(err != nil && errors.Is(err, command.ErrIdempotencyKeyReused))

	acc, _ := h.Load(ctx, "acc-1")
	s := h.Stats()
	fmt.Println(acc.State.Balance, acc.Revision, acc.Exists, s.Applied, s.DuplicatesByID, s.KeyReused)
	// Output:
	// 0 false 0 true true
	// true
	// 10 0 true 1 1 1
}
