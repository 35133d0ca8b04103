package esdb_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/google/uuid"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/esdb"
)

// Opening a store on a KurrentDB / EventStoreDB node and appending with an expected
// revision. Not run: it needs a server (see the esdbtest package for an emulated one).
func Example() {
	ctx := context.Background()
	// Insecure single node; for a secure one: "esdb://admin:changeit@host:2113?tlsCAFile=ca.crt".
	store, err := esdb.Open(ctx, "esdb://localhost:2113?tls=false",
		esdb.WithServerMaxAppendSize(256<<20)) // KurrentDB 25.1 and later
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	ev := eventstore.EventData{ID: uuid.New(), Type: "InvoiceIssued", Data: []byte(`{"amount":42}`)}
	_, err = store.Append(ctx, "invoice-42", eventstore.Exact(3), ev)
	var conflict *eventstore.WrongExpectedRevisionError
	if errors.As(err, &conflict) {
		fmt.Println("stream is at", conflict.Actual)
	}
}
