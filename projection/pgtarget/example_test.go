package pgtarget_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/idemkit/idem/eventstore/postgres"
	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/pgtarget"
)

// The examples need a PostgreSQL server: they are compiled, not run.

// Open a target of its own, in a schema of its own, with a shorter lock timeout.
func ExampleOpen() {
	ctx := context.Background()
	target, err := pgtarget.Open(ctx, os.Getenv("IDEM_POSTGRES_URL"),
		pgtarget.WithSchema("orders_read"),
		pgtarget.WithLockTimeout(5*time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer target.Close()
	fmt.Println(target.Schema())
}

// Read models beside the events: the target on the event store's pool, in a
// schema of its own. Handlers write through Tx: {t} names the physical table of
// logical table t in the generation being written; readers read the view named t.
func ExampleNew() {
	ctx := context.Background()
	store, err := postgres.Open(ctx, os.Getenv("IDEM_POSTGRES_URL"), postgres.WithSchema("orders_events"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()

	target, err := pgtarget.New(store.Pool(), pgtarget.WithSchema("orders_read"))
	if err != nil {
		fmt.Println(err)
		return
	}
	orders := projection.Projection[*pgtarget.Tx]{
		Name:       "orders",
		Version:    1,
		Tables:     []string{"orders"},
		EventTypes: []string{"OrderPlaced"},
		Setup: func(ctx context.Context, tx *pgtarget.Tx) error {
			_, err := tx.Exec(ctx, `CREATE TABLE {orders} (id text PRIMARY KEY, events bigint NOT NULL)`)
			return err
		},
		Handle: func(ctx context.Context, tx *pgtarget.Tx, e projection.Event) error {
			_, err := tx.Exec(ctx, `INSERT INTO {orders} (id, events) VALUES ($1, 1)
				ON CONFLICT (id) DO UPDATE SET events = {orders}.events + 1`, e.Stream)
			return err
		},
	}
	r, err := projection.NewRunner(store, target)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := r.Add(orders); err != nil {
		fmt.Println(err)
		return
	}
	if err := r.CatchUp(ctx); err != nil {
		fmt.Println(err)
		return
	}
	var events int
	err = target.Pool().QueryRow(ctx, `SELECT events FROM orders_read.orders WHERE id = $1`, "order-1").Scan(&events)
	fmt.Println(events, err)
}
