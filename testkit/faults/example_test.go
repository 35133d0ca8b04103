package faults_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/memory"
	"github.com/idemkit/idem/testkit/faults"
)

// A store whose first append is written but reported as failed: the caller
// retries with the same event id, and the store answers with the original result.
func ExampleWrap() {
	ctx := context.Background()
	store := faults.Wrap(memory.New(), faults.LostAck(faults.Once()))

	e := eventstore.EventData{ID: uuid.MustParse("8a7f4a52-77f7-4bb4-9a51-0b7d2b8c1e01"), Type: "OrderPlaced", Data: []byte(`{}`)}
	_, err := store.Append(ctx, "order-1", eventstore.NoStream(), e)
	fmt.Println(err)
	fmt.Println("unavailable:", errors.Is(err, eventstore.ErrUnavailable))

	res, err := store.Append(ctx, "order-1", eventstore.NoStream(), e)
	fmt.Println("retry:", res.Revision, err)
	fmt.Println("lost acks:", store.Stats().LostAcks)
	// Output:
	// append to order-1 expecting no stream: injected fault lost-ack on append call 1 (the append was written): event store unavailable
	// unavailable: true
	// retry: 0 <nil>
	// lost acks: 1
}
