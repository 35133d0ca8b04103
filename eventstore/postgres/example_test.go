package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

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

// Open with the options a service usually sets. (Compiled, not run.)
func ExampleOpen() {
	ctx := context.Background()
	store, err := postgres.Open(ctx, "postgres://app@db.internal:5432/orders?sslmode=verify-full&pool_max_conns=8",
		postgres.WithSchema("orders_events"),   // default "idem"
		postgres.WithTimeout(10*time.Second),   // bound of one append batch and of a wait for a connection
		postgres.WithMaxBatch(256),             // appends per group-commit transaction; 1 disables it
		postgres.WithPollInterval(time.Second), // fallback when a NOTIFY is lost
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
}

// New uses a pool the application owns. (Compiled, not run.)
func ExampleNew() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("IDEM_POSTGRES_URL"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Close()
	// or, on a pool the application owns (Close leaves it open):
	store, err := postgres.New(ctx, pool, postgres.WithSchema("orders_events"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
}

// The store finds events by id and keeps snapshots beside them: the command
// handler uses both by default. Here by hand. (Compiled, not run.)
func ExampleStore_FindEvent() {
	ctx := context.Background()
	store, err := postgres.Open(ctx, os.Getenv("IDEM_POSTGRES_URL"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	id := uuid.New()
	if _, err := store.Append(ctx, "order-1", eventstore.NoStream(), eventstore.EventData{ID: id, Type: "OrderPlaced"}); err != nil {
		fmt.Println(err)
		return
	}
	e, err := store.FindEvent(ctx, "order-1", id) // one index seek, however long the stream
	fmt.Println(e.Revision, err)
	_, err = store.FindEvent(ctx, "order-1", uuid.New())
	fmt.Println(errors.Is(err, eventstore.ErrEventNotFound))

	err = store.SaveSnapshot(ctx, eventstore.Snapshot{Stream: "order-1", Revision: 0, Data: []byte(`{"placed":true}`), TakenAt: time.Now()})
	snap, _ := store.LoadSnapshot(ctx, "order-1")
	fmt.Println(err, snap.Revision, string(snap.Data))
}
