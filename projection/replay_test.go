package projection_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/backend"
	"github.com/idemkit/idem/projection"
)

// The same range replayed twice, and one stream replayed alone, change nothing: the
// per-stream guard skips what was applied (G8).
func TestProjectionReplayTwiceChangesNothing(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	tg := openTarget(t, "rm.db")
	db := tg.DB()
	want := workload(t, ctx, store, 5, 1000, 25)
	r := newRunner(t, store, tg, opts(projection.WithCatchUpBatchSize(100)), ledger(1))
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	before := dump(t, db, "balances", "entries")
	from, to := backend.SequencePosition(200), backend.SequencePosition(700)
	for i := range 2 {
		res, err := r.ReplayRange(ctx, "ledger", from, to)
		if err != nil {
			t.Fatal(err)
		}
		if res.Applied != 0 || res.Skipped != 500 {
			t.Fatalf("replay %d of a range: %+v, want 500 skipped", i+1, res)
		}
	}
	res, err := r.ReplayStream(ctx, "ledger", "acct-007")
	if err != nil {
		t.Fatal(err)
	}
	if res.Applied != 0 || res.Skipped != uint64(want["acct-007"][0]) {
		t.Fatalf("replay of one stream: %+v, want %d skipped", res, want["acct-007"][0])
	}
	if after := dump(t, db, "balances", "entries"); after != before {
		t.Fatal("the read model changed after replays")
	}
	checkExactlyOnce(t, db, want)
}

// A replay that reaches past the checkpoint applies the new events once; the runner
// then skips them.
func TestProjectionReplayPastCheckpoint(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	tg := openTarget(t, "rm.db")
	db := tg.DB()
	want := workload(t, ctx, store, 6, 300, 10)
	r := newRunner(t, store, tg, opts(projection.WithCatchUpBatchSize(50)), ledger(1))
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if _, err := store.Append(ctx, "acct-new", eventstore.Any(), amountEvent(uuid.New(), 5)); err != nil {
			t.Fatal(err)
		}
	}
	want["acct-new"] = [2]int64{20, 100}
	res, err := r.ReplayStream(ctx, "ledger", "acct-new")
	if err != nil || res.Applied != 20 {
		t.Fatalf("replay: %+v %v, want 20 applied", res, err)
	}
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, db, want)
	if st := statsOf(r, "ledger"); st.Skipped != 20 || st.Checkpoint != head(t, store) {
		t.Fatalf("stats %+v, want the 20 replayed events skipped by the runner", st)
	}
}

// Replays go to the generations built by the runner's version only, and need one.
func TestReplayNeedsAGenerationOfItsVersion(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	tg := openTarget(t, "rm.db")
	workload(t, ctx, store, 7, 20, 2)
	r1 := newRunner(t, store, tg, nil, ledger(1))
	if _, err := r1.ReplayStream(ctx, "ledger", "acct-000"); !errors.Is(err, projection.ErrUnknownProjection) {
		t.Fatalf("replay before the first run: %v, want ErrUnknownProjection", err)
	}
	if err := r1.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	r2 := newRunner(t, store, tg, nil, ledger(2))
	if _, err := r2.ReplayStream(ctx, "ledger", "acct-000"); !errors.Is(err, projection.ErrVersionMismatch) {
		t.Fatalf("replay by version 2 into version 1's generation: %v, want ErrVersionMismatch", err)
	}
	if _, err := r1.ReplayStream(ctx, "acct", "acct-000"); !errors.Is(err, projection.ErrUnknownProjection) {
		t.Fatalf("replay into a projection not added: %v", err)
	}
}
