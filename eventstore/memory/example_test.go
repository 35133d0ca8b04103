package memory_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/memory"
)

// Example appends to a stream, retries the same append as after a lost
// acknowledgement, meets a conflict, and reads the stream back.
func Example() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()

	opened := eventstore.EventData{ID: uuid.New(), Type: "AccountOpened", Data: []byte(`{"owner":"ada"}`)}
	res, err := store.Append(ctx, "account-1", eventstore.NoStream(), opened)
	fmt.Println("opened at revision", res.Revision, err)

	// A retry with the same ids writes nothing and returns the original result (G2).
	again, err := store.Append(ctx, "account-1", eventstore.NoStream(), opened)
	fmt.Println("retry returns the original result:", again.Revision == res.Revision, again.Outcome, err)

	// Another writer that expects the stream not to exist loses (G1).
	other := eventstore.EventData{ID: uuid.New(), Type: "AccountOpened"}
	_, err = store.Append(ctx, "account-1", eventstore.NoStream(), other)
	var conflict *eventstore.WrongExpectedRevisionError
	if errors.As(err, &conflict) {
		fmt.Println("conflict, actual", conflict.Actual)
	}

	deposited := eventstore.EventData{ID: uuid.New(), Type: "MoneyDeposited", Data: []byte(`{"amount":100}`)}
	if _, err := store.Append(ctx, "account-1", eventstore.Exact(res.Revision), deposited); err != nil {
		fmt.Println(err)
	}
	for ev, err := range store.ReadStream(ctx, "account-1", 0) {
		if err != nil {
			fmt.Println(err)
			break
		}
		fmt.Println(ev.Revision, ev.Type, string(ev.Data))
	}
	// Output:
	// opened at revision 0 <nil>
	// retry returns the original result: true replayed <nil>
	// conflict, actual revision 0
	// 0 AccountOpened {"owner":"ada"}
	// 1 MoneyDeposited {"amount":100}
}
