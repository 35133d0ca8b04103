package projection_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/projection"
)

// TestLagCountsWhatTheProjectionWants: Lag counts the events of the projection's
// types after a position, not the others, caps at the lag limit, and touches no
// target (the runner's target has no bookkeeping afterwards).
func TestLagCountsWhatTheProjectionWants(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	for i := range 30 {
		typ := "Amount"
		if i%3 == 0 {
			typ = "Other"
		}
		if _, err := store.Append(ctx, "acct-1", eventstore.Any(), eventstore.EventData{ID: uuid.New(), Type: typ, Data: []byte(`{"Amount":1}`)}); err != nil {
			t.Fatal(err)
		}
	}
	p := ledger(1)
	p.EventTypes = []string{"Amount"}
	tg := openTarget(t, "read.db")
	r := newRunner(t, store, tg, opts(projection.WithLagLimit(15)), p)
	n, capped, err := r.Lag(ctx, "ledger", eventstore.Position{Commit: 12, Prepare: 12})
	if err != nil || n != 12 || capped {
		t.Fatalf("lag after 12: %d (capped %v, %v), want 12 of the 18 events after it", n, capped, err)
	}
	n, capped, err = r.Lag(ctx, "ledger", eventstore.Start())
	if err != nil || n != 15 || !capped {
		t.Fatalf("lag from the start: %d (capped %v, %v), want the limit, capped", n, capped, err)
	}
	if _, _, err := r.Lag(ctx, "nope", eventstore.Start()); !errors.Is(err, projection.ErrUnknownProjection) {
		t.Fatalf("unknown name: %v", err)
	}
	var tables int
	if err := tg.DB().QueryRow(`SELECT count(*) FROM sqlite_master WHERE name LIKE 'idem_%'`).Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("%d bookkeeping tables (%v): Lag must not touch the target", tables, err)
	}
}
