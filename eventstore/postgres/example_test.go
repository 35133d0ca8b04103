package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/google/uuid"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/postgres"
)

// Example opens a store in its own schema, appends with an expected revision,
// retries the same append (a lost acknowledgement) and reads the stream back. It
// is compiled, not run: it needs a server (IDEM_POSTGRES_URL).
func Example() {
	ctx := context.Background()
	store, err := postgres.Open(ctx, os.Getenv("IDEM_POSTGRES_URL"), postgres.WithSchema("orders_events"))
	if errors.Is(err, eventstore.ErrUnavailable) {
		fmt.Println("server unreachable, try again later:", err)
		return
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()

	placed := eventstore.EventData{ID: uuid.New(), Type: "OrderPlaced", Data: []byte(`{"total":42}`)}
	res, err := store.Append(ctx, "order-1", eventstore.NoStream(), placed)
	if err != nil {
		fmt.Println(err)
		return
	}
	again, _ := store.Append(ctx, "order-1", eventstore.NoStream(), placed) // G2: the same ids again
	fmt.Println(res.Outcome, again.Outcome, again.Position == res.Position)

	_, err = store.Append(ctx, "order-1", eventstore.NoStream(), eventstore.EventData{ID: uuid.New(), Type: "OrderPlaced"})
	var conflict *eventstore.WrongExpectedRevisionError
	if errors.As(err, &conflict) {
		fmt.Println("conflict: the stream is at", conflict.Actual)
	}
	for e, err := range store.ReadStream(ctx, "order-1", 0) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(e.Revision, e.Type, string(e.Data))
	}
}
