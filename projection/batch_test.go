package projection_test

import (
	"context"
	"testing"

	"github.com/idemkit/idem/projection"
)

// batchEnds wraps ledger so that each handled event records the checkpoint its
// transaction moves to: the position of its batch's last event.
func batchEnds(ends map[uint64]int) projection.Projection[Tx] {
	p := ledger(1)
	inner := p.Handle
	p.Handle = func(ctx context.Context, tx Tx, e projection.Event) error {
		var end uint64
		if err := tx.QueryRow(ctx, `SELECT commit_pos FROM idem_projection_generations WHERE name = 'ledger'`).Scan(&end); err != nil {
			return err
		}
		ends[end]++
		return inner(ctx, tx, e)
	}
	return p
}

// While catching up, batches are filled to the catch-up batch size (the history is
// there to read), whatever the live batch size says.
func TestCatchUpFillsBatches(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	tg := openTarget(t, "rm.db")
	db := tg.DB()
	want := workload(t, ctx, store, 3, 1000, 10)
	ends := map[uint64]int{}
	r := newRunner(t, store, tg, opts(projection.WithBatchSize(8), projection.WithCatchUpBatchSize(300)), batchEnds(ends))
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, db, want)
	if len(ends) != 4 || ends[300] != 300 || ends[600] != 300 || ends[900] != 300 || ends[1000] != 100 {
		t.Fatalf("events per batch, by batch end: %v, want 300, 300, 300, 100", ends)
	}
}

// Cancelling the runner's context in the middle of a batch rolls the whole batch
// back, although sqlitetarget.Tx runs statements without the driver watching the context: the
// checkpoint and the read model stay in step (G8), and a new run completes them.
func TestCancelMidBatchRollsBack(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	tg := openTarget(t, "rm.db")
	db := tg.DB()
	want := workload(t, ctx, store, 4, 1000, 10)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	p := ledger(1)
	inner := p.Handle
	handled := 0
	p.Handle = func(ctx context.Context, tx Tx, e projection.Event) error {
		if handled++; handled == 450 {
			cancel() // in the second batch
		}
		return inner(ctx, tx, e)
	}
	r := newRunner(t, store, tg, opts(projection.WithCatchUpBatchSize(300)), p)
	if err := r.CatchUp(runCtx); err != nil {
		t.Fatalf("CatchUp after cancel: %v, want nil", err)
	}
	var entries, checkpoint int
	if err := db.QueryRow(`SELECT count(*) FROM entries`).Scan(&entries); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT commit_pos FROM idem_projection_generations WHERE name = 'ledger'`).Scan(&checkpoint); err != nil {
		t.Fatal(err)
	}
	if entries != 300 || checkpoint != 300 {
		t.Fatalf("after cancel mid-batch: %d entries, checkpoint %d; want the first batch only (300, 300)", entries, checkpoint)
	}
	r2 := newRunner(t, store, tg, opts(projection.WithCatchUpBatchSize(300)), ledger(1))
	if err := r2.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, db, want)
}
