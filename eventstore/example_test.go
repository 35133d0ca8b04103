package eventstore_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/memory"
)

// Example appends with Exact, as a command handler does, and matches the typed
// conflict that a concurrent writer causes (G1).
func Example() {
	ctx := context.Background()
	var store eventstore.Store = memory.New()
	defer store.Close()

	placed := eventstore.EventData{ID: uuid.New(), Type: "OrderPlaced", Data: []byte(`{"total":100}`)}
	res, err := store.Append(ctx, "order-42", eventstore.NoStream(), placed)
	if err != nil {
		fmt.Println(err)
		return
	}

	// Two writers loaded the order at the same revision; the first one wins.
	paid := eventstore.EventData{ID: uuid.New(), Type: "OrderPaid"}
	cancelled := eventstore.EventData{ID: uuid.New(), Type: "OrderCancelled"}
	if _, err := store.Append(ctx, "order-42", eventstore.Exact(res.Revision), paid); err != nil {
		fmt.Println(err)
		return
	}
	_, err = store.Append(ctx, "order-42", eventstore.Exact(res.Revision), cancelled)

	fmt.Println(errors.Is(err, eventstore.ErrWrongExpectedRevision))
	var conflict *eventstore.WrongExpectedRevisionError
	if errors.As(err, &conflict) {
		fmt.Println("expected:", conflict.Expected, "actual:", conflict.Actual)
	}
	fmt.Println(err)
	// Output:
	// true
	// expected: revision 0 actual: revision 1
	// append to order-42 expecting revision 0: wrong expected revision: actual revision 1
}

// ExampleParsePosition stores a checkpoint as text and reads it back.
func ExampleParsePosition() {
	checkpoint := eventstore.Position{Commit: 1042, Prepare: 1040}
	text := checkpoint.String()
	back, err := eventstore.ParsePosition(text)
	fmt.Println(text, back == checkpoint, err)

	_, err = eventstore.ParsePosition("not a position")
	fmt.Println(errors.Is(err, eventstore.ErrInvalidPosition))
	// Output:
	// 1042/1040 true <nil>
	// true
}
