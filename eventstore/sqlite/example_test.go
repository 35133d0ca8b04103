package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/sqlite"
)

func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "idem-example")
	defer os.RemoveAll(dir)

	store, err := sqlite.Open(ctx, filepath.Join(dir, "events.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()

	opened := eventstore.EventData{ID: uuid.New(), Type: "AccountOpened", Data: []byte(`{"owner":"ada"}`)}
	res, err := store.Append(ctx, "account-42", eventstore.NoStream(), opened)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("appended at revision", res.Revision)

	// A retry of the same append (same ids, same expected revision) writes nothing
	// and returns the original result (G2).
	again, err := store.Append(ctx, "account-42", eventstore.NoStream(), opened)
	fmt.Println("retry is the same append:", err == nil && again.Revision == res.Revision, again.Outcome)

	// Another writer that believed the stream was new is refused (G1).
	_, err = store.Append(ctx, "account-42", eventstore.NoStream(),
		eventstore.EventData{ID: uuid.New(), Type: "AccountOpened"})
	fmt.Println(err)

	deposited := eventstore.EventData{ID: uuid.New(), Type: "MoneyDeposited", Data: []byte(`{"amount":100}`)}
	if _, err := store.Append(ctx, "account-42", eventstore.Exact(res.Revision), deposited); err != nil {
		fmt.Println(err)
		return
	}
	for e, err := range store.ReadStream(ctx, "account-42", 0) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(e.Revision, e.Type, string(e.Data))
	}
	// Output:
	// appended at revision 0
	// retry is the same append: true replayed
	// append to account-42 expecting no stream: wrong expected revision: actual revision 0
	// 0 AccountOpened {"owner":"ada"}
	// 1 MoneyDeposited {"amount":100}
}

// Open with its settings spelled out; each value here is the default.
func ExampleOpen() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "idem-example")
	defer os.RemoveAll(dir)

	store, err := sqlite.Open(ctx, filepath.Join(dir, "app.db"),
		sqlite.WithSynchronous(sqlite.Full),           // FULL: an acknowledged append survives a power loss
		sqlite.WithBusyTimeout(5*time.Second),         // how long to wait for another process's write lock
		sqlite.WithPollInterval(100*time.Millisecond), // how often subscriptions look for other processes' appends
		sqlite.WithMaxBatch(256),                      // appends per group-commit transaction; 1 disables it
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	fmt.Println("opened")
	// Output: opened
}
