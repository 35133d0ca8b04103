// Command idem inspects and operates an idem event store and its read model:
// streams, the commands each aggregate processed, projections and their parked
// events, reservation claims. It runs the commands of package ops that need no
// application code; rebuild and reconcile run the application's projections and
// live in the application's own binary. See docs/operations.md.
//
//	idem --store events.db streams --category invoice
//	idem --store events.db --read events.db.read projections
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/idemkit/idem/ops"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd, err := ops.Command()
	if err != nil {
		fmt.Fprintf(os.Stderr, "idem: %v\n", err)
		os.Exit(ops.ExitFailure)
	}
	code := ops.Execute(ctx, cmd, os.Args[1:])
	stop()
	os.Exit(code)
}
