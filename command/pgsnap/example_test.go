package pgsnap_test

import (
	"context"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idemkit/idem/aggregate"
	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/command/pgsnap"
	"github.com/idemkit/idem/eventstore/esdb"
)

// Events in EventStoreDB, snapshots in PostgreSQL. (Compiled, not run: it needs
// both servers.)
func Example() {
	ctx := context.Background()
	store, err := esdb.Open(ctx, "esdb://localhost:2113?tls=false")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	pool, err := pgxpool.New(ctx, os.Getenv("IDEM_POSTGRES_URL"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Close()
	decider, codec := counter()

	snaps, err := pgsnap.New(ctx, pool, pgsnap.WithSchema("snapshots"))
	if err != nil {
		fmt.Println(err)
		return
	}
	h, err := command.NewHandler(store, decider, codec, command.WithSnapshots(snaps))
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := h.Handle(ctx, command.Command[add]{ID: "c-1", AggregateID: "x", Payload: add{N: 1}})
	fmt.Println(res.Revision, err)
}

func counter() (aggregate.Decider[int, add, added], *aggregate.Codec[add, added]) {
	codec, _ := aggregate.NewCodec[add, added](aggregate.Command[add]("counter.Add"), aggregate.Event[added]("counter.Added"))
	return aggregate.Decider[int, add, added]{
		Category: "counter",
		Initial:  func() int { return 0 },
		Evolve:   func(s int, e added) int { return s + e.N },
		Decide:   func(_ int, c add) ([]added, error) { return []added{added(c)}, nil },
	}, codec
}
