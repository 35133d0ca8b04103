package command_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/idemkit/idem/aggregate"
	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore/memory"
)

// An aggregate's processed set, read from its stream: what an operator asks when
// wondering whether a message was processed twice.
func ExampleProcessed() {
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
	h, err := command.NewHandler(store, accountDecider(), codec)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, id := range []string{"msg-1", "msg-2", "msg-1"} { // msg-1 delivered twice
		_, _ = h.Handle(ctx, cmd{ID: id, AggregateID: "acc-1", Payload: Deposit{Amount: 10}})
	}

	for rec, err := range command.Processed(ctx, store, "account-acc-1") {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(rec.ID, rec.Outcome(), rec.FirstRevision, len(rec.Events))
	}
	_, err = command.FindProcessed(ctx, store, "account-acc-1", "msg-3")
	fmt.Println(errors.Is(err, command.ErrCommandNotFound))
	// Output:
	// msg-1 applied 0 1
	// msg-2 applied 1 1
	// true
}
