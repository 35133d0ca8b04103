package esdbtest_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/google/uuid"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/esdb"
	"github.com/idemkit/idem/eventstore/esdb/esdbtest"
)

// An emulated EventStoreDB on loopback, driven through idem's esdb backend. In a
// test, esdbtest.Start(t) does the same and closes the server when the test ends.
func Example() {
	srv, err := esdbtest.Listen()
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	ctx := context.Background()
	store, err := esdb.Open(ctx, srv.URL(), esdb.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		panic(err)
	}
	defer store.Close()

	id := uuid.MustParse("0b6e4f8a-3c1d-4e5f-8a9b-0c1d2e3f4a5b")
	paid := eventstore.EventData{ID: id, Type: "PaymentCaptured", Data: []byte(`{"amount":100}`)}
	res, err := store.Append(ctx, "payment-1", eventstore.NoStream(), paid)
	fmt.Println("revision", res.Revision, err)

	// A retry after a lost acknowledgement: same ids, same expected revision.
	again, err := store.Append(ctx, "payment-1", eventstore.NoStream(), paid)
	fmt.Println("retry is the original:", again == res, err, "- events written:", srv.StreamLen("payment-1"))

	// The emulated $all holds system events too; ReadAll leaves them out.
	for e, err := range store.ReadAll(ctx, eventstore.Start()) {
		fmt.Println(e.Stream, e.Type, string(e.Data), err)
	}
	// Output:
	// revision 0 <nil>
	// retry is the original: true <nil> - events written: 1
	// payment-1 PaymentCaptured {"amount":100} <nil>
}
