package delivery_test

import (
	"context"
	"fmt"
	"sync"

	"github.com/idemkit/idem/testkit/delivery"
)

// Deliver five payments to three consumers with duplicates, reordering, replays
// and races. An idempotent consumer books each payment once; the report says how
// much redelivery it absorbed.
func ExampleRun() {
	payments := []string{"pay-1", "pay-2", "pay-3", "pay-4", "pay-5"}
	plan := delivery.Plan{Seed: 1, DuplicateRate: 0.4, ReorderWindow: 2, ReplayRate: 0.1, RaceRate: 0.2}

	var mu sync.Mutex
	booked := map[string]bool{}
	report := delivery.Run(context.Background(), plan, payments, 3, func(_ context.Context, _ int, id string) error {
		mu.Lock()
		defer mu.Unlock()
		booked[id] = true // idempotent: booking twice changes nothing
		return nil
	})
	fmt.Println("booked:", len(booked))
	fmt.Println("complete:", report.Complete())
	fmt.Println("redelivered at least once:", report.Redelivered > 0)
	// Output:
	// booked: 5
	// complete: true
	// redelivered at least once: true
}
